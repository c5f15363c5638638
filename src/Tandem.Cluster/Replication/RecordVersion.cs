using System.Buffers.Binary;
using System.Text;

namespace Tandem.Cluster.Replication;

/// <summary>
/// A hybrid-logical-clock timestamp that versions one write: wall-clock milliseconds, a logical
/// counter for writes within the same millisecond (or while the wall clock is behind a timestamp
/// already seen), and the writing node as the final tie-break. Versions made by different nodes
/// never compare equal, so last-writer-wins picks the same winner on every node.
/// </summary>
/// <remarks>
/// Named <c>RecordVersion</c> rather than <c>Version</c> so that it does not clash with
/// <see cref="System.Version"/> in files that import both namespaces.
/// </remarks>
public readonly struct RecordVersion : IComparable<RecordVersion>, IEquatable<RecordVersion>
{
    /// <summary>Largest node id accepted in a serialised version (UTF-8 bytes).</summary>
    public const int MaxNodeIdBytes = 255;

    public RecordVersion(long wallMs, uint counter, NodeId node)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(wallMs);
        WallMs = wallMs;
        Counter = counter;
        Node = node;
    }

    /// <summary>Unix milliseconds (UTC) of the clock that made the version.</summary>
    public long WallMs { get; }

    public uint Counter { get; }

    public NodeId Node { get; }

    /// <summary>The zero version: older than every version a clock makes.</summary>
    public static RecordVersion Zero => default;

    public bool IsZero => WallMs == 0 && Counter == 0 && string.IsNullOrEmpty(Node.Value);

    public int CompareTo(RecordVersion other)
    {
        int c = WallMs.CompareTo(other.WallMs);
        if (c != 0)
        {
            return c;
        }

        c = Counter.CompareTo(other.Counter);
        if (c != 0)
        {
            return c;
        }

        return string.CompareOrdinal(Node.Value ?? string.Empty, other.Node.Value ?? string.Empty);
    }

    public bool Equals(RecordVersion other) => CompareTo(other) == 0;

    public override bool Equals(object? obj) => obj is RecordVersion v && Equals(v);

    public override int GetHashCode() => HashCode.Combine(WallMs, Counter, Node.Value ?? string.Empty);

    public static bool operator ==(RecordVersion left, RecordVersion right) => left.Equals(right);

    public static bool operator !=(RecordVersion left, RecordVersion right) => !left.Equals(right);

    public static bool operator <(RecordVersion left, RecordVersion right) => left.CompareTo(right) < 0;

    public static bool operator >(RecordVersion left, RecordVersion right) => left.CompareTo(right) > 0;

    public static bool operator <=(RecordVersion left, RecordVersion right) => left.CompareTo(right) <= 0;

    public static bool operator >=(RecordVersion left, RecordVersion right) => left.CompareTo(right) >= 0;

    /// <summary>"wallMs.counter@node", e.g. "1767225600000.3@a". <see cref="Parse"/> reads it back.</summary>
    public override string ToString() => $"{WallMs}.{Counter}@{Node.Value}";

    public static RecordVersion Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int at = text.IndexOf('@', StringComparison.Ordinal);
        int dot = at < 0 ? -1 : text.LastIndexOf('.', at);
        if (at < 0 || dot < 0
            || !long.TryParse(text.AsSpan(0, dot), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long wall)
            || !uint.TryParse(text.AsSpan(dot + 1, at - dot - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint counter))
        {
            throw new FormatException($"Not a record version: '{text}'.");
        }

        return new RecordVersion(wall, counter, new NodeId(text[(at + 1)..]));
    }

    /// <summary>Bytes <see cref="WriteTo"/> needs.</summary>
    public int SerializedLength => 8 + 4 + 1 + Encoding.UTF8.GetByteCount(Node.Value ?? string.Empty);

    /// <summary>Writes 8 bytes wall ms, 4 bytes counter (big-endian), 1 byte node length, node UTF-8.</summary>
    public int WriteTo(Span<byte> destination)
    {
        string node = Node.Value ?? string.Empty;
        int nodeLength = Encoding.UTF8.GetByteCount(node);
        if (nodeLength > MaxNodeIdBytes)
        {
            throw new InvalidOperationException("Node id too long for a record version.");
        }

        BinaryPrimitives.WriteInt64BigEndian(destination, WallMs);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Counter);
        destination[12] = (byte)nodeLength;
        Encoding.UTF8.GetBytes(node, destination[13..]);
        return 13 + nodeLength;
    }

    /// <summary>Reads what <see cref="WriteTo"/> wrote; false when the bytes are not a valid version.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out RecordVersion version, out int bytesRead)
    {
        version = default;
        bytesRead = 0;
        if (source.Length < 13)
        {
            return false;
        }

        long wall = BinaryPrimitives.ReadInt64BigEndian(source);
        uint counter = BinaryPrimitives.ReadUInt32BigEndian(source[8..]);
        int nodeLength = source[12];
        if (wall < 0 || source.Length < 13 + nodeLength)
        {
            return false;
        }

        string node;
        try
        {
            node = Strict.GetString(source.Slice(13, nodeLength));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        version = new RecordVersion(wall, counter, new NodeId(node));
        bytesRead = 13 + nodeLength;
        return true;
    }

    internal static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}

/// <summary>
/// Hybrid logical clock (Kulkarni et al.): timestamps that follow the wall clock but never go
/// backwards and always exceed every timestamp this node has seen from others, so a write made after
/// seeing another node's write is ordered after it even when the clocks disagree a little.
/// Thread-safe.
/// </summary>
public sealed class HybridLogicalClock
{
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private long _wall;
    private uint _counter;
    private long _remoteAhead;

    public HybridLogicalClock(NodeId node, TimeProvider? timeProvider = null, TimeSpan? maxForwardDrift = null)
    {
        if (string.IsNullOrEmpty(node.Value))
        {
            throw new ArgumentException("A clock needs a node id.", nameof(node));
        }

        Node = node;
        _time = timeProvider ?? TimeProvider.System;
        MaxForwardDrift = maxForwardDrift ?? TimeSpan.FromSeconds(60);
    }

    public NodeId Node { get; }

    /// <summary>
    /// A remote version further ahead of the local wall clock than this is still accepted (LWW must
    /// stay deterministic), but counted in <see cref="RemoteAheadCount"/>: it indicates a broken clock.
    /// </summary>
    public TimeSpan MaxForwardDrift { get; }

    /// <summary>Remote versions seen more than <see cref="MaxForwardDrift"/> ahead of the local clock.</summary>
    public long RemoteAheadCount => Interlocked.Read(ref _remoteAhead);

    /// <summary>The latest version this clock made or saw, without advancing it.</summary>
    public RecordVersion Current
    {
        get
        {
            lock (_gate)
            {
                return new RecordVersion(_wall, _counter, Node);
            }
        }
    }

    /// <summary>A new version, greater than every version this clock made or saw.</summary>
    public RecordVersion Now()
    {
        long physical = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_gate)
        {
            if (physical > _wall)
            {
                _wall = physical;
                _counter = 0;
            }
            else
            {
                Increment();
            }

            return new RecordVersion(_wall, _counter, Node);
        }
    }

    /// <summary>Merges a version seen from another node, so that later <see cref="Now"/> values exceed it.</summary>
    public void Update(RecordVersion remote)
    {
        long physical = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (remote.WallMs - physical > (long)MaxForwardDrift.TotalMilliseconds)
        {
            Interlocked.Increment(ref _remoteAhead);
        }

        lock (_gate)
        {
            long wall = Math.Max(Math.Max(_wall, remote.WallMs), physical);
            if (wall == _wall && wall == remote.WallMs)
            {
                _counter = Math.Max(_counter, remote.Counter);
                Increment();
            }
            else if (wall == _wall)
            {
                // Local state already ahead: nothing to merge, the next Now() increments.
            }
            else if (wall == remote.WallMs)
            {
                _wall = wall;
                _counter = remote.Counter;
            }
            else
            {
                _wall = wall;
                _counter = 0;
            }
        }
    }

    private void Increment()
    {
        if (_counter == uint.MaxValue)
        {
            // Four billion writes in one millisecond: move to the next millisecond instead of wrapping.
            _wall++;
            _counter = 0;
        }
        else
        {
            _counter++;
        }
    }
}
