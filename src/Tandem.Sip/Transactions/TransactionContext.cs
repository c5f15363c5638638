using Tandem.Sip.Timers;

namespace Tandem.Sip.Transactions;

/// <summary>What every transaction of one transaction layer shares: the wheel, the timer values and the sink.</summary>
public sealed class TransactionContext<TMessage>
{
    public TransactionContext(TimerWheel wheel, SipTimerSettings timers, ITransactionSink<TMessage> sink)
    {
        ArgumentNullException.ThrowIfNull(wheel);
        ArgumentNullException.ThrowIfNull(timers);
        ArgumentNullException.ThrowIfNull(sink);
        timers.Validate();
        Wheel = wheel;
        Timers = timers;
        Sink = sink;
    }

    public TimerWheel Wheel { get; }

    public SipTimerSettings Timers { get; }

    public ITransactionSink<TMessage> Sink { get; }
}
