namespace Tandem.Sip.Transactions;

/// <summary>Client side (RFC 3261 §17.1): owns the request, retransmits it, filters responses for the TU.</summary>
public abstract class ClientTransaction<TMessage> : Transaction<TMessage>
{
    private bool _started;

    private protected ClientTransaction(TransactionContext<TMessage> context, TransactionKey key, TMessage request, bool isReliable, TransactionState initial)
        : base(context, key, isReliable, initial)
    {
        Request = request;
    }

    /// <summary>The request as first sent; retransmissions resend exactly this (§17.1.1.2).</summary>
    public TMessage Request { get; }

    /// <summary>
    /// Sends the request and starts the timers. Add the transaction to its table before calling, so
    /// a fast response finds it.
    /// </summary>
    public void Start()
    {
        var effects = default(TransactionEffects<TMessage>);
        lock (Gate)
        {
            if (_started)
            {
                throw new InvalidOperationException("The transaction has already been started.");
            }

            _started = true;
            if (State == TransactionState.Terminated)
            {
                return;
            }

            effects.Add(TransactionEffect.SendRequest, Request);
            HandleStart();
        }

        Dispatch(in effects);
    }

    /// <summary>A response whose top Via branch and CSeq method matched this transaction (§17.1.3).</summary>
    public void OnResponseReceived(int statusCode, TMessage response)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(statusCode, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(statusCode, 699);
        var effects = default(TransactionEffects<TMessage>);
        lock (Gate)
        {
            if (!_started)
            {
                return; // nothing was sent, so this cannot be an answer to us
            }

            HandleResponse(statusCode, response, ref effects);
        }

        Dispatch(in effects);
    }

    private protected abstract void HandleStart();

    private protected abstract void HandleResponse(int statusCode, TMessage response, ref TransactionEffects<TMessage> effects);

    private protected static void Deliver(int statusCode, TMessage response, ref TransactionEffects<TMessage> effects)
    {
        effects.Add(TransactionEffect.DeliverResponse, response);
        effects.StatusCode = statusCode;
    }

    private protected void Retransmit(ref TransactionEffects<TMessage> effects)
        => effects.Add(TransactionEffect.SendRequest | TransactionEffect.Retransmission, Request);
}
