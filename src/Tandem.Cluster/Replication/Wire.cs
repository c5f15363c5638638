using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Tandem.Cluster.Replication;

/// <summary>Frame types of the replication protocol (first byte of a frame's plaintext).</summary>
internal enum FrameType : byte
{
    /// <summary>Dialler → listener, plaintext: protocol version, cluster, node id, 32-byte nonce.</summary>
    Hello = 1,

    /// <summary>Listener → dialler, plaintext: protocol version, cluster, node id, nonce, listener's proof.</summary>
    HelloReply = 2,

    /// <summary>Dialler → listener, plaintext: dialler's proof. Everything after it is encrypted.</summary>
    Auth = 3,

    /// <summary>Receiver → sender: stream epoch and last sequence applied from this sender.</summary>
    Resume = 4,

    SnapshotBegin = 5,
    SnapshotRecord = 6,
    SnapshotEnd = 7,

    /// <summary>Sender → receiver: sequence number and record.</summary>
    Record = 8,

    /// <summary>Receiver → sender: every sequence up to this one is applied.</summary>
    Ack = 9,

    /// <summary>Either direction: the state digest of the sending node.</summary>
    Digest = 10,
}

/// <summary>The peer broke the protocol; the connection is closed and the event counted.</summary>
public sealed class ReplicationProtocolException : Exception
{
    public ReplicationProtocolException()
    {
    }

    public ReplicationProtocolException(string message)
        : base(message)
    {
    }

    public ReplicationProtocolException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The handshake failed: wrong secret, wrong cluster, unknown node or replayed nonce.</summary>
public sealed class ReplicationAuthenticationException : Exception
{
    public ReplicationAuthenticationException()
    {
    }

    public ReplicationAuthenticationException(string message)
        : base(message)
    {
    }

    public ReplicationAuthenticationException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Builds a frame payload (big-endian integers, length-prefixed UTF-8 strings).</summary>
internal sealed class PayloadWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);

    public PayloadWriter(FrameType type) => U8((byte)type);

    public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;

    public PayloadWriter U8(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
        return this;
    }

    public PayloadWriter U16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.GetSpan(2), value);
        _buffer.Advance(2);
        return this;
    }

    public PayloadWriter U32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
        return this;
    }

    public PayloadWriter U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
        return this;
    }

    public PayloadWriter Raw(ReadOnlySpan<byte> bytes)
    {
        _buffer.Write(bytes);
        return this;
    }

    /// <summary>u16 length + UTF-8.</summary>
    public PayloadWriter Str(string value)
    {
        int n = Encoding.UTF8.GetByteCount(value);
        if (n > ushort.MaxValue)
        {
            throw new ArgumentException("String too long for a frame.", nameof(value));
        }

        U16((ushort)n);
        Encoding.UTF8.GetBytes(value, _buffer.GetSpan(n));
        _buffer.Advance(n);
        return this;
    }

    /// <summary>u32 length + bytes.</summary>
    public PayloadWriter Bytes(ReadOnlySpan<byte> value)
    {
        U32((uint)value.Length);
        return Raw(value);
    }

    public PayloadWriter Version(RecordVersion version)
    {
        Span<byte> span = _buffer.GetSpan(version.SerializedLength);
        _buffer.Advance(version.WriteTo(span));
        return this;
    }

    /// <summary>kind, key, flags (bit 0 = deleted), version, origin, value.</summary>
    public PayloadWriter Record(ReplicatedRecord record)
    {
        Str(record.Kind).Str(record.Key).U8(record.Deleted ? (byte)1 : (byte)0).Version(record.Version).Str(record.Origin.Value ?? string.Empty);
        return Bytes(record.Value.Span);
    }
}

/// <summary>Reads a frame payload; every read is bounds-checked and throws <see cref="ReplicationProtocolException"/>.</summary>
internal ref struct PayloadReader
{
    private ReadOnlySpan<byte> _rest;

    public PayloadReader(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            throw new ReplicationProtocolException("Empty frame.");
        }

        Type = (FrameType)payload[0];
        _rest = payload[1..];
    }

    public FrameType Type { get; }

    public byte U8() => Take(1)[0];

    public ushort U16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));

    public uint U32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));

    public ulong U64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

    public ReadOnlySpan<byte> Raw(int count) => Take(count);

    public string Str(int maxBytes)
    {
        int n = U16();
        if (n > maxBytes)
        {
            throw new ReplicationProtocolException($"String of {n} bytes exceeds {maxBytes}.");
        }

        try
        {
            return RecordVersion.Strict.GetString(Take(n));
        }
        catch (DecoderFallbackException e)
        {
            throw new ReplicationProtocolException("Invalid UTF-8.", e);
        }
    }

    public byte[] Bytes(int maxBytes)
    {
        uint n = U32();
        if (n > (uint)maxBytes)
        {
            throw new ReplicationProtocolException($"Value of {n} bytes exceeds {maxBytes}.");
        }

        return Take((int)n).ToArray();
    }

    public RecordVersion Version()
    {
        if (!RecordVersion.TryRead(_rest, out RecordVersion version, out int read))
        {
            throw new ReplicationProtocolException("Invalid record version.");
        }

        _rest = _rest[read..];
        return version;
    }

    public ReplicatedRecord Record(int maxValueBytes)
    {
        string kind = Str(ReplicatedRecord.MaxKindBytes);
        string key = Str(ReplicatedRecord.MaxKeyBytes);
        byte flags = U8();
        if (flags > 1)
        {
            throw new ReplicationProtocolException("Unknown record flags.");
        }

        RecordVersion version = Version();
        string origin = Str(RecordVersion.MaxNodeIdBytes);
        byte[] value = Bytes(maxValueBytes);
        var record = new ReplicatedRecord(kind, key, value, version, new NodeId(origin), flags == 1);
        try
        {
            record.Validate(maxValueBytes);
        }
        catch (ArgumentException e)
        {
            throw new ReplicationProtocolException("Invalid record: " + e.Message, e);
        }

        return record;
    }

    /// <summary>Throws unless the whole payload was consumed (trailing bytes are a protocol error).</summary>
    public readonly void End()
    {
        if (!_rest.IsEmpty)
        {
            throw new ReplicationProtocolException($"{_rest.Length} unexpected trailing bytes in {Type} frame.");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _rest.Length)
        {
            throw new ReplicationProtocolException($"Truncated {Type} frame.");
        }

        ReadOnlySpan<byte> taken = _rest[..count];
        _rest = _rest[count..];
        return taken;
    }
}
