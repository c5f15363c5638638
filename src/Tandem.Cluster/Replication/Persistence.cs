namespace Tandem.Cluster.Replication;

/// <summary>
/// Where a node keeps its replicated state across restarts. The node loads everything at start and
/// then reports every change in batches (written behind, from one background task: calls are never
/// concurrent). Implementations must keep, per (kind, key), the record with the highest version,
/// tombstones included (a tombstone must survive a restart or a deleted key could come back).
/// </summary>
public interface IReplicatedPersistence
{
    Task<IReadOnlyList<ReplicatedRecord>> LoadAllAsync(CancellationToken cancellationToken);

    /// <summary>Upserts each record by (kind, key), keeping the higher version if one is stored already.</summary>
    Task SaveAsync(IReadOnlyList<ReplicatedRecord> records, CancellationToken cancellationToken);

    /// <summary>Removes purged tombstones (only if the stored version is still that tombstone's).</summary>
    Task RemoveAsync(IReadOnlyList<ReplicatedRecord> purgedTombstones, CancellationToken cancellationToken);
}

/// <summary>In-memory <see cref="IReplicatedPersistence"/> for tests: survives a node, not the process.</summary>
public sealed class InMemoryReplicatedPersistence : IReplicatedPersistence
{
    private readonly object _gate = new();
    private readonly Dictionary<(string Kind, string Key), ReplicatedRecord> _records = [];
    private long _saves;

    /// <summary>Number of <see cref="SaveAsync"/> calls.</summary>
    public long SaveCalls => Interlocked.Read(ref _saves);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _records.Count;
            }
        }
    }

    public ReplicatedRecord? Get(string kind, string key)
    {
        lock (_gate)
        {
            return _records.GetValueOrDefault((kind, key));
        }
    }

    public Task<IReadOnlyList<ReplicatedRecord>> LoadAllAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<ReplicatedRecord>>(_records.Values.ToList());
        }
    }

    public Task SaveAsync(IReadOnlyList<ReplicatedRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        Interlocked.Increment(ref _saves);
        lock (_gate)
        {
            foreach (ReplicatedRecord r in records)
            {
                if (!_records.TryGetValue((r.Kind, r.Key), out ReplicatedRecord? old) || old.Version < r.Version)
                {
                    _records[(r.Kind, r.Key)] = r;
                }
            }
        }

        return Task.CompletedTask;
    }

    public Task RemoveAsync(IReadOnlyList<ReplicatedRecord> purgedTombstones, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(purgedTombstones);
        lock (_gate)
        {
            foreach (ReplicatedRecord r in purgedTombstones)
            {
                if (_records.TryGetValue((r.Kind, r.Key), out ReplicatedRecord? old) && old.Version == r.Version)
                {
                    _records.Remove((r.Kind, r.Key));
                }
            }
        }

        return Task.CompletedTask;
    }
}
