namespace Tandem.Sip.Transactions;

/// <summary>
/// INVITE server transaction, RFC 3261 §17.2.1 with the RFC 6026 §7.1 Accepted state:
/// Proceeding → Completed (3xx–6xx sent) → Confirmed (ACK), or Proceeding → Accepted (2xx sent).
/// </summary>
/// <remarks>
/// §17.2.1 wants a 100 (Trying) within 200 ms unless the TU answers sooner. Building that response
/// needs the message layer, so the TU (or proxy core) sends it through <see cref="ServerTransaction{TMessage}.SendResponse"/>.
/// </remarks>
public sealed class ServerInviteTransaction<TMessage> : ServerTransaction<TMessage>
{
    public ServerInviteTransaction(TransactionContext<TMessage> context, TransactionKey key, TMessage request, bool isReliable)
        : base(context, key, request, isReliable, TransactionState.Proceeding)
    {
    }

    /// <summary>An ACK matched this transaction (its key maps ACK to INVITE, §17.2.3).</summary>
    public void OnAck(TMessage ack)
    {
        var effects = default(TransactionEffects<TMessage>);
        lock (Gate)
        {
            switch (State)
            {
                case TransactionState.Completed:
                    // §17.2.1: the ACK for our failure response arrived; Timer I absorbs its
                    // retransmissions, with zero wait on reliable transports.
                    CancelTimers();
                    SetState(TransactionState.Confirmed);
                    WaitOrTerminate(SipTimer.I, Timers.TimerI(IsReliable), ref effects);
                    break;
                case TransactionState.Accepted:
                    // RFC 6026 §7.1: an ACK matching in Accepted is the TU's to handle.
                    effects.Add(TransactionEffect.DeliverAck, ack);
                    break;
            }
        }

        Dispatch(in effects);
    }

    private protected override bool HandleSend(int statusCode, TMessage response, ref TransactionEffects<TMessage> effects)
    {
        switch (State)
        {
            case TransactionState.Proceeding when statusCode < 200:
                Send(response, ref effects);
                return true;

            case TransactionState.Proceeding when statusCode < 300:
                // RFC 6026 §7.1: the TU retransmits the 2xx itself; we stay for Timer L so INVITE
                // retransmissions are absorbed instead of reaching the TU as new requests.
                Send(response, ref effects);
                SetState(TransactionState.Accepted);
                Arm(SipTimer.L, Timers.TimerL);
                return true;

            case TransactionState.Proceeding:
                Send(response, ref effects);
                SetState(TransactionState.Completed);
                if (!IsReliable)
                {
                    Arm(SipTimer.G, Timers.T1);
                }

                Arm(SipTimer.H, Timers.TimerH);
                return true;

            case TransactionState.Accepted when statusCode is >= 200 and < 300:
                // TU's 2xx retransmissions (§13.3.1.4) and further 2xx pass straight to the transport.
                Send(response, ref effects);
                return true;

            default:
                return false;
        }
    }

    private protected override void HandleRequestRetransmission(ref TransactionEffects<TMessage> effects)
    {
        // §17.2.1: Proceeding answers with the latest provisional, Completed with the final;
        // Accepted and Confirmed absorb the retransmission.
        if (State is TransactionState.Proceeding or TransactionState.Completed)
        {
            ResendLast(ref effects);
        }
    }

    private protected override void HandleTimer(SipTimer timer, ref TransactionEffects<TMessage> effects)
    {
        switch (timer)
        {
            case SipTimer.G when State == TransactionState.Completed:
                ResendLast(ref effects);
                Arm(SipTimer.G, TimeSpan.FromTicks(Math.Min(2 * RetransmitInterval.Ticks, Timers.T2.Ticks)));
                break;
            case SipTimer.H when State == TransactionState.Completed:
                // The ACK never came: a transaction failure the TU must hear about.
                effects.Flags |= TransactionEffect.TimedOut;
                effects.Timer = SipTimer.H;
                Terminate(ref effects);
                break;
            case SipTimer.I when State == TransactionState.Confirmed:
            case SipTimer.L when State == TransactionState.Accepted:
                Terminate(ref effects);
                break;
        }
    }
}
