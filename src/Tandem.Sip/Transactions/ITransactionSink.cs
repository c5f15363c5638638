namespace Tandem.Sip.Transactions;

/// <summary>
/// Everything a transaction asks of the layers around it: the transport (send bytes) and the
/// transaction user (TU: proxy core, registrar, UA). The machines never touch a socket or a parsed
/// message; they hand back the opaque <typeparamref name="TMessage"/> they were given.
/// Calls are made after the transaction's lock is released, so implementations may call back into
/// this or any other transaction. Each call happens once per event; <see cref="Terminated"/> once.
/// </summary>
public interface ITransactionSink<TMessage>
{
    /// <summary>Transport: send the request as first sent — by Start() and on Timer A/E.</summary>
    void SendRequest(ClientTransaction<TMessage> transaction, TMessage request, bool isRetransmission);

    /// <summary>
    /// Transport: send the ACK for a 3xx–6xx final response (RFC 3261 §17.1.1.3), built from the
    /// original request and this response. Called again for every retransmission of that response,
    /// so an implementation may cache the ACK bytes on the transaction.
    /// </summary>
    void SendAck(ClientInviteTransaction<TMessage> transaction, TMessage finalResponse);

    /// <summary>Transport: send a response — the TU's own sends and retransmissions (Timer G, request retransmits).</summary>
    void SendResponse(ServerTransaction<TMessage> transaction, TMessage response, bool isRetransmission);

    /// <summary>TU: a response the TU must see (retransmissions the RFC absorbs are not passed).</summary>
    void ResponseReceived(ClientTransaction<TMessage> transaction, int statusCode, TMessage response);

    /// <summary>TU: an ACK that matched an INVITE server transaction in Accepted (RFC 6026 §7.1).</summary>
    void AckReceived(ServerInviteTransaction<TMessage> transaction, TMessage ack);

    /// <summary>
    /// TU: Timer B or F fired — treat as a 408 (RFC 3261 §8.1.3.1); or Timer H fired — the ACK
    /// never came (§17.2.1).
    /// </summary>
    void TimedOut(Transaction<TMessage> transaction, SipTimer timer);

    /// <summary>TU: the transport reported a fatal error for this transaction (§17.1.4, §17.2.4).</summary>
    void TransportFailed(Transaction<TMessage> transaction);

    /// <summary>The machine reached Terminated: remove it from its table, release its buffers.</summary>
    void Terminated(Transaction<TMessage> transaction);
}
