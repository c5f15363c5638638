namespace Tandem.Storage.Sqlite;

public sealed class WriteBehindOptions
{
    /// <summary>How long changes gather before one transaction writes them.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>A batch is written at once, without waiting for the interval, when this many bindings are pending.</summary>
    public int MaxBatchSize { get; init; } = 1000;

    /// <summary>Called (on the writer task) when a batch fails; the batch is kept and retried after one interval.</summary>
    public Action<Exception>? OnWriteError { get; init; }
}

/// <summary>
/// Write-behind decorator over <see cref="SqliteBindingStore"/>: <see cref="UpsertAsync"/>,
/// <see cref="DeleteAsync"/> and <see cref="DeleteExpiredAsync"/> queue the change and return at
/// once; a background writer commits everything queued in one transaction per flush interval, or
/// sooner when <see cref="WriteBehindOptions.MaxBatchSize"/> bindings are pending or someone waits
/// in <see cref="FlushAsync"/>. Changes to the same (AoR, contact) coalesce: only the latest is
/// written.
/// </summary>
/// <remarks>
/// What a crash can lose: every binding change acknowledged since the last committed batch — at
/// most one flush interval's worth in normal operation (plus the time one batch takes to commit),
/// more only while the disk is failing (batches are retried, see <see cref="WriteBehindOptions.OnWriteError"/>).
/// Committed batches survive power loss because the database runs with synchronous=FULL.
/// A clean shutdown (<see cref="DisposeAsync"/>) loses nothing. Reads flush first, so they always
/// see the caller's own changes.
/// </remarks>
public sealed class WriteBehindBindingStore : IBindingStore, IWriteBehindBuffer<WriteBehindBindingStore.Batch>
{
    private readonly SqliteBindingStore _inner;
    private readonly WriteBehindQueue<Batch> _queue;

    private Dictionary<(string Aor, string ContactUri), BindingChange> _pending = [];
    private DateTimeOffset? _pendingSweep;

    public WriteBehindBindingStore(SqliteBindingStore inner, WriteBehindOptions? options = null)
    {
        options ??= new WriteBehindOptions();
        _inner = inner;
        _queue = new WriteBehindQueue<Batch>(this, options);
        _queue.Start();
    }

    /// <summary>Transactions committed so far (for tests and metrics).</summary>
    public long BatchesWritten => _queue.BatchesWritten;

    /// <summary>Binding rows written or deleted so far, after coalescing.</summary>
    public long ChangesWritten => _queue.ItemsWritten;

    /// <summary>Changes accepted but not yet committed.</summary>
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

    bool IWriteBehindBuffer<Batch>.HasWork => HasWork;

    int IWriteBehindBuffer<Batch>.PendingCount => _pending.Count;

    public async Task<IReadOnlyList<Binding>> LoadAllAsync(CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken);
        return await _inner.LoadAllAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<Binding>> ListAsync(string? aor, CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken);
        return await _inner.ListAsync(aor, cancellationToken);
    }

    public ValueTask UpsertAsync(Binding binding, CancellationToken cancellationToken = default)
    {
        Enqueue(new BindingChange(binding.Aor, binding.ContactUri, binding));
        return ValueTask.CompletedTask;
    }

    public ValueTask DeleteAsync(string aor, string contactUri, CancellationToken cancellationToken = default)
    {
        Enqueue(new BindingChange(aor, contactUri, null));
        return ValueTask.CompletedTask;
    }

    public ValueTask DeleteExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        lock (_queue.Gate)
        {
            ObjectDisposedException.ThrowIf(_queue.IsStopping, this);
            var hadWork = HasWork;
            // The sweep runs first in the batch, so a queued upsert that is already expired would
            // survive it: turn such upserts into deletes now, keeping the order the caller saw.
            ExpireQueued(_pending, now);
            _pendingSweep = _pendingSweep is { } earlier && earlier > now ? earlier : now;
            _queue.Accept(wake: !hadWork);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Completes when every change accepted before the call is committed; faults if that batch failed.</summary>
    /// <summary>Callers of <see cref="FlushAsync"/> waiting for the commit of what they queued.</summary>
    internal int WaitingFlushes => _queue.WaitingFlushes;

    public Task FlushAsync(CancellationToken cancellationToken = default) =>
        _queue.FlushAsync("the write-behind store is closed with unwritten changes", cancellationToken);

    /// <summary>Stops the writer after committing everything queued. Throws if the last batch cannot be written.</summary>
    public ValueTask DisposeAsync() =>
        _queue.DisposeAsync(_inner, "binding changes could not be written before shutdown");

    Batch IWriteBehindBuffer<Batch>.TakeBatch()
    {
        var batch = new Batch(_pending, _pendingSweep);
        _pending = [];
        _pendingSweep = null;
        return batch;
    }

    void IWriteBehindBuffer<Batch>.PutBack(Batch batch)
    {
        // Put the batch back under anything queued since; newer changes win.
        if (_pendingSweep is { } newerSweep)
        {
            ExpireQueued(batch.Changes, newerSweep);
        }

        foreach (var (key, change) in batch.Changes)
        {
            _pending.TryAdd(key, change);
        }

        if (batch.Sweep is { } failedSweep && (_pendingSweep is null || _pendingSweep < failedSweep))
        {
            _pendingSweep = failedSweep;
        }
    }

    Task IWriteBehindBuffer<Batch>.WriteAsync(Batch batch) => _inner.ApplyBatchAsync(batch.Sweep, batch.Changes.Values);

    int IWriteBehindBuffer<Batch>.CountOf(Batch batch) => batch.Changes.Count;

    private bool HasWork => _pending.Count > 0 || _pendingSweep is not null;

    private void Enqueue(BindingChange change)
    {
        lock (_queue.Gate)
        {
            ObjectDisposedException.ThrowIf(_queue.IsStopping, this);
            var hadWork = HasWork;
            _pending[(change.Aor, change.ContactUri)] = change;
            _queue.Accept(wake: !hadWork || _pending.Count >= _queue.MaxBatchSize);
        }
    }

    private static void ExpireQueued(Dictionary<(string Aor, string ContactUri), BindingChange> queue, DateTimeOffset now)
    {
        foreach (var (key, change) in queue)
        {
            if (change.Binding is { } binding && binding.ExpiresAt <= now)
            {
                queue[key] = change with { Binding = null };
            }
        }
    }

    /// <summary>The changes and the expiry sweep one transaction writes.</summary>
    internal readonly record struct Batch(Dictionary<(string Aor, string ContactUri), BindingChange> Changes, DateTimeOffset? Sweep);
}
