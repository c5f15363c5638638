namespace Tandem.Sip.Timers;

/// <summary>
/// Hashed timing wheel: every entry hangs in the bucket of its due tick modulo the wheel size, so a
/// tick only looks at one bucket, scheduling and cancelling are O(1), and 100,000+ live timers cost
/// one slab of structs and a single periodic OS timer (STYLE idea 7: one wheel over an injected
/// <see cref="TimeProvider"/>). Entries due more than one revolution ahead stay in their bucket and
/// are skipped until their absolute due tick comes round.
/// </summary>
/// <remarks>
/// Callbacks run on the thread that calls <see cref="Advance"/> (the periodic timer after
/// <see cref="Start"/>), outside the wheel's lock, so they may schedule and cancel freely. A timer
/// never fires early: its due tick is rounded up. A timer scheduled from inside a callback is
/// measured from the tick being fired rather than the wall clock, so a wheel catching up after a
/// stall (or a test advancing fake time in one jump) still reproduces exact schedules.
/// </remarks>
public sealed partial class TimerWheel : IDisposable
{
    private readonly TimeProvider _timeProvider;
    private readonly long _originTimestamp;
    private readonly long _tickTicks;
    private readonly Lock _gate = new();
    private readonly Lock _advanceGate = new();
    private ITimer? _periodic;
    private bool _advancing; // guarded by _advanceGate

    // Last tick whose bucket has been collected; written under _gate.
    private long _currentTick;

    // Set while Advance runs callbacks, so Schedule on that thread can use the firing tick as "now".
    private int _firingThreadId;
    private long _firingTick;

    /// <summary>The clock the wheel runs on, for parts of the transaction layer that keep time alongside it.</summary>
    public TimeProvider TimeProvider => _timeProvider;

    public TimerWheel(TimeProvider timeProvider, TimeSpan tickInterval, int bucketCount = 4096, int initialCapacity = 1024)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(tickInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketCount, 2);
        if (!int.IsPow2(bucketCount))
        {
            throw new ArgumentException("Bucket count must be a power of two.", nameof(bucketCount));
        }

        _timeProvider = timeProvider;
        _tickTicks = tickInterval.Ticks;
        TickInterval = tickInterval;
        _originTimestamp = timeProvider.GetTimestamp();
        InitialiseSlots(bucketCount, Math.Max(initialCapacity, 16));
    }

    public TimeSpan TickInterval { get; }

    /// <summary>Receives exceptions thrown by callbacks; the wheel keeps running either way.</summary>
    public Action<Exception>? CallbackFailed { get; set; }

    /// <summary>Number of timers scheduled and not yet fired or cancelled.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _liveCount;
            }
        }
    }

    /// <summary>Starts the single periodic timer that calls <see cref="Advance"/> every tick.</summary>
    public void Start()
    {
        lock (_gate)
        {
            _periodic ??= _timeProvider.CreateTimer(
                static state => ((TimerWheel)state!).Advance(), this, TickInterval, TickInterval);
        }
    }

    public TimerHandle Schedule(ITimerCallback callback, long tag, TimeSpan delay)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return Insert(callback, null, null, tag, DueTick(delay));
    }

    public TimerHandle Schedule(Action<object?> callback, object? state, TimeSpan delay)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return Insert(null, callback, state, 0, DueTick(delay));
    }

    /// <summary>O(1). False when the handle is stale (already fired, cancelled, or from another wheel).</summary>
    public bool Cancel(TimerHandle handle)
    {
        lock (_gate)
        {
            if (!IsLive(handle))
            {
                return false;
            }

            Unlink(handle.Slot);
            Free(handle.Slot);
            return true;
        }
    }

    internal bool IsPending(TimerHandle handle)
    {
        lock (_gate)
        {
            return IsLive(handle);
        }
    }

    /// <summary>
    /// Fires every entry due up to the time provider's current time, tick by tick, and returns how
    /// many fired. Only one thread advances at a time; a concurrent call returns 0 at once, because
    /// the thread already advancing will catch up to the same time.
    /// </summary>
    public int Advance()
    {
        if (!_advanceGate.TryEnter())
        {
            return 0;
        }

        if (_advancing)
        {
            // Lock is re-entrant: a callback calling Advance must not reuse the fire buffer.
            _advanceGate.Exit();
            return 0;
        }

        _advancing = true;
        try
        {
            var target = _timeProvider.GetElapsedTime(_originTimestamp).Ticks / _tickTicks;
            var fired = 0;
            while (Volatile.Read(ref _currentTick) < target)
            {
                fired += FireNextTick(target);
            }

            return fired;
        }
        finally
        {
            _advancing = false;
            _advanceGate.Exit();
        }
    }

    public void Dispose()
    {
        ITimer? periodic;
        lock (_gate)
        {
            periodic = _periodic;
            _periodic = null;
        }

        periodic?.Dispose();
    }

    private int FireNextTick(long target)
    {
        long tick;
        int count;
        lock (_gate)
        {
            if (_liveCount == 0)
            {
                // Nothing can be due: jump over the idle stretch (a suspended host, a long test
                // jump) instead of walking it one tick at a time.
                _currentTick = Math.Max(_currentTick, target);
                return 0;
            }

            tick = _currentTick + 1;
            count = CollectDue(tick);
            _currentTick = tick;
        }

        if (count == 0)
        {
            return 0;
        }

        _firingTick = tick;
        Volatile.Write(ref _firingThreadId, Environment.CurrentManagedThreadId);
        try
        {
            for (var i = 0; i < count; i++)
            {
                ref var due = ref _fireBuffer[i];
                var callback = due.Callback;
                var action = due.Action;
                var state = due.State;
                var tag = due.Tag;
                due = default; // do not keep fired targets reachable
                Invoke(callback, action, state, tag);
            }
        }
        finally
        {
            Volatile.Write(ref _firingThreadId, 0);
        }

        return count;
    }

    private void Invoke(ITimerCallback? callback, Action<object?>? action, object? state, long tag)
    {
        try
        {
            if (callback is not null)
            {
                callback.OnTimer(tag);
            }
            else
            {
                action!(state);
            }
        }
        catch (Exception ex)
        {
            CallbackFailed?.Invoke(ex);
        }
    }

    private long DueTick(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(delay, TimeSpan.FromDays(365));

        var now = Volatile.Read(ref _firingThreadId) == Environment.CurrentManagedThreadId
            ? _firingTick * _tickTicks
            : _timeProvider.GetElapsedTime(_originTimestamp).Ticks;

        // Round up so a timer never fires before its delay has elapsed.
        return (now + delay.Ticks + _tickTicks - 1) / _tickTicks;
    }
}
