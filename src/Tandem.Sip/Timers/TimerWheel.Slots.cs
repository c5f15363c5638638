namespace Tandem.Sip.Timers;

// Storage: a slab of entry structs linked into per-bucket doubly linked lists by index, plus a free
// list through the same Next field. No allocation per timer once the slab has grown to the peak
// number of live timers. Everything here runs under _gate.
public sealed partial class TimerWheel
{
    private const int NoSlot = -1;

    private Entry[] _entries = [];
    private int[] _bucketHeads = [];
    private int _bucketMask;
    private int _freeHead = NoSlot;
    private int _liveCount;
    private Fired[] _fireBuffer = [];

    private struct Entry
    {
        public long DueTick;
        public int Next;
        public int Prev;
        public int Generation;
        public bool InUse;
        public ITimerCallback? Callback;
        public Action<object?>? Action;
        public object? State;
        public long Tag;
    }

    private struct Fired
    {
        public ITimerCallback? Callback;
        public Action<object?>? Action;
        public object? State;
        public long Tag;
    }

    private void InitialiseSlots(int bucketCount, int capacity)
    {
        _bucketHeads = new int[bucketCount];
        Array.Fill(_bucketHeads, NoSlot);
        _bucketMask = bucketCount - 1;
        _entries = new Entry[capacity];
        ChainFree(0, capacity);
        _fireBuffer = new Fired[64];
    }

    private void ChainFree(int from, int to)
    {
        for (var i = to - 1; i >= from; i--)
        {
            _entries[i].Next = _freeHead;
            _freeHead = i;
        }
    }

    private TimerHandle Insert(ITimerCallback? callback, Action<object?>? action, object? state, long tag, long dueTick)
    {
        lock (_gate)
        {
            // A tick already collected will not be looked at again: use the next one.
            if (dueTick <= _currentTick)
            {
                dueTick = _currentTick + 1;
            }

            if (_freeHead == NoSlot)
            {
                var old = _entries.Length;
                Array.Resize(ref _entries, old * 2);
                ChainFree(old, _entries.Length);
            }

            var slot = _freeHead;
            ref var e = ref _entries[slot];
            _freeHead = e.Next;
            e.DueTick = dueTick;
            e.InUse = true;
            e.Callback = callback;
            e.Action = action;
            e.State = state;
            e.Tag = tag;

            ref var head = ref _bucketHeads[(int)(dueTick & _bucketMask)];
            e.Prev = NoSlot;
            e.Next = head;
            if (head != NoSlot)
            {
                _entries[head].Prev = slot;
            }

            head = slot;
            _liveCount++;
            return new TimerHandle(this, slot, e.Generation);
        }
    }

    private bool IsLive(TimerHandle handle)
    {
        var slot = handle.Slot;
        return ReferenceEquals(handle.Wheel, this)
            && (uint)slot < (uint)_entries.Length
            && _entries[slot].InUse
            && _entries[slot].Generation == handle.Generation;
    }

    private void Unlink(int slot)
    {
        ref var e = ref _entries[slot];
        if (e.Prev != NoSlot)
        {
            _entries[e.Prev].Next = e.Next;
        }
        else
        {
            _bucketHeads[(int)(e.DueTick & _bucketMask)] = e.Next;
        }

        if (e.Next != NoSlot)
        {
            _entries[e.Next].Prev = e.Prev;
        }
    }

    private void Free(int slot)
    {
        ref var e = ref _entries[slot];
        e.InUse = false;
        e.Generation++; // invalidates outstanding handles
        e.Callback = null;
        e.Action = null;
        e.State = null;
        e.Next = _freeHead;
        e.Prev = NoSlot;
        _freeHead = slot;
        _liveCount--;
    }

    // Moves entries due at or before tick from its bucket into _fireBuffer and returns their number.
    // Entries for later revolutions of the wheel stay where they are.
    private int CollectDue(long tick)
    {
        var count = 0;
        var slot = _bucketHeads[(int)(tick & _bucketMask)];
        while (slot != NoSlot)
        {
            ref var e = ref _entries[slot];
            var next = e.Next;
            if (e.DueTick <= tick)
            {
                if (count == _fireBuffer.Length)
                {
                    Array.Resize(ref _fireBuffer, count * 2);
                }

                _fireBuffer[count++] = new Fired { Callback = e.Callback, Action = e.Action, State = e.State, Tag = e.Tag };
                Unlink(slot);
                Free(slot);
            }

            slot = next;
        }

        return count;
    }
}
