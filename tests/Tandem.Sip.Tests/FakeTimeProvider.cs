namespace Tandem.Sip.Tests;

/// <summary>
/// Manual clock for tests: time moves only in <see cref="Advance"/>, which fires the timers created
/// through <see cref="CreateTimer"/> in due order, setting the clock to each due time first.
/// </summary>
internal sealed class FakeTimeProvider : TimeProvider
{
    private static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly List<FakeTimer> _timers = [];
    private long _nowTicks;

    public TimeSpan Elapsed => TimeSpan.FromTicks(_nowTicks);

    public double ElapsedMs => Elapsed.TotalMilliseconds;

    public override DateTimeOffset GetUtcNow() => Epoch + Elapsed;

    public override long GetTimestamp() => _nowTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new FakeTimer(this, callback, state);
        timer.Change(dueTime, period);
        _timers.Add(timer);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        var target = _nowTicks + by.Ticks;
        while (NextDue(target) is { } timer)
        {
            _nowTicks = timer.DueTicks!.Value;
            timer.DueTicks = timer.PeriodTicks > 0 ? _nowTicks + timer.PeriodTicks : null;
            timer.Callback(timer.State);
        }

        _nowTicks = target;
    }

    public void AdvanceMs(double milliseconds) => Advance(TimeSpan.FromMilliseconds(milliseconds));

    private FakeTimer? NextDue(long target)
    {
        FakeTimer? next = null;
        foreach (var t in _timers)
        {
            if (t.DueTicks is { } due && due <= target && (next is null || due < next.DueTicks))
            {
                next = t;
            }
        }

        return next;
    }

    private sealed class FakeTimer(FakeTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public TimerCallback Callback { get; } = callback;

        public object? State { get; } = state;

        public long? DueTicks { get; set; }

        public long PeriodTicks { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            DueTicks = dueTime == Timeout.InfiniteTimeSpan ? null : owner._nowTicks + dueTime.Ticks;
            PeriodTicks = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
            return true;
        }

        public void Dispose() => owner._timers.Remove(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
