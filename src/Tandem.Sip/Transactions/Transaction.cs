using Tandem.Sip.Timers;

namespace Tandem.Sip.Transactions;

/// <summary>
/// Common core of the four RFC 3261 §17 machines. Inputs take a private lock, run one transition
/// and collect its effects; the effects go to the <see cref="ITransactionSink{TMessage}"/> after the
/// lock is released, so the sink can never deadlock against another transaction's lock.
/// </summary>
public abstract partial class Transaction<TMessage>
{
    private readonly Lock _gate = new();
    private volatile TransactionState _state;

    private protected Transaction(TransactionContext<TMessage> context, TransactionKey key, bool isReliable, TransactionState initial)
    {
        ArgumentNullException.ThrowIfNull(context);
        Context = context;
        Key = key;
        IsReliable = isReliable;
        _state = initial;
    }

    public TransactionKey Key { get; }

    /// <summary>True on TCP/TLS/WebSocket: no retransmission timers, zero-length wait timers (§17.1.1.2).</summary>
    public bool IsReliable { get; }

    public TransactionState State => _state;

    /// <summary>Free for the owning layer (destination, proxy context); the machine never reads it.</summary>
    public object? UserData { get; set; }

    public TransactionContext<TMessage> Context { get; }

    private protected SipTimerSettings Timers => Context.Timers;

    private protected Lock Gate => _gate;

    /// <summary>
    /// The transport reported a fatal error sending for this transaction (RFC 3261 §17.1.4, §17.2.4):
    /// inform the TU and terminate. In Accepted the machine stays to keep absorbing retransmissions.
    /// </summary>
    public void OnTransportError()
    {
        var effects = default(TransactionEffects<TMessage>);
        lock (_gate)
        {
            if (_state == TransactionState.Terminated)
            {
                return;
            }

            effects.Flags |= TransactionEffect.TransportFailed;
            if (_state != TransactionState.Accepted)
            {
                Terminate(ref effects);
            }
        }

        Dispatch(in effects);
    }

    /// <summary>Terminates at once without informing the TU (shutdown, or a TU abandoning a request).</summary>
    public void Abort()
    {
        var effects = default(TransactionEffects<TMessage>);
        lock (_gate)
        {
            if (_state == TransactionState.Terminated)
            {
                return;
            }

            Terminate(ref effects);
        }

        Dispatch(in effects);
    }

    private protected void SetState(TransactionState state) => _state = state;

    private protected void Terminate(ref TransactionEffects<TMessage> effects)
    {
        CancelTimers();
        SetState(TransactionState.Terminated);
        effects.Flags |= TransactionEffect.Terminated;
    }

    // Terminate at once when the wait is zero (reliable transports), otherwise wait on the timer.
    private protected void WaitOrTerminate(SipTimer timer, TimeSpan wait, ref TransactionEffects<TMessage> effects)
    {
        if (wait == TimeSpan.Zero)
        {
            Terminate(ref effects);
        }
        else
        {
            Arm(timer, wait);
        }
    }

    private protected void Dispatch(in TransactionEffects<TMessage> effects)
    {
        if (effects.Flags == TransactionEffect.None)
        {
            return;
        }

        var sink = Context.Sink;
        var message = effects.Message!;
        var retransmission = effects.Has(TransactionEffect.Retransmission);

        // Transport first, then the TU, then removal: the TU should see a response only after
        // the ACK for it is on its way, and the table entry outlives every notification.
        if (effects.Has(TransactionEffect.SendRequest))
        {
            sink.SendRequest((ClientTransaction<TMessage>)this, message, retransmission);
        }

        if (effects.Has(TransactionEffect.SendAck))
        {
            sink.SendAck((ClientInviteTransaction<TMessage>)this, message);
        }

        if (effects.Has(TransactionEffect.SendResponse))
        {
            sink.SendResponse((ServerTransaction<TMessage>)this, message, retransmission);
        }

        if (effects.Has(TransactionEffect.DeliverResponse))
        {
            sink.ResponseReceived((ClientTransaction<TMessage>)this, effects.StatusCode, message);
        }

        if (effects.Has(TransactionEffect.DeliverAck))
        {
            sink.AckReceived((ServerInviteTransaction<TMessage>)this, message);
        }

        if (effects.Has(TransactionEffect.TimedOut))
        {
            sink.TimedOut(this, effects.Timer);
        }

        if (effects.Has(TransactionEffect.TransportFailed))
        {
            sink.TransportFailed(this);
        }

        if (effects.Has(TransactionEffect.Terminated))
        {
            sink.Terminated(this);
        }
    }

    public override string ToString() => $"{GetType().Name} {Key} {State}";
}
