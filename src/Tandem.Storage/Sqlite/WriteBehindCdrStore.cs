namespace Tandem.Storage.Sqlite;

/// <summary>
/// Write-behind decorator over <see cref="SqliteCdrStore"/>, the store the server appends through:
/// <see cref="AppendAsync"/> queues the record and returns at once (the dialog tracker calls it on
/// the proxy's hot path); a background writer commits everything queued in one transaction per
/// flush interval, or sooner when <see cref="WriteBehindOptions.MaxBatchSize"/> records are pending
/// or someone waits in <see cref="FlushAsync"/>.
/// </summary>
/// <remarks>
/// What a crash can lose: the records of calls that ended since the last committed batch — at most
/// one flush interval's worth in normal operation (plus one commit), more while the disk fails
/// (batches are kept and retried every interval). While the disk fails the queue is capped at
/// <c>maxPending</c> records; records beyond it are dropped and counted in <see cref="Dropped"/>.
/// Committed batches survive power loss (synchronous=FULL). <see cref="DisposeAsync"/> writes
/// everything queued. Reads flush first.
/// </remarks>
public sealed class WriteBehindCdrStore : ICdrStore
{
    private readonly SqliteCdrStore _inner;
    private readonly TimeSpan _interval;
    private readonly int _maxBatchSize;
    private readonly int _maxPending;
    private readonly Action<Exception>? _onWriteError;
    private readonly Lock _gate = new();
    private readonly List<(long Target, TaskCompletionSource Done)> _waiters = [];
    private readonly Task _writer;

    private List<CallDetailRecord> _pending = [];
    private long _accepted;
    private long _persisted;
    private TaskCompletionSource _wake = NewSignal();
    private bool _stopping;
    private Exception? _finalError;
    private long _batchesWritten;
    private long _recordsWritten;
    private long _dropped;

    /// <param name="inner">The SQLite store the batches are committed to; disposed with this one.</param>
    /// <param name="options">Flush interval, batch size and error callback (the binding store's options type).</param>
    /// <param name="maxPending">Records kept in memory at most while the disk fails; newer ones are dropped.</param>
    public WriteBehindCdrStore(SqliteCdrStore inner, WriteBehindOptions? options = null, int maxPending = 1_000_000)
    {
        options ??= new WriteBehindOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.FlushInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPending, 1);
        _inner = inner;
        _interval = options.FlushInterval;
        _maxBatchSize = options.MaxBatchSize;
        _maxPending = maxPending;
        _onWriteError = options.OnWriteError;
        _writer = Task.Run(RunWriterAsync);
    }

    /// <summary>Transactions committed so far.</summary>
    public long BatchesWritten => Interlocked.Read(ref _batchesWritten);

    /// <summary>Records committed so far (records whose id was already stored are counted too).</summary>
    public long RecordsWritten => Interlocked.Read(ref _recordsWritten);

    /// <summary>Records refused because <c>maxPending</c> records were already waiting for the disk.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Records accepted but not yet committed.</summary>
    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    public ValueTask AppendAsync(CallDetailRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            if (_pending.Count >= _maxPending)
            {
                _dropped++;
                return ValueTask.CompletedTask;
            }

            _pending.Add(record);
            _accepted++;
            if (_pending.Count == 1 || _pending.Count >= _maxBatchSize)
            {
                _wake.TrySetResult();
            }
        }

        return ValueTask.CompletedTask;
    }

    public async Task<IReadOnlyList<CallDetailRecord>> ListAsync(CdrQuery query, CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken);
        return await _inner.ListAsync(query, cancellationToken);
    }

    /// <summary>Completes when every record accepted before the call is committed; faults if that batch failed.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default)
    {
        TaskCompletionSource done;
        lock (_gate)
        {
            if (_persisted >= _accepted)
            {
                return Task.CompletedTask;
            }

            if (_stopping && _writer.IsCompleted)
            {
                return Task.FromException(new StorageException("the CDR store is closed with unwritten records", _finalError!));
            }

            done = NewSignal();
            _waiters.Add((_accepted, done));
            _wake.TrySetResult();
        }

        return done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Stops the writer after committing everything queued. Throws if the last batch cannot be written.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            _wake.TrySetResult();
        }

        await _writer;
        await _inner.DisposeAsync();
        if (_finalError is not null)
        {
            throw new StorageException("call detail records could not be written before shutdown", _finalError);
        }
    }

    private bool IsUrgent => _stopping || _waiters.Count > 0 || _pending.Count >= _maxBatchSize;

    private async Task RunWriterAsync()
    {
        while (true)
        {
            Task idle;
            lock (_gate)
            {
                RearmWake();
                if (_pending.Count == 0 && _stopping)
                {
                    return;
                }

                idle = _pending.Count > 0 ? Task.CompletedTask : _wake.Task;
            }

            await idle;

            // Let the batch gather for one interval unless it is full, flushed or stopping.
            Task cutShort;
            lock (_gate)
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
                lock (_gate)
                {
                    if (_stopping)
                    {
                        return;
                    }
                }

                await Task.Delay(_interval);
            }
        }
    }

    private async Task<bool> WriteBatchAsync()
    {
        List<CallDetailRecord> batch;
        long target;
        lock (_gate)
        {
            if (_pending.Count == 0)
            {
                return true;
            }

            batch = _pending;
            target = _accepted;
            _pending = [];
        }

        try
        {
            await _inner.AppendBatchAsync(batch);
        }
        catch (Exception error)
        {
            lock (_gate)
            {
                // Put the batch back in front of anything queued since, keeping the order.
                batch.AddRange(_pending);
                _pending = batch;
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

        lock (_gate)
        {
            _persisted = target;
            _finalError = null;
            _batchesWritten++;
            _recordsWritten += batch.Count;
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
