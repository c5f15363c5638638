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
public sealed class WriteBehindBindingStore : IBindingStore
{
    private readonly SqliteBindingStore _inner;
    private readonly TimeSpan _interval;
    private readonly int _maxBatchSize;
    private readonly Action<Exception>? _onWriteError;
    private readonly Lock _gate = new();
    private readonly List<(long Target, TaskCompletionSource Done)> _waiters = [];
    private readonly Task _writer;

    private Dictionary<(string Aor, string ContactUri), BindingChange> _pending = [];
    private DateTimeOffset? _pendingSweep;
    private long _accepted;
    private long _persisted;
    private TaskCompletionSource _wake = NewSignal();
    private bool _stopping;
    private Exception? _finalError;
    private long _batchesWritten;
    private long _changesWritten;

    public WriteBehindBindingStore(SqliteBindingStore inner, WriteBehindOptions? options = null)
    {
        options ??= new WriteBehindOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.FlushInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchSize, 1);
        _inner = inner;
        _interval = options.FlushInterval;
        _maxBatchSize = options.MaxBatchSize;
        _onWriteError = options.OnWriteError;
        _writer = Task.Run(RunWriterAsync);
    }

    /// <summary>Transactions committed so far (for tests and metrics).</summary>
    public long BatchesWritten => Interlocked.Read(ref _batchesWritten);

    /// <summary>Binding rows written or deleted so far, after coalescing.</summary>
    public long ChangesWritten => Interlocked.Read(ref _changesWritten);

    /// <summary>Changes accepted but not yet committed.</summary>
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
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            var hadWork = HasWork;
            // The sweep runs first in the batch, so a queued upsert that is already expired would
            // survive it: turn such upserts into deletes now, keeping the order the caller saw.
            ExpireQueued(_pending, now);
            _pendingSweep = _pendingSweep is { } earlier && earlier > now ? earlier : now;
            _accepted++;
            if (!hadWork)
            {
                _wake.TrySetResult();
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Completes when every change accepted before the call is committed; faults if that batch failed.</summary>
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
                return Task.FromException(new StorageException("the write-behind store is closed with unwritten changes", _finalError!));
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
            throw new StorageException("binding changes could not be written before shutdown", _finalError);
        }
    }

    private bool HasWork => _pending.Count > 0 || _pendingSweep is not null;

    private bool IsUrgent => _stopping || _waiters.Count > 0 || _pending.Count >= _maxBatchSize;

    private void Enqueue(BindingChange change)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            var hadWork = HasWork;
            _pending[(change.Aor, change.ContactUri)] = change;
            _accepted++;
            if (!hadWork || _pending.Count >= _maxBatchSize)
            {
                _wake.TrySetResult();
            }
        }
    }

    private async Task RunWriterAsync()
    {
        while (true)
        {
            // Sleep until there is something to write.
            Task idle;
            lock (_gate)
            {
                RearmWake();
                if (!HasWork && _stopping)
                {
                    return;
                }

                idle = HasWork ? Task.CompletedTask : _wake.Task;
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

                // Back off one interval before retrying a failed batch.
                await Task.Delay(_interval);
            }
        }
    }

    private async Task<bool> WriteBatchAsync()
    {
        Dictionary<(string Aor, string ContactUri), BindingChange> batch;
        DateTimeOffset? sweep;
        long target;
        lock (_gate)
        {
            if (!HasWork)
            {
                return true;
            }

            batch = _pending;
            sweep = _pendingSweep;
            target = _accepted;
            _pending = [];
            _pendingSweep = null;
        }

        try
        {
            await _inner.ApplyBatchAsync(sweep, batch.Values);
        }
        catch (Exception error)
        {
            lock (_gate)
            {
                // Put the batch back under anything queued since; newer changes win.
                if (_pendingSweep is { } newerSweep)
                {
                    ExpireQueued(batch, newerSweep);
                }

                foreach (var (key, change) in batch)
                {
                    _pending.TryAdd(key, change);
                }

                if (sweep is { } failedSweep && (_pendingSweep is null || _pendingSweep < failedSweep))
                {
                    _pendingSweep = failedSweep;
                }

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
            _changesWritten += batch.Count;
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
