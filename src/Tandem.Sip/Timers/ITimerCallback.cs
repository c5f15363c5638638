namespace Tandem.Sip.Timers;

/// <summary>
/// Target of a <see cref="TimerWheel"/> entry. An interface plus a caller-chosen tag lets a long-lived
/// object (a transaction) be scheduled again and again without allocating a delegate per timer.
/// </summary>
public interface ITimerCallback
{
    void OnTimer(long tag);
}
