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
public sealed class WriteBehindCdrStore : ICdrStore, IWriteBehindBuffer<List<CallDetailRecord>>
{
    private readonly SqliteCdrStore _inner;
    private readonly int _maxPending;
    private readonly WriteBehindQueue<List<CallDetailRecord>> _queue;

    private List<CallDetailRecord> _pending = [];
    private long _dropped;

    /// <param name="inner">The SQLite store the batches are committed to; disposed with this one.</param>
    /// <param name="options">Flush interval, batch size and error callback (the binding store's options type).</param>
    /// <param name="maxPending">Records kept in memory at most while the disk fails; newer ones are dropped.</param>
    public WriteBehindCdrStore(SqliteCdrStore inner, WriteBehindOptions? options = null, int maxPending = 1_000_000)
    {
        options ??= new WriteBehindOptions();
        _queue = new WriteBehindQueue<List<CallDetailRecord>>(this, options);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPending, 1);
        _inner = inner;
        _maxPending = maxPending;
        _queue.Start();
    }

    /// <summary>Transactions committed so far.</summary>
    public long BatchesWritten => _queue.BatchesWritten;

    /// <summary>Records committed so far (records whose id was already stored are counted too).</summary>
    public long RecordsWritten => _queue.ItemsWritten;

    /// <summary>Records refused because <c>maxPending</c> records were already waiting for the disk.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Records accepted but not yet committed.</summary>
    public int PendingCount
    {
        get
        {
            lock (_queue.Gate)
            {
                return _pending.Count;
            }
        }
    }

    bool IWriteBehindBuffer<List<CallDetailRecord>>.HasWork => _pending.Count > 0;

    int IWriteBehindBuffer<List<CallDetailRecord>>.PendingCount => _pending.Count;

    public ValueTask AppendAsync(CallDetailRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_queue.Gate)
        {
            ObjectDisposedException.ThrowIf(_queue.IsStopping, this);
            if (_pending.Count >= _maxPending)
            {
                _dropped++;
                return ValueTask.CompletedTask;
            }

            _pending.Add(record);
            _queue.Accept(wake: _pending.Count == 1 || _pending.Count >= _queue.MaxBatchSize);
        }

        return ValueTask.CompletedTask;
    }

    public async Task<IReadOnlyList<CallDetailRecord>> ListAsync(CdrQuery query, CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken);
        return await _inner.ListAsync(query, cancellationToken);
    }

    /// <summary>Completes when every record accepted before the call is committed; faults if that batch failed.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) =>
        _queue.FlushAsync("the CDR store is closed with unwritten records", cancellationToken);

    /// <summary>Stops the writer after committing everything queued. Throws if the last batch cannot be written.</summary>
    public ValueTask DisposeAsync() =>
        _queue.DisposeAsync(_inner, "call detail records could not be written before shutdown");

    List<CallDetailRecord> IWriteBehindBuffer<List<CallDetailRecord>>.TakeBatch()
    {
        var batch = _pending;
        _pending = [];
        return batch;
    }

    void IWriteBehindBuffer<List<CallDetailRecord>>.PutBack(List<CallDetailRecord> batch)
    {
        // Put the batch back in front of anything queued since, keeping the order.
        batch.AddRange(_pending);
        _pending = batch;
    }

    Task IWriteBehindBuffer<List<CallDetailRecord>>.WriteAsync(List<CallDetailRecord> batch) => _inner.AppendBatchAsync(batch);

    int IWriteBehindBuffer<List<CallDetailRecord>>.CountOf(List<CallDetailRecord> batch) => batch.Count;
}
