namespace Tandem.Storage.Sqlite;

/// <summary>
/// What a write-behind store keeps pending, as seen by <see cref="WriteBehindQueue{TBatch}"/>.
/// Every member except <see cref="WriteAsync"/> is called under <see cref="WriteBehindQueue{TBatch}.Gate"/>.
/// </summary>
internal interface IWriteBehindBuffer<TBatch>
{
    /// <summary>Whether anything is queued that the next batch would write.</summary>
    bool HasWork { get; }

    /// <summary>Items queued; a batch is urgent once this reaches the maximum batch size.</summary>
    int PendingCount { get; }

    /// <summary>Takes everything queued as one batch and leaves the buffer empty (called only when <see cref="HasWork"/>).</summary>
    TBatch TakeBatch();

    /// <summary>Puts a batch that failed back together with anything queued since it was taken.</summary>
    void PutBack(TBatch batch);

    /// <summary>Commits one batch (called on the writer task, outside the lock).</summary>
    Task WriteAsync(TBatch batch);

    /// <summary>Items a committed batch counts for in <see cref="WriteBehindQueue{TBatch}.ItemsWritten"/>.</summary>
    int CountOf(TBatch batch);
}

/// <summary>
/// The write-behind machinery shared by <see cref="WriteBehindBindingStore"/> and
/// <see cref="WriteBehindCdrStore"/>: accepted/persisted sequence numbers, the waiters of
/// <see cref="FlushAsync"/>, the wake signal and the writer task, which commits what the buffer
/// holds once per flush interval, sooner when the batch is full, flushed or stopping, and keeps a
/// failed batch to retry it after one interval.
/// </summary>
/// <remarks>
/// The buffer (what is pending and how changes combine) belongs to the store; the store mutates it
/// under <see cref="Gate"/> and reports each accepted change through <see cref="Accept"/>.
/// </remarks>
internal sealed class WriteBehindQueue<TBatch>
{
    private readonly IWriteBehindBuffer<TBatch> _buffer;
    private readonly TimeSpan _interval;
    private readonly Action<Exception>? _onWriteError;
    private readonly List<(long Target, TaskCompletionSource Done)> _waiters = [];

    private Task? _writer;
    private long _accepted;
    private long _persisted;
    private TaskCompletionSource _wake = NewSignal();
    private bool _stopping;
    private Exception? _finalError;
    private long _batchesWritten;
    private long _itemsWritten;

    public WriteBehindQueue(IWriteBehindBuffer<TBatch> buffer, WriteBehindOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.FlushInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchSize, 1);
        _buffer = buffer;
        _interval = options.FlushInterval;
        MaxBatchSize = options.MaxBatchSize;
        _onWriteError = options.OnWriteError;
    }

    /// <summary>Guards the buffer and the queue's own state.</summary>
    public Lock Gate { get; } = new();

    public int MaxBatchSize { get; }

    /// <summary>Whether the store is disposing (read under <see cref="Gate"/>).</summary>
    public bool IsStopping => _stopping;

    /// <summary>Callers of <see cref="FlushAsync"/> still waiting; read without the lock (a heuristic for load shedding).</summary>
    public int WaitingFlushes => _waiters.Count;

    /// <summary>Transactions committed so far.</summary>
    public long BatchesWritten => Interlocked.Read(ref _batchesWritten);

    /// <summary>Items committed so far, as counted by <see cref="IWriteBehindBuffer{TBatch}.CountOf"/>.</summary>
    public long ItemsWritten => Interlocked.Read(ref _itemsWritten);

    /// <summary>Starts the writer task; called once, when the store is fully constructed.</summary>
    public void Start() => _writer = Task.Run(RunWriterAsync);

    /// <summary>Called under <see cref="Gate"/> after a change was queued; <paramref name="wake"/> wakes the writer.</summary>
    public void Accept(bool wake)
    {
        _accepted++;
        if (wake)
        {
            _wake.TrySetResult();
        }
    }

    /// <summary>Completes when every change accepted before the call is committed; faults if that batch failed.</summary>
    public Task FlushAsync(string closedMessage, CancellationToken cancellationToken)
    {
        TaskCompletionSource done;
        lock (Gate)
        {
            if (_persisted >= _accepted)
            {
                return Task.CompletedTask;
            }

            if (_stopping && Writer.IsCompleted)
            {
                return Task.FromException(new StorageException(closedMessage, _finalError!));
            }

            done = NewSignal();
            _waiters.Add((_accepted, done));
            _wake.TrySetResult();
        }

        return cancellationToken.CanBeCanceled ? done.Task.WaitAsync(cancellationToken) : done.Task;
    }

    /// <summary>
    /// Stops the writer after it has committed everything queued, then disposes
    /// <paramref name="inner"/>; throws a <see cref="StorageException"/> carrying
    /// <paramref name="unwrittenMessage"/> if the last batch could not be written. Does nothing
    /// if the queue is already stopping.
    /// </summary>
    public async ValueTask DisposeAsync(IAsyncDisposable inner, string unwrittenMessage)
    {
        lock (Gate)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            _wake.TrySetResult();
        }

        await Writer;
        await inner.DisposeAsync();
        if (_finalError is not null)
        {
            throw new StorageException(unwrittenMessage, _finalError);
        }
    }

    private Task Writer => _writer ?? throw new InvalidOperationException("the write-behind writer was not started");

    private bool IsUrgent => _stopping || _waiters.Count > 0 || _buffer.PendingCount >= MaxBatchSize;

    private async Task RunWriterAsync()
    {
        while (true)
        {
            // Sleep until there is something to write.
            Task idle;
            lock (Gate)
            {
                RearmWake();
                if (!_buffer.HasWork && _stopping)
                {
                    return;
                }

                idle = _buffer.HasWork ? Task.CompletedTask : _wake.Task;
            }

            await idle;

            // Let the batch gather for one interval unless it is full, flushed or stopping.
            Task cutShort;
            lock (Gate)
            {
                RearmWake();
                cutShort = IsUrgent ? Task.CompletedTask : _wake.Task;
            }

            if (!cutShort.IsCompleted)
            {
                await Task.WhenAny(cutShort, Task.Delay(_interval));
            }

            if (!await WriteBatchAsync())
            {
                lock (Gate)
                {
                    if (_stopping)
                    {
                        return;
                    }
                }

                // Back off one interval before retrying a failed batch.
                await Task.Delay(_interval);
            }
        }
    }

    private async Task<bool> WriteBatchAsync()
    {
        TBatch batch;
        long target;
        lock (Gate)
        {
            if (!_buffer.HasWork)
            {
                return true;
            }

            batch = _buffer.TakeBatch();
            target = _accepted;
        }

        try
        {
            await _buffer.WriteAsync(batch);
        }
        catch (Exception error)
        {
            lock (Gate)
            {
                _buffer.PutBack(batch);
                foreach (var (_, done) in _waiters)
                {
                    done.TrySetException(error);
                }

                _waiters.Clear();
                _finalError = error;
            }

            _onWriteError?.Invoke(error);
            return false;
        }

        lock (Gate)
        {
            _persisted = target;
            _finalError = null;
            _batchesWritten++;
            _itemsWritten += _buffer.CountOf(batch);
            _waiters.RemoveAll(w =>
            {
                if (w.Target > target)
                {
                    return false;
                }

                w.Done.TrySetResult();
                return true;
            });
        }

        return true;
    }

    // Called under the lock: a completed signal has been seen, arm a fresh one.
    private void RearmWake()
    {
        if (_wake.Task.IsCompleted)
        {
            _wake = NewSignal();
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
