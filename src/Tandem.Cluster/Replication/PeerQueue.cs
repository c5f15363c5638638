using System.Security.Cryptography;

namespace Tandem.Cluster.Replication;

/// <summary>
/// The outbound stream to one peer: every change this node makes or learns (except those learnt from
/// that peer), numbered 1, 2, 3… within an epoch (random per process). Unacknowledged records are
/// buffered for resending after a reconnect, up to a capacity; beyond it the buffer is dropped and
/// the peer needs a snapshot. Thread-safe.
/// </summary>
internal sealed class PeerQueue(int capacity)
{
    private readonly object _gate = new();
    private readonly List<(ulong Seq, ReplicatedRecord Record)> _buffer = [];
    private readonly List<(ulong Seq, SyncWaiter Waiter)> _waiters = [];
    private int _head;
    private ulong _firstBuffered = 1;
    private ulong _lastSeq;
    private ulong _ackedSeq;
    private long _overflows;
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ulong Epoch { get; } = NewEpoch();

    public long Overflows => Interlocked.Read(ref _overflows);

    public DateTimeOffset? LastAckAt { get; private set; }

    public ulong LastSeq
    {
        get
        {
            lock (_gate)
            {
                return _lastSeq;
            }
        }
    }

    public ulong AckedSeq
    {
        get
        {
            lock (_gate)
            {
                return _ackedSeq;
            }
        }
    }

    public long Queued
    {
        get
        {
            lock (_gate)
            {
                return (long)(_lastSeq - _ackedSeq);
            }
        }
    }

    public ulong Enqueue(ReplicatedRecord record)
    {
        TaskCompletionSource signal;
        ulong seq;
        lock (_gate)
        {
            seq = ++_lastSeq;
            if (_buffer.Count - _head >= capacity)
            {
                // The peer is too far behind: forget the backlog; it will get a snapshot.
                _buffer.Clear();
                _head = 0;
                _firstBuffered = seq + 1;
                _overflows++;
            }
            else
            {
                if (_buffer.Count == _head)
                {
                    _buffer.Clear();
                    _head = 0;
                    _firstBuffered = seq;
                }

                _buffer.Add((seq, record));
            }

            signal = _signal;
            _signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        signal.TrySetResult();
        return seq;
    }

    /// <summary>Completes when a record with a sequence at or after <paramref name="cursor"/> exists (or at once if one does).</summary>
    public Task WaitForDataAsync(ulong cursor)
    {
        lock (_gate)
        {
            return _lastSeq >= cursor ? Task.CompletedTask : _signal.Task;
        }
    }

    /// <summary>
    /// Copies up to <paramref name="max"/> buffered records from <paramref name="cursor"/>.
    /// False when records from the cursor on are no longer buffered (overflow): the connection must
    /// restart with a snapshot.
    /// </summary>
    public bool TryRead(ulong cursor, int max, List<(ulong Seq, ReplicatedRecord Record)> into)
    {
        lock (_gate)
        {
            if (cursor > _lastSeq)
            {
                return true;
            }

            if (cursor < _firstBuffered)
            {
                return false;
            }

            int start = _head + (int)(cursor - _firstBuffered);
            int end = Math.Min(_buffer.Count, start + max);
            for (int i = start; i < end; i++)
            {
                into.Add(_buffer[i]);
            }

            return true;
        }
    }

    /// <summary>
    /// The peer says it applied everything up to <paramref name="lastSeq"/> of <paramref name="epoch"/>.
    /// Returns the sequence to resume from, or null when a snapshot is needed.
    /// </summary>
    public ulong? TryResume(ulong epoch, ulong lastSeq, DateTimeOffset at)
    {
        lock (_gate)
        {
            if (epoch != Epoch || lastSeq > _lastSeq || lastSeq + 1 < _firstBuffered)
            {
                return null;
            }
        }

        Ack(lastSeq, at);
        return lastSeq + 1;
    }

    /// <summary>
    /// Called under the store's lock while the snapshot is taken: every record so far is in the
    /// snapshot, so the buffer is dropped. Returns the snapshot's sequence (the stream resumes after it).
    /// </summary>
    public ulong ResetForSnapshot()
    {
        lock (_gate)
        {
            _buffer.Clear();
            _head = 0;
            _firstBuffered = _lastSeq + 1;
            return _lastSeq;
        }
    }

    public void Ack(ulong seq, DateTimeOffset at)
    {
        List<SyncWaiter>? done = null;
        lock (_gate)
        {
            if (seq > _lastSeq)
            {
                throw new ReplicationProtocolException($"Ack {seq} beyond last sequence {_lastSeq}.");
            }

            LastAckAt = at;
            if (seq <= _ackedSeq)
            {
                return;
            }

            AckLocked(seq);
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Seq <= seq)
                {
                    (done ??= []).Add(_waiters[i].Waiter);
                    _waiters.RemoveAt(i);
                }
            }
        }

        if (done is not null)
        {
            foreach (SyncWaiter w in done)
            {
                w.Acknowledge();
            }
        }
    }

    /// <summary>Completes <paramref name="waiter"/> when <paramref name="seq"/> is acknowledged.</summary>
    public void AddWaiter(ulong seq, SyncWaiter waiter)
    {
        lock (_gate)
        {
            if (seq <= _ackedSeq)
            {
                waiter.Acknowledge();
                return;
            }

            if (_waiters.Count >= 1024)
            {
                _waiters.RemoveAll(w => w.Waiter.IsDone);
            }

            _waiters.Add((seq, waiter));
        }
    }

    private void AckLocked(ulong seq)
    {
        if (seq > _ackedSeq)
        {
            _ackedSeq = seq;
        }

        while (_head < _buffer.Count && _buffer[_head].Seq <= seq)
        {
            _head++;
            _firstBuffered++;
        }

        if (_head > 1024 && _head > _buffer.Count / 2)
        {
            _buffer.RemoveRange(0, _head);
            _head = 0;
        }
    }

    private static ulong NewEpoch()
    {
        ulong e;
        do
        {
            e = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        }
        while (e == 0);
        return e;
    }
}

/// <summary>A sync publish waiting for the first peer ack.</summary>
internal sealed class SyncWaiter
{
    private readonly TaskCompletionSource _acked = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Acked => _acked.Task;

    public bool IsDone => _acked.Task.IsCompleted;

    public void Acknowledge() => _acked.TrySetResult();

    public void Abandon() => _acked.TrySetCanceled();
}
