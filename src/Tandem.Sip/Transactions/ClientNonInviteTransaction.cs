namespace Tandem.Sip.Transactions;

/// <summary>Non-INVITE client transaction, RFC 3261 §17.1.2: Trying → Proceeding → Completed.</summary>
public sealed class ClientNonInviteTransaction<TMessage> : ClientTransaction<TMessage>
{
    public ClientNonInviteTransaction(TransactionContext<TMessage> context, TransactionKey key, TMessage request, bool isReliable)
        : base(context, key, request, isReliable, TransactionState.Trying)
    {
    }

    private protected override void HandleStart()
    {
        // §17.1.2.2: Timer E only on unreliable transports; Timer F always.
        if (!IsReliable)
        {
            Arm(SipTimer.E, Timers.T1);
        }

        Arm(SipTimer.F, Timers.TimerF);
    }

    private protected override void HandleTimer(SipTimer timer, ref TransactionEffects<TMessage> effects)
    {
        switch (timer)
        {
            case SipTimer.E when State == TransactionState.Trying:
                // Double up to T2: a non-INVITE is answered fast, so backing off further only delays.
                Retransmit(ref effects);
                Arm(SipTimer.E, TimeSpan.FromTicks(Math.Min(2 * RetransmitInterval.Ticks, Timers.T2.Ticks)));
                break;
            case SipTimer.E when State == TransactionState.Proceeding:
                // A provisional arrived, so the server is alive: keep retransmitting every T2.
                Retransmit(ref effects);
                Arm(SipTimer.E, Timers.T2);
                break;
            case SipTimer.F when State is TransactionState.Trying or TransactionState.Proceeding:
                effects.Flags |= TransactionEffect.TimedOut;
                effects.Timer = SipTimer.F;
                Terminate(ref effects);
                break;
            case SipTimer.K when State == TransactionState.Completed:
                Terminate(ref effects);
                break;
        }
    }

    private protected override void HandleResponse(int statusCode, TMessage response, ref TransactionEffects<TMessage> effects)
    {
        if (State is not (TransactionState.Trying or TransactionState.Proceeding))
        {
            return; // Completed absorbs retransmitted finals (§17.1.2.2)
        }

        Deliver(statusCode, response, ref effects);
        if (statusCode < 200)
        {
            // Timer E keeps its current interval; its next firing in Proceeding resets it to T2.
            SetState(TransactionState.Proceeding);
            return;
        }

        CancelTimers();
        SetState(TransactionState.Completed);
        WaitOrTerminate(SipTimer.K, Timers.TimerK(IsReliable), ref effects);
    }
}
