namespace Tandem.Sip.Transactions;

/// <summary>
/// INVITE client transaction, RFC 3261 §17.1.1 with the RFC 6026 §7.2 Accepted state:
/// Calling → Proceeding → Completed (3xx–6xx, ACK sent here) or Accepted (2xx, ACK is the TU's).
/// </summary>
public sealed class ClientInviteTransaction<TMessage> : ClientTransaction<TMessage>
{
    public ClientInviteTransaction(TransactionContext<TMessage> context, TransactionKey key, TMessage request, bool isReliable)
        : base(context, key, request, isReliable, TransactionState.Calling)
    {
    }

    private protected override void HandleStart()
    {
        // §17.1.1.2: Timer A only where the transport may lose the request; Timer B always.
        if (!IsReliable)
        {
            Arm(SipTimer.A, Timers.T1);
        }

        Arm(SipTimer.B, Timers.TimerB);
    }

    private protected override void HandleTimer(SipTimer timer, ref TransactionEffects<TMessage> effects)
    {
        switch (timer)
        {
            case SipTimer.A when State == TransactionState.Calling:
                // §17.1.1.2: retransmit and double, with no T2 cap — Timer B ends the run at 64*T1.
                Retransmit(ref effects);
                Arm(SipTimer.A, 2 * RetransmitInterval);
                break;
            case SipTimer.B when State == TransactionState.Calling:
                // The TU treats this as a 408 (§8.1.3.1).
                effects.Flags |= TransactionEffect.TimedOut;
                effects.Timer = SipTimer.B;
                Terminate(ref effects);
                break;
            case SipTimer.D when State == TransactionState.Completed:
            case SipTimer.M when State == TransactionState.Accepted:
                Terminate(ref effects);
                break;
        }
    }

    private protected override void HandleResponse(int statusCode, TMessage response, ref TransactionEffects<TMessage> effects)
    {
        switch (State)
        {
            case TransactionState.Calling or TransactionState.Proceeding when statusCode < 200:
                if (State == TransactionState.Calling)
                {
                    // A provisional response proves delivery: stop retransmitting. Timer B only
                    // applies in Calling, so it goes too; Timer C (§16.6) is the proxy's business.
                    CancelTimers();
                    SetState(TransactionState.Proceeding);
                }

                Deliver(statusCode, response, ref effects);
                break;

            case TransactionState.Calling or TransactionState.Proceeding when statusCode < 300:
                // RFC 6026 §7.2: stay to pass 2xx retransmissions and forked 2xx to the TU (which
                // ACKs each) instead of letting them look like stray responses.
                CancelTimers();
                SetState(TransactionState.Accepted);
                Arm(SipTimer.M, Timers.TimerM);
                Deliver(statusCode, response, ref effects);
                break;

            case TransactionState.Calling or TransactionState.Proceeding:
                // §17.1.1.2: ACK the failure ourselves; Timer D absorbs its retransmissions.
                CancelTimers();
                SetState(TransactionState.Completed);
                effects.Flags |= TransactionEffect.SendAck;
                Deliver(statusCode, response, ref effects);
                WaitOrTerminate(SipTimer.D, Timers.TimerD(IsReliable), ref effects);
                break;

            case TransactionState.Completed when statusCode >= 300:
                // The ACK was lost: send it again; the TU has seen this response already.
                effects.Add(TransactionEffect.SendAck, response);
                break;

            case TransactionState.Accepted when statusCode is >= 200 and < 300:
                Deliver(statusCode, response, ref effects);
                break;
        }
    }
}
