using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Security.Cryptography;
using System.Text;

namespace Tandem.Cluster.Replication;

/// <summary>A change applied to a <see cref="ReplicatedStore"/>.</summary>
/// <param name="Record">The record now stored (may be a tombstone).</param>
/// <param name="Previous">The record it replaced, or null when the key was unknown.</param>
/// <param name="Source">
/// Null for a local write (<see cref="ReplicationNode.PublishAsync"/>) or a load from persistence;
/// otherwise the peer the record came from.
/// </param>
public sealed record RecordChange(ReplicatedRecord Record, ReplicatedRecord? Previous, NodeId? Source)
{
    public bool IsLocal => Source is null;
}

/// <summary>
/// The replicated state of one node: one map per kind, last-writer-wins by <see cref="RecordVersion"/>.
/// Applying a record is idempotent and commutative, so records may arrive twice or in any order.
/// Deletions are tombstones, kept for <see cref="TombstoneRetention"/> and then purged.
/// Thread-safe (one lock).
/// </summary>
public sealed class ReplicatedStore
{
    /// <summary>Buckets per kind in the state digest (fixed: peers compare bucket by bucket).</summary>
    public const int DigestBuckets = 64;

    private readonly object _gate = new();
    private readonly Dictionary<string, KindState> _kinds = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public ReplicatedStore(TimeSpan? tombstoneRetention = null, TimeProvider? timeProvider = null)
    {
        TombstoneRetention = tombstoneRetention ?? TimeSpan.FromHours(1);
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// How long a tombstone is kept, measured from its version's wall time. A node that was away
    /// longer than this may bring back a deleted key (it then replicates as live again): keep it
    /// longer than the longest outage after which a node may return with its old state.
    /// </summary>
    public TimeSpan TombstoneRetention { get; }

    /// <summary>
    /// Raised for every change, synchronously, in apply order, while the store's lock is held:
    /// handlers must be quick (queue the work) and must not block on other threads that use the store.
    /// Not raised when a record is ignored (older or equal version).
    /// </summary>
    public event Action<RecordChange>? Changed;

    /// <summary>Live (non-deleted) records across all kinds.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _kinds.Values.Sum(k => k.Live);
            }
        }
    }

    /// <summary>Tombstones currently kept.</summary>
    public int TombstoneCount
    {
        get
        {
            lock (_gate)
            {
                return _kinds.Values.Sum(k => k.Records.Count - k.Live);
            }
        }
    }

    /// <summary>
    /// Applies a record: stores it when its version is higher than the stored one (or the key is
    /// unknown). Returns true when the state changed; false for a duplicate or an older version.
    /// </summary>
    public bool Apply(ReplicatedRecord record, NodeId? source = null)
    {
        ArgumentNullException.ThrowIfNull(record);
        record.Validate();
        lock (_gate)
        {
            if (!_kinds.TryGetValue(record.Kind, out KindState? kind))
            {
                kind = new KindState();
                _kinds.Add(record.Kind, kind);
            }

            Entry? previous = kind.Records.GetValueOrDefault(record.Key);
            if (previous is not null && previous.Record.Version >= record.Version)
            {
                return false;
            }

            var entry = new Entry(record, RecordHash(record), Bucket(record.Key));
            kind.Records[record.Key] = entry;
            if (previous is not null && !previous.Record.Deleted)
            {
                kind.Buckets[previous.Bucket] -= previous.Hash;
                kind.Live--;
            }

            if (!record.Deleted)
            {
                kind.Buckets[entry.Bucket] += entry.Hash;
                kind.Live++;
            }

            Changed?.Invoke(new RecordChange(record, previous?.Record, source));
            return true;
        }
    }

    /// <summary>The stored record (possibly a tombstone), or null.</summary>
    public ReplicatedRecord? Get(string kind, string key)
    {
        lock (_gate)
        {
            return _kinds.TryGetValue(kind, out KindState? k) && k.Records.TryGetValue(key, out Entry? e) ? e.Record : null;
        }
    }

    /// <summary>Live records of one kind.</summary>
    public IReadOnlyList<ReplicatedRecord> GetAll(string kind)
    {
        lock (_gate)
        {
            return _kinds.TryGetValue(kind, out KindState? k)
                ? k.Records.Values.Where(e => !e.Record.Deleted).Select(e => e.Record).ToList()
                : [];
        }
    }

    /// <summary>Every record including tombstones: what a full state transfer sends.</summary>
    public IReadOnlyList<ReplicatedRecord> Snapshot() => Snapshot(null);

    /// <summary>Snapshot, running <paramref name="underLock"/> atomically with it (no change can come between).</summary>
    internal IReadOnlyList<ReplicatedRecord> Snapshot(Action? underLock)
    {
        lock (_gate)
        {
            underLock?.Invoke();
            var all = new List<ReplicatedRecord>(_kinds.Values.Sum(k => k.Records.Count));
            foreach (KindState k in _kinds.Values)
            {
                all.AddRange(k.Records.Values.Select(e => e.Record));
            }

            return all;
        }
    }

    /// <summary>Records (including tombstones) of one digest bucket of a kind, for repairing a mismatch.</summary>
    public IReadOnlyList<ReplicatedRecord> GetBucket(string kind, int bucket)
    {
        lock (_gate)
        {
            return _kinds.TryGetValue(kind, out KindState? k)
                ? k.Records.Values.Where(e => e.Bucket == bucket).Select(e => e.Record).ToList()
                : [];
        }
    }

    /// <summary>The highest version stored, for advancing the clock after a load.</summary>
    public RecordVersion MaxVersion()
    {
        lock (_gate)
        {
            RecordVersion max = RecordVersion.Zero;
            foreach (KindState k in _kinds.Values)
            {
                foreach (Entry e in k.Records.Values)
                {
                    if (e.Record.Version > max)
                    {
                        max = e.Record.Version;
                    }
                }
            }

            return max;
        }
    }

    /// <summary>Drops tombstones older than <see cref="TombstoneRetention"/>; returns them.</summary>
    public IReadOnlyList<ReplicatedRecord> PurgeTombstones()
    {
        long cutoff = _time.GetUtcNow().ToUnixTimeMilliseconds() - (long)TombstoneRetention.TotalMilliseconds;
        var purged = new List<ReplicatedRecord>();
        lock (_gate)
        {
            foreach (KindState k in _kinds.Values)
            {
                foreach (Entry e in k.Records.Values)
                {
                    if (e.Record.Deleted && e.Record.Version.WallMs < cutoff)
                    {
                        purged.Add(e.Record);
                    }
                }

                foreach (ReplicatedRecord r in purged.Where(p => k.Records.TryGetValue(p.Key, out Entry? e) && ReferenceEquals(e.Record, p)))
                {
                    k.Records.Remove(r.Key);
                }
            }
        }

        return purged;
    }

    /// <summary>
    /// Order-independent digest of the live state: per kind, <see cref="DigestBuckets"/> sums of
    /// per-record hashes (key, version, value), the bucket chosen by the key. Two nodes holding the
    /// same live records have equal digests whatever order the records arrived in; tombstones are
    /// not part of it (a tombstone and an absent key are the same state). Maintained incrementally:
    /// computing it costs O(kinds × buckets).
    /// </summary>
    public StateDigest StateDigest()
    {
        lock (_gate)
        {
            var kinds = new List<KindDigest>();
            foreach ((string name, KindState k) in _kinds)
            {
                if (k.Live > 0)
                {
                    kinds.Add(new KindDigest(name, k.Live, (ulong[])k.Buckets.Clone()));
                }
            }

            return new StateDigest(kinds);
        }
    }

    internal static int Bucket(string key)
    {
        // FNV-1a over the UTF-8 key: stable across processes (string.GetHashCode is not).
        uint h = 2166136261;
        int length = Encoding.UTF8.GetMaxByteCount(key.Length);
        Span<byte> bytes = length <= 256 ? stackalloc byte[256] : new byte[length];
        int n = Encoding.UTF8.GetBytes(key, bytes);
        foreach (byte b in bytes[..n])
        {
            h = (h ^ b) * 16777619;
        }

        return (int)(h % DigestBuckets);
    }

    private static ulong RecordHash(ReplicatedRecord record)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(record.Key));
        Span<byte> version = stackalloc byte[1 + record.Version.SerializedLength];
        version[0] = 0;
        record.Version.WriteTo(version[1..]);
        hash.AppendData(version);
        hash.AppendData(record.Value.Span);
        Span<byte> result = stackalloc byte[32];
        hash.GetHashAndReset(result);
        return BinaryPrimitives.ReadUInt64BigEndian(result);
    }

    private sealed class KindState
    {
        public Dictionary<string, Entry> Records { get; } = new(StringComparer.Ordinal);

        public ulong[] Buckets { get; } = new ulong[DigestBuckets];

        public int Live { get; set; }
    }

    private sealed record Entry(ReplicatedRecord Record, ulong Hash, int Bucket);
}

/// <summary>Digest of one kind's live records.</summary>
public sealed class KindDigest
{
    public KindDigest(string kind, long count, IReadOnlyList<ulong> buckets)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        if (buckets.Count != ReplicatedStore.DigestBuckets)
        {
            throw new ArgumentException($"A kind digest has {ReplicatedStore.DigestBuckets} buckets.", nameof(buckets));
        }

        Kind = kind;
        Count = count;
        Buckets = new ReadOnlyCollection<ulong>(buckets.ToArray());
        Span<byte> bytes = stackalloc byte[8 * ReplicatedStore.DigestBuckets];
        for (int i = 0; i < Buckets.Count; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes[(i * 8)..], Buckets[i]);
        }

        Value = BinaryPrimitives.ReadUInt64BigEndian(SHA256.HashData(bytes));
    }

    public string Kind { get; }

    /// <summary>Live records of the kind.</summary>
    public long Count { get; }

    public IReadOnlyList<ulong> Buckets { get; }

    /// <summary>Hash of the buckets: equal values mean equal live state (with overwhelming probability).</summary>
    public ulong Value { get; }
}

/// <summary>Digest of a store's whole live state; see <see cref="ReplicatedStore.StateDigest"/>.</summary>
public sealed class StateDigest : IEquatable<StateDigest>
{
    public StateDigest(IEnumerable<KindDigest> kinds)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        var sorted = new SortedDictionary<string, KindDigest>(StringComparer.Ordinal);
        foreach (KindDigest k in kinds)
        {
            if (k.Count > 0)
            {
                sorted[k.Kind] = k;
            }
        }

        Kinds = new ReadOnlyDictionary<string, KindDigest>(new Dictionary<string, KindDigest>(sorted, StringComparer.Ordinal));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[16];
        foreach (KindDigest k in sorted.Values)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(k.Kind));
            BinaryPrimitives.WriteInt64BigEndian(number, k.Count);
            BinaryPrimitives.WriteUInt64BigEndian(number[8..], k.Value);
            hash.AppendData(number);
        }

        Combined = BinaryPrimitives.ReadUInt64BigEndian(hash.GetHashAndReset());
    }

    /// <summary>Kinds with at least one live record, by name.</summary>
    public IReadOnlyDictionary<string, KindDigest> Kinds { get; }

    /// <summary>One number for the whole state: equal on two nodes means converged.</summary>
    public ulong Combined { get; }

    /// <summary>The (kind, bucket) pairs whose contents differ between the two digests.</summary>
    public IReadOnlyList<(string Kind, int Bucket)> Differences(StateDigest other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var result = new List<(string, int)>();
        foreach (string kind in Kinds.Keys.Union(other.Kinds.Keys, StringComparer.Ordinal))
        {
            KindDigest? mine = Kinds.GetValueOrDefault(kind);
            KindDigest? theirs = other.Kinds.GetValueOrDefault(kind);
            for (int b = 0; b < ReplicatedStore.DigestBuckets; b++)
            {
                if ((mine?.Buckets[b] ?? 0) != (theirs?.Buckets[b] ?? 0))
                {
                    result.Add((kind, b));
                }
            }
        }

        return result;
    }

    public bool Equals(StateDigest? other) => other is not null && Combined == other.Combined;

    public override bool Equals(object? obj) => Equals(obj as StateDigest);

    public override int GetHashCode() => Combined.GetHashCode();

    public override string ToString() => $"{Combined:x16} ({string.Join(", ", Kinds.Values.Select(k => $"{k.Kind}={k.Count}"))})";
}
