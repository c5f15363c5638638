namespace Tandem.Sip.Transactions;

/// <summary>
/// The final answers of completed non-INVITE server transactions over unreliable transports, kept
/// for Timer J so that a retransmitted request gets the same answer again (RFC 3261 §17.2.2)
/// without keeping a transaction object per request for those 32 seconds.
/// </summary>
/// <remarks>
/// Why: a registrar answers thousands of REGISTERs a second with a 200 that must be replayable for
/// 32 s. As transaction objects (transaction, flow, end points, key strings, answer bytes, table
/// node, timer entry) every one of them survives two garbage collections and is copied into
/// generation 2, which cost more CPU than any other part of a REGISTER (docs/benchmarks.md).
/// Here an answer is a few hundred bytes appended to a large segment, and the index is a
/// dictionary of two longs per entry: nothing per entry for the collector to trace or copy.
/// <para>
/// Every entry lives the same time, so entries are appended in time order to 1 MiB segments and a
/// segment is dropped as a whole once its newest entry is older than the lifetime (entries early
/// in a segment may therefore outlive Timer J by the time one segment takes to fill; replaying an
/// answer a little late is harmless). The index maps a 64-bit hash of the transaction key to the
/// entry's place; the entry stores the key text too, so a hash collision is a miss, never a wrong answer.
/// </para>
/// </remarks>
public sealed class CompletedAnswerCache
{
    /// <summary>Bytes per segment.</summary>
    public const int SegmentSize = 1 << 20;

    /// <summary>Answers larger than this are not kept here (the caller keeps its transaction instead).</summary>
    public const int MaxAnswerSize = 16 * 1024;

    private const int MaxKeySize = 1024;
    private const int HeaderSize = 8 + 2 + 4; // hash, key length, answer length
    private const int OffsetBits = 24;
    private const int FreeSegmentsKept = 2;

    private readonly TimeProvider _time;
    private readonly TimeSpan _lifetime;
    private readonly int _capacity;
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, long> _index = [];
    private readonly List<Segment> _segments = [];
    private readonly Stack<byte[]> _free = new();
    private long _firstSerial;
    private long _nextSerial;

    /// <param name="lifetime">How long an answer stays replayable: Timer J (64·T1 over UDP).</param>
    /// <param name="capacity">Answers kept at most; past it <see cref="TryAdd"/> refuses.</param>
    public CompletedAnswerCache(TimeProvider time, TimeSpan lifetime, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _time = time;
        _lifetime = lifetime;
        _capacity = capacity;
    }

    /// <summary>Answers currently kept.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _index.Count;
            }
        }
    }

    /// <summary>Bytes held in segments (for status and memory accounting).</summary>
    public long SegmentBytes
    {
        get
        {
            lock (_gate)
            {
                return (long)_segments.Count * SegmentSize;
            }
        }
    }

    /// <summary>
    /// Keeps <paramref name="answer"/> as the answer of <paramref name="key"/> for the lifetime.
    /// Returns false when it cannot (answer or key too large, cache full): the caller must then keep
    /// its transaction to absorb retransmissions.
    /// </summary>
    public bool TryAdd(in TransactionKey key, ReadOnlySpan<byte> answer)
    {
        var keyLength = KeyLength(key);
        if (answer.Length > MaxAnswerSize || keyLength > MaxKeySize)
        {
            return false;
        }

        var hash = Hash(key);
        var size = HeaderSize + keyLength + answer.Length;
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            ExpireLocked(now);
            if (_index.Count >= _capacity)
            {
                return false;
            }

            var segment = _segments.Count > 0 ? _segments[^1] : null;
            if (segment is null || segment.Used + size > SegmentSize)
            {
                segment = new Segment(_free.Count > 0 ? _free.Pop() : new byte[SegmentSize], _nextSerial++);
                _segments.Add(segment);
            }

            var offset = segment.Used;
            var span = segment.Data.AsSpan(offset, size);
            BitConverter.TryWriteBytes(span, hash);
            BitConverter.TryWriteBytes(span[8..], (ushort)keyLength);
            BitConverter.TryWriteBytes(span[10..], answer.Length);
            WriteKey(key, span.Slice(HeaderSize, keyLength));
            answer.CopyTo(span[(HeaderSize + keyLength)..]);
            segment.Used += size;
            segment.NewestAt = now;
            _index[hash] = (segment.Serial << OffsetBits) | (uint)offset;
            return true;
        }
    }

    /// <summary>A copy of the answer kept for <paramref name="key"/>, or null if none is.</summary>
    public byte[]? TryGetAnswer(in TransactionKey key)
    {
        var hash = Hash(key);
        Span<byte> keyBytes = stackalloc byte[Math.Min(KeyLength(key), MaxKeySize + 1)];
        if (keyBytes.Length > MaxKeySize)
        {
            return null;
        }

        WriteKey(key, keyBytes);
        lock (_gate)
        {
            ExpireLocked(_time.GetTimestamp());
            if (!_index.TryGetValue(hash, out var location))
            {
                return null;
            }

            var segment = _segments[(int)((location >> OffsetBits) - _firstSerial)];
            var entry = segment.Data.AsSpan((int)(location & ((1L << OffsetBits) - 1)));
            var keyLength = BitConverter.ToUInt16(entry[8..]);
            var answerLength = BitConverter.ToInt32(entry[10..]);
            if (!entry.Slice(HeaderSize, keyLength).SequenceEqual(keyBytes))
            {
                return null;
            }

            return entry.Slice(HeaderSize + keyLength, answerLength).ToArray();
        }
    }

    /// <summary>Drops the segments whose answers all outlived the lifetime; the server calls it periodically.</summary>
    public void Expire()
    {
        lock (_gate)
        {
            ExpireLocked(_time.GetTimestamp());
        }
    }

    private void ExpireLocked(long now)
    {
        while (_segments.Count > 0 && _time.GetElapsedTime(_segments[0].NewestAt, now) >= _lifetime)
        {
            var segment = _segments[0];
            for (var offset = 0; offset < segment.Used;)
            {
                var entry = segment.Data.AsSpan(offset);
                var hash = BitConverter.ToUInt64(entry);
                var location = (segment.Serial << OffsetBits) | (uint)offset;
                if (_index.TryGetValue(hash, out var indexed) && indexed == location)
                {
                    _index.Remove(hash);
                }

                offset += HeaderSize + BitConverter.ToUInt16(entry[8..]) + BitConverter.ToInt32(entry[10..]);
            }

            _segments.RemoveAt(0);
            _firstSerial = segment.Serial + 1;
            if (_free.Count < FreeSegmentsKept)
            {
                _free.Push(segment.Data);
            }
        }

        if (_segments.Count == 0)
        {
            _firstSerial = _nextSerial;
        }
    }

    private static int KeyLength(in TransactionKey key) => key.Branch.Length + 1 + key.SentBy.Length + 1 + key.Method.Length;

    // The key as Latin-1 bytes: the parser decodes messages as Latin-1, so no character is wider.
    private static void WriteKey(in TransactionKey key, Span<byte> destination)
    {
        var at = 0;
        Narrow(key.Branch, destination, ref at);
        destination[at++] = (byte)' ';
        Narrow(key.SentBy, destination, ref at);
        destination[at++] = (byte)' ';
        Narrow(key.Method, destination, ref at);
    }

    private static void Narrow(string text, Span<byte> destination, ref int at)
    {
        foreach (var c in text)
        {
            destination[at++] = c <= 0xFF ? (byte)c : (byte)'?';
        }
    }

    // FNV-1a over the key's characters, 64 bits: at 500,000 entries a collision is a one in
    // 70 million event, and even then only a miss (the stored key is compared).
    private static ulong Hash(in TransactionKey key)
    {
        var hash = 14695981039346656037UL;
        hash = Mix(hash, key.Branch);
        hash = (hash ^ ' ') * 1099511628211UL;
        hash = Mix(hash, key.SentBy);
        hash = (hash ^ ' ') * 1099511628211UL;
        return Mix(hash, key.Method);
    }

    private static ulong Mix(ulong hash, string text)
    {
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash;
    }

    private sealed class Segment(byte[] data, long serial)
    {
        public byte[] Data { get; } = data;

        public long Serial { get; } = serial;

        public int Used { get; set; }

        public long NewestAt { get; set; }
    }
}
