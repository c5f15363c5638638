namespace Tandem.Sip.Transactions;

/// <summary>
/// Server side (RFC 3261 §17.2): created by the transport layer for a request that matched no
/// transaction; the layer then hands the request to the TU, which answers through
/// <see cref="SendResponse"/>.
/// </summary>
public abstract class ServerTransaction<TMessage> : Transaction<TMessage>
{
    private protected ServerTransaction(TransactionContext<TMessage> context, TransactionKey key, TMessage request, bool isReliable, TransactionState initial)
        : base(context, key, isReliable, initial)
    {
        Request = request;
    }

    public TMessage Request { get; }

    /// <summary>The most recent response sent; what a request retransmission gets back.</summary>
    public TMessage? LastResponse { get; private protected set; }

    /// <summary>
    /// The TU sends a response. Returns false, sending nothing, when the state no longer allows one
    /// (a second final response, or anything after Terminated).
    /// </summary>
    public bool SendResponse(int statusCode, TMessage response)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(statusCode, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(statusCode, 699);
        var effects = default(TransactionEffects<TMessage>);
        bool accepted;
        lock (Gate)
        {
            accepted = HandleSend(statusCode, response, ref effects);
        }

        Dispatch(in effects);
        return accepted;
    }

    /// <summary>A retransmission of the request that created this transaction arrived (§17.2.3 match).</summary>
    public void OnRequestRetransmission()
    {
        var effects = default(TransactionEffects<TMessage>);
        lock (Gate)
        {
            HandleRequestRetransmission(ref effects);
        }

        Dispatch(in effects);
    }

    private protected abstract bool HandleSend(int statusCode, TMessage response, ref TransactionEffects<TMessage> effects);

    private protected abstract void HandleRequestRetransmission(ref TransactionEffects<TMessage> effects);

    private protected void Send(TMessage response, ref TransactionEffects<TMessage> effects)
    {
        LastResponse = response;
        effects.Add(TransactionEffect.SendResponse, response);
    }

    private protected void ResendLast(ref TransactionEffects<TMessage> effects)
    {
        if (LastResponse is { } last)
        {
            effects.Add(TransactionEffect.SendResponse | TransactionEffect.Retransmission, last);
        }
    }
}
