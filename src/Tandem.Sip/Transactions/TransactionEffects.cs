namespace Tandem.Sip.Transactions;

[Flags]
internal enum TransactionEffect
{
    None = 0,
    SendRequest = 1 << 0,
    SendAck = 1 << 1,
    SendResponse = 1 << 2,
    Retransmission = 1 << 3,
    DeliverResponse = 1 << 4,
    DeliverAck = 1 << 5,
    TimedOut = 1 << 6,
    TransportFailed = 1 << 7,
    Terminated = 1 << 8,
}

/// <summary>
/// Output of one transition, computed under the transaction's lock and performed after it is
/// released (STYLE idea 7: (state, input) → (state', actions)). One message suffices: no
/// transition both sends one message and reports a different one.
/// </summary>
internal struct TransactionEffects<TMessage>
{
    public TransactionEffect Flags;
    public TMessage? Message;
    public int StatusCode;
    public SipTimer Timer;

    public void Add(TransactionEffect effect, TMessage? message)
    {
        Flags |= effect;
        Message = message;
    }

    public readonly bool Has(TransactionEffect effect) => (Flags & effect) != 0;
}
