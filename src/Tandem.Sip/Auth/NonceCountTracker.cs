namespace Tandem.Sip.Auth;

/// <summary>
/// Replay protection by nonce-count (RFC 7616 §3.4 nc, §5.5 replay attacks): remembers the highest nc accepted per
/// nonce and rejects any nc not above it.
///
/// Cluster note: this state is per node and is not replicated. A captured request replayed to a
/// different node within the nonce lifetime is accepted there once. That is a deliberate
/// trade-off: replicating every nc on the REGISTER hot path would cost a round trip per request,
/// and the exposure is bounded by the nonce lifetime (default 300 s).
///
/// Memory stays bounded without per-entry timers: each shard keeps two generations of entries and
/// drops the older one whenever the current one is a retention period old, so an entry lives at
/// least one and at most two retention periods after first use. When a shard reaches its capacity
/// share it rotates early; nonces evicted that way lose replay protection for the rest of their
/// lifetime (fail open rather than lock out legitimate clients).
///
/// Entries are keyed by a 64-bit hash of the nonce text. Only feed nonces that
/// <see cref="NonceService"/> found authentic: they carry 96 random bits, so collisions are
/// negligible and cannot be chosen by an attacker.
/// </summary>
public sealed class NonceCountTracker
{
    public const int DefaultCapacity = 1_000_000;
    private const int ShardCount = 16;

    private readonly TimeProvider _time;
    private readonly long _retentionTicks;
    private readonly Shard[] _shards;

    /// <param name="retention">At least the nonce lifetime plus <see cref="NonceService.MaxClockSkew"/>.</param>
    /// <param name="capacity">Entries per generation (at most twice this are held, ~30 bytes each).</param>
    public NonceCountTracker(TimeSpan retention, TimeProvider? timeProvider = null, int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(retention, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, ShardCount);
        _time = timeProvider ?? TimeProvider.System;
        _retentionTicks = (long)(retention.TotalSeconds * _time.TimestampFrequency);
        _shards = new Shard[ShardCount];
        for (int i = 0; i < _shards.Length; i++)
        {
            _shards[i] = new Shard(capacity / ShardCount, _time.GetTimestamp());
        }
    }

    /// <summary>Entries currently held; a shard drops expired generations lazily, on its next use.</summary>
    public int Count => _shards.Sum(s => s.Count);

    /// <summary>True and records <paramref name="nonceCount"/> when it is above every nc seen for this nonce; false on replay.</summary>
    public bool TryAdvance(ReadOnlySpan<char> nonce, uint nonceCount)
    {
        ulong key = Fnv1a64(nonce);
        var shard = _shards[(int)(key >> 60)];
        return shard.TryAdvance(key, nonceCount, _time.GetTimestamp(), _retentionTicks);
    }

    private static ulong Fnv1a64(ReadOnlySpan<char> text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }
        return hash;
    }

    private sealed class Shard(int capacity, long now)
    {
        private readonly Lock _lock = new();
        private Dictionary<ulong, uint> _current = [];
        private Dictionary<ulong, uint> _previous = [];
        private long _currentStarted = now;

        public int Count
        {
            get
            {
                lock (_lock)
                {
                    return _current.Count + _previous.Count;
                }
            }
        }

        public bool TryAdvance(ulong key, uint nonceCount, long now, long retentionTicks)
        {
            lock (_lock)
            {
                long age = now - _currentStarted;
                if (age >= retentionTicks || _current.Count >= capacity)
                {
                    Rotate(now, dropBoth: age >= 2 * retentionTicks);
                }

                if (_current.TryGetValue(key, out uint seen) || _previous.TryGetValue(key, out seen))
                {
                    if (nonceCount <= seen)
                    {
                        return false;
                    }
                }
                _previous.Remove(key);
                _current[key] = nonceCount;
                return true;
            }
        }

        private void Rotate(long now, bool dropBoth)
        {
            // Reuse the dropped dictionary's storage rather than allocating a new one each period.
            (_previous, _current) = (_current, _previous);
            _current.Clear();
            if (dropBoth)
            {
                _previous.Clear();
            }
            _currentStarted = now;
        }
    }
}
