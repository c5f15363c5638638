using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

public sealed class SipTimerSettingsTests
{
    [Fact]
    public void Defaults_follow_rfc3261_table_4()
    {
        var s = SipTimerSettings.Default;
        Assert.Equal(TimeSpan.FromMilliseconds(500), s.T1);
        Assert.Equal(TimeSpan.FromSeconds(4), s.T2);
        Assert.Equal(TimeSpan.FromSeconds(5), s.T4);
        Assert.Equal(TimeSpan.FromSeconds(32), s.TimerB);
        Assert.Equal(TimeSpan.FromSeconds(32), s.TimerF);
        Assert.Equal(TimeSpan.FromSeconds(32), s.TimerH);
        Assert.Equal(TimeSpan.FromSeconds(32), s.TimerJ(reliable: false));
        Assert.Equal(TimeSpan.FromSeconds(32), s.TimerD(reliable: false));
        Assert.Equal(TimeSpan.FromSeconds(5), s.TimerI(reliable: false));
        Assert.Equal(TimeSpan.FromSeconds(5), s.TimerK(reliable: false));
        Assert.Equal(TimeSpan.FromSeconds(32), s.TimerL);
        Assert.Equal(TimeSpan.FromSeconds(32), s.TimerM);
    }

    [Fact]
    public void Wait_timers_are_zero_on_reliable_transports()
    {
        var s = SipTimerSettings.Default;
        Assert.Equal(TimeSpan.Zero, s.TimerD(reliable: true));
        Assert.Equal(TimeSpan.Zero, s.TimerI(reliable: true));
        Assert.Equal(TimeSpan.Zero, s.TimerJ(reliable: true));
        Assert.Equal(TimeSpan.Zero, s.TimerK(reliable: true));
    }

    [Fact]
    public void Derived_timers_follow_t1_per_instance()
    {
        var s = new SipTimerSettings { T1 = TimeSpan.FromMilliseconds(100) };
        Assert.Equal(TimeSpan.FromMilliseconds(6400), s.TimerB);
        Assert.Equal(TimeSpan.FromMilliseconds(500), SipTimerSettings.Default.T1);
    }

    [Fact]
    public void Validate_rejects_t2_below_t1_and_short_timer_d()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SipTimerSettings { T2 = TimeSpan.FromMilliseconds(100) }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SipTimerSettings { TimerDUnreliable = TimeSpan.FromSeconds(5) }.Validate());
        SipTimerSettings.Default.Validate();
    }
}
