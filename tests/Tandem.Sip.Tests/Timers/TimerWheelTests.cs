using Tandem.Sip.Timers;

namespace Tandem.Sip.Tests.Timers;

public sealed class TimerWheelTests
{
    private readonly FakeTimeProvider _time = new();

    private TimerWheel NewWheel(int buckets = 4096) => new(_time, TimeSpan.FromMilliseconds(10), buckets);

    [Fact]
    public void Timer_fires_once_at_its_due_time_and_not_before()
    {
        using var wheel = NewWheel();
        var firedAt = new List<double>();
        wheel.Schedule(_ => firedAt.Add(_time.ElapsedMs), null, TimeSpan.FromMilliseconds(100));

        _time.AdvanceMs(99);
        wheel.Advance();
        Assert.Empty(firedAt);

        _time.AdvanceMs(1);
        wheel.Advance();
        _time.AdvanceMs(500);
        wheel.Advance();
        Assert.Equal([100.0], firedAt);
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void Delay_between_ticks_is_rounded_up_never_down()
    {
        using var wheel = NewWheel();
        var fired = false;
        wheel.Schedule(_ => fired = true, null, TimeSpan.FromMilliseconds(15));

        _time.AdvanceMs(10);
        wheel.Advance();
        Assert.False(fired);

        _time.AdvanceMs(10);
        wheel.Advance();
        Assert.True(fired);
    }

    [Fact]
    public void Zero_delay_fires_on_the_next_tick()
    {
        using var wheel = NewWheel();
        var fired = 0;
        wheel.Schedule(_ => fired++, null, TimeSpan.Zero);
        Assert.Equal(0, wheel.Advance());

        _time.AdvanceMs(10);
        Assert.Equal(1, wheel.Advance());
        Assert.Equal(1, fired);
    }

    [Fact]
    public void Cancelled_timer_does_not_fire_and_second_cancel_reports_false()
    {
        using var wheel = NewWheel();
        var fired = false;
        var handle = wheel.Schedule(_ => fired = true, null, TimeSpan.FromMilliseconds(50));
        Assert.True(handle.IsPending);

        Assert.True(handle.Cancel());
        Assert.False(handle.IsPending);
        Assert.False(handle.Cancel());

        _time.AdvanceMs(100);
        wheel.Advance();
        Assert.False(fired);
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void Stale_handle_cannot_cancel_the_timer_that_reused_its_slot()
    {
        using var wheel = NewWheel();
        var first = wheel.Schedule(_ => { }, null, TimeSpan.FromMilliseconds(10));
        _time.AdvanceMs(10);
        wheel.Advance();

        var secondFired = false;
        var second = wheel.Schedule(_ => secondFired = true, null, TimeSpan.FromMilliseconds(10));
        Assert.False(first.Cancel());
        Assert.True(second.IsPending);

        _time.AdvanceMs(10);
        wheel.Advance();
        Assert.True(secondFired);
    }

    [Fact]
    public void Default_handle_is_none_and_cancel_is_a_no_op()
    {
        var handle = default(TimerHandle);
        Assert.True(handle.IsNone);
        Assert.False(handle.IsPending);
        Assert.False(handle.Cancel());
    }

    [Fact]
    public void Timer_further_than_one_revolution_waits_for_its_own_revolution()
    {
        // 8 buckets x 10 ms = 80 ms per revolution; 250 ms shares a bucket with 10, 90 and 170 ms.
        using var wheel = NewWheel(buckets: 8);
        var firedAt = new List<double>();
        wheel.Schedule(_ => firedAt.Add(_time.ElapsedMs), null, TimeSpan.FromMilliseconds(250));

        for (var i = 0; i < 40; i++)
        {
            _time.AdvanceMs(10);
            wheel.Advance();
        }

        Assert.Equal([250.0], firedAt);
    }

    [Fact]
    public void Rescheduling_from_a_callback_keeps_an_exact_period_when_catching_up_after_a_jump()
    {
        using var wheel = NewWheel();
        var firings = 0;
        void Periodic(object? _)
        {
            firings++;
            wheel.Schedule(Periodic, null, TimeSpan.FromMilliseconds(100));
        }

        wheel.Schedule(Periodic, null, TimeSpan.FromMilliseconds(100));
        _time.AdvanceMs(1000);
        wheel.Advance();

        // 100, 200, ... 1000: measured from each firing tick, not from the wall clock at 1000 ms.
        Assert.Equal(10, firings);
    }

    [Fact]
    public void Interface_callback_receives_its_tag()
    {
        using var wheel = NewWheel();
        var target = new TagRecorder();
        wheel.Schedule(target, 42, TimeSpan.FromMilliseconds(20));
        wheel.Schedule(target, 7, TimeSpan.FromMilliseconds(10));

        _time.AdvanceMs(30);
        wheel.Advance();

        Assert.Equal([7L, 42L], target.Tags);
    }

    [Fact]
    public void Throwing_callback_is_reported_and_other_timers_still_fire()
    {
        using var wheel = NewWheel();
        var failures = new List<Exception>();
        wheel.CallbackFailed = failures.Add;
        var fired = false;
        wheel.Schedule(_ => throw new InvalidOperationException("boom"), null, TimeSpan.FromMilliseconds(10));
        wheel.Schedule(_ => fired = true, null, TimeSpan.FromMilliseconds(10));

        _time.AdvanceMs(10);
        wheel.Advance();

        Assert.True(fired);
        Assert.IsType<InvalidOperationException>(Assert.Single(failures));
    }

    [Fact]
    public void Start_drives_the_wheel_from_the_time_providers_periodic_timer()
    {
        using var wheel = NewWheel();
        wheel.Start();
        var firedAt = new List<double>();
        wheel.Schedule(_ => firedAt.Add(_time.ElapsedMs), null, TimeSpan.FromMilliseconds(50));

        _time.AdvanceMs(200);

        Assert.Equal([50.0], firedAt);
    }

    [Fact]
    public void Timer_scheduled_after_an_idle_jump_is_measured_from_the_new_time()
    {
        using var wheel = NewWheel();
        _time.AdvanceMs(3_600_000);
        Assert.Equal(0, wheel.Advance());

        var firedAt = new List<double>();
        wheel.Schedule(_ => firedAt.Add(_time.ElapsedMs), null, TimeSpan.FromMilliseconds(30));
        _time.AdvanceMs(20);
        wheel.Advance();
        Assert.Empty(firedAt);
        _time.AdvanceMs(10);
        wheel.Advance();

        Assert.Equal([3_600_030.0], firedAt);
    }

    [Fact]
    public void Advance_called_from_a_callback_is_a_no_op_and_the_outer_advance_finishes()
    {
        using var wheel = NewWheel();
        var nested = -1;
        var laterFired = false;
        wheel.Schedule(_ => nested = wheel.Advance(), null, TimeSpan.FromMilliseconds(10));
        wheel.Schedule(_ => laterFired = true, null, TimeSpan.FromMilliseconds(20));

        _time.AdvanceMs(20);
        Assert.Equal(2, wheel.Advance());
        Assert.Equal(0, nested);
        Assert.True(laterFired);
    }

    [Fact]
    public void Negative_delay_is_rejected()
    {
        using var wheel = NewWheel();
        Assert.Throws<ArgumentOutOfRangeException>(() => wheel.Schedule(_ => { }, null, TimeSpan.FromMilliseconds(-1)));
    }

    private sealed class TagRecorder : ITimerCallback
    {
        public List<long> Tags { get; } = [];

        public void OnTimer(long tag) => Tags.Add(tag);
    }
}
