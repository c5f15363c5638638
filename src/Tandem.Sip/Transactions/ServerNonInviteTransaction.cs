namespace Tandem.Sip.Transactions;

/// <summary>Non-INVITE server transaction, RFC 3261 §17.2.2: Trying → Proceeding → Completed.</summary>
public sealed class ServerNonInviteTransaction<TMessage> : ServerTransaction<TMessage>
{
    public ServerNonInviteTransaction(TransactionContext<TMessage> context, TransactionKey key, TMessage request, bool isReliable)
        : base(context, key, request, isReliable, TransactionState.Trying)
    {
    }

    private protected override bool HandleSend(int statusCode, TMessage response, ref TransactionEffects<TMessage> effects)
    {
        if (State is not (TransactionState.Trying or TransactionState.Proceeding))
        {
            return false; // §17.2.2: further finals from the TU are discarded in Completed
        }

        Send(response, ref effects);
        if (statusCode < 200)
        {
            SetState(TransactionState.Proceeding);
            return true;
        }

        // Timer J keeps the final response around for request retransmissions (64*T1 covers the
        // client's whole Timer E run); reliable transports have none, so terminate at once.
        SetState(TransactionState.Completed);
        WaitOrTerminate(SipTimer.J, Timers.TimerJ(IsReliable), ref effects);
        return true;
    }

    private protected override void HandleRequestRetransmission(ref TransactionEffects<TMessage> effects)
    {
        // §17.2.2: Trying discards it (nothing to send yet); later states resend the last response.
        if (State is TransactionState.Proceeding or TransactionState.Completed)
        {
            ResendLast(ref effects);
        }
    }

    private protected override void HandleTimer(SipTimer timer, ref TransactionEffects<TMessage> effects)
    {
        if (timer == SipTimer.J && State == TransactionState.Completed)
        {
            Terminate(ref effects);
        }
    }
}
