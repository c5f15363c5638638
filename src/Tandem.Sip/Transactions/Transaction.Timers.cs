using Tandem.Sip.Timers;

namespace Tandem.Sip.Transactions;

// Timer plumbing. A machine runs at most one retransmission timer (A, E or G) and one lifetime
// timer (B, D, F, H, I, J, K, L or M) at a time, so two slots cover every state. Each arming gets a
// sequence number carried in the wheel tag, so a firing that raced a cancel is recognised as stale.
public abstract partial class Transaction<TMessage> : ITimerCallback
{
    private TimerSlot _retransmit;
    private TimerSlot _lifetime;
    private int _armSequence;

    private struct TimerSlot
    {
        public bool Armed;
        public SipTimer Timer;
        public int Sequence;
        public TimerHandle Handle;
        public TimeSpan Interval;
    }

    /// <summary>Interval of the last retransmission timer armed; the base for doubling (§17.1.1.2).</summary>
    private protected TimeSpan RetransmitInterval => _retransmit.Interval;

    /// <summary>
    /// Fires <paramref name="timer"/> now if it is the one currently armed, cancelling its wheel entry.
    /// For a layer that runs its own clock, and for tests. False if that timer is not armed.
    /// </summary>
    public bool OnTimer(SipTimer timer)
    {
        var effects = default(TransactionEffects<TMessage>);
        lock (Gate)
        {
            ref var slot = ref SlotFor(timer);
            if (!slot.Armed || slot.Timer != timer)
            {
                return false;
            }

            slot.Handle.Cancel();
            slot.Armed = false;
            HandleTimer(timer, ref effects);
        }

        Dispatch(in effects);
        return true;
    }

    void ITimerCallback.OnTimer(long tag)
    {
        var timer = (SipTimer)(tag & 0xFF);
        var sequence = (int)(tag >> 8);
        var effects = default(TransactionEffects<TMessage>);
        lock (Gate)
        {
            ref var slot = ref SlotFor(timer);
            if (!slot.Armed || slot.Timer != timer || slot.Sequence != sequence)
            {
                return;
            }

            slot.Armed = false;
            HandleTimer(timer, ref effects);
        }

        Dispatch(in effects);
    }

    /// <summary>Transition for a timer that fired while armed; runs under the lock.</summary>
    private protected abstract void HandleTimer(SipTimer timer, ref TransactionEffects<TMessage> effects);

    private protected void Arm(SipTimer timer, TimeSpan delay)
    {
        ref var slot = ref SlotFor(timer);
        if (slot.Armed)
        {
            slot.Handle.Cancel();
        }

        var sequence = ++_armSequence;
        slot.Armed = true;
        slot.Timer = timer;
        slot.Sequence = sequence;
        slot.Interval = delay;
        slot.Handle = Context.Wheel.Schedule(this, ((long)sequence << 8) | (long)timer, delay);
    }

    private protected void CancelRetransmitTimer() => Disarm(ref _retransmit);

    private protected void CancelTimers()
    {
        Disarm(ref _retransmit);
        Disarm(ref _lifetime);
    }

    private static void Disarm(ref TimerSlot slot)
    {
        if (slot.Armed)
        {
            slot.Handle.Cancel();
            slot.Armed = false;
        }
    }

    private ref TimerSlot SlotFor(SipTimer timer)
    {
        if (timer is SipTimer.A or SipTimer.E or SipTimer.G)
        {
            return ref _retransmit;
        }

        return ref _lifetime;
    }
}
