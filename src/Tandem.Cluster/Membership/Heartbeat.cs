using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Tandem.Cluster.Membership;

/// <summary>
/// One heartbeat, decoded or to be encoded. Instances are reused (one per socket thread) so that
/// neither sending nor receiving allocates; members are referred to by their index in the
/// <see cref="MemberTable"/>.
/// </summary>
internal sealed class HeartbeatFrame
{
    public int Sender;
    public HeartbeatFlags Flags;
    public byte Link;
    public byte HealthScore;
    public ulong Incarnation;
    public ulong Sequence;
    public long SentAtUnixMs;
    public long Epoch;
    public ulong Holdings;
    public uint ConfigDigest;

    /// <summary>The members the sender hears (indices into the receiver's table; unknown ids are skipped).</summary>
    public int SeenCount;
    public readonly int[] Seen = new int[MembershipOptions.MaxMembers];
    public readonly ulong[] SeenHoldings = new ulong[MembershipOptions.MaxMembers];
    public readonly byte[] SeenHealth = new byte[MembershipOptions.MaxMembers];

    public bool Leaving => (Flags & HeartbeatFlags.Leaving) != 0;

    public bool HasQuorum => (Flags & HeartbeatFlags.Quorum) != 0;

    public void CopyTo(HeartbeatFrame other)
    {
        other.Sender = Sender;
        other.Flags = Flags;
        other.Link = Link;
        other.HealthScore = HealthScore;
        other.Incarnation = Incarnation;
        other.Sequence = Sequence;
        other.SentAtUnixMs = SentAtUnixMs;
        other.Epoch = Epoch;
        other.Holdings = Holdings;
        other.ConfigDigest = ConfigDigest;
        other.SeenCount = SeenCount;
        Array.Copy(Seen, other.Seen, SeenCount);
        Array.Copy(SeenHoldings, other.SeenHoldings, SeenCount);
        Array.Copy(SeenHealth, other.SeenHealth, SeenCount);
    }
}

[Flags]
internal enum HeartbeatFlags : byte
{
    None = 0,

    /// <summary>Graceful stop: the sender has released its addresses; take over now.</summary>
    Leaving = 1,

    /// <summary>The sender sees a majority of voters.</summary>
    Quorum = 2,

    /// <summary>The sender is the witness.</summary>
    Witness = 4,
}

public enum HeartbeatError
{
    None,
    TooShort,
    BadMagic,
    BadHmac,
    Malformed,
    UnknownSender,
    FromSelf,
}

/// <summary>
/// Wire format of a heartbeat (big-endian), authenticated with HMAC-SHA256 over everything before the tag:
/// <code>
///  0  4  magic "THB" + version 1
///  4  1  flags (1 leaving, 2 quorum, 4 witness)
///  5  1  link index
///  6  1  health score 0..100
///  7  1  sender id length N
///  8  8  incarnation (random per process start)
/// 16  8  sequence (per packet, from 1)
/// 24  8  sent-at, Unix ms (sender's clock)
/// 32  8  view epoch
/// 40  8  holdings: bit i = service address i
/// 48  4  config digest (FNV-1a of members and service addresses)
/// 52  1  seen count M
/// 53  N  sender id (UTF-8)
///     M × (1 length, id, 8 holdings, 1 health): the members the sender hears
///    32  HMAC-SHA256
/// </code>
/// </summary>
internal static class HeartbeatCodec
{
    public const int MaxSize = 1024;
    public const int TagSize = 32;
    private const int HeaderSize = 53;
    private static ReadOnlySpan<byte> Magic => "THB\u0001"u8;

    /// <summary>Writes <paramref name="frame"/> into <paramref name="buffer"/> and returns the length.</summary>
    public static int Encode(HeartbeatFrame frame, MemberTable table, byte[] secret, Span<byte> buffer)
    {
        var sender = table.Utf8Id(frame.Sender);
        Magic.CopyTo(buffer);
        buffer[4] = (byte)frame.Flags;
        buffer[5] = frame.Link;
        buffer[6] = frame.HealthScore;
        buffer[7] = (byte)sender.Length;
        BinaryPrimitives.WriteUInt64BigEndian(buffer[8..], frame.Incarnation);
        BinaryPrimitives.WriteUInt64BigEndian(buffer[16..], frame.Sequence);
        BinaryPrimitives.WriteInt64BigEndian(buffer[24..], frame.SentAtUnixMs);
        BinaryPrimitives.WriteInt64BigEndian(buffer[32..], frame.Epoch);
        BinaryPrimitives.WriteUInt64BigEndian(buffer[40..], frame.Holdings);
        BinaryPrimitives.WriteUInt32BigEndian(buffer[48..], frame.ConfigDigest);
        buffer[52] = (byte)frame.SeenCount;
        var at = HeaderSize;
        sender.CopyTo(buffer[at..]);
        at += sender.Length;
        for (var i = 0; i < frame.SeenCount; i++)
        {
            var id = table.Utf8Id(frame.Seen[i]);
            buffer[at++] = (byte)id.Length;
            id.CopyTo(buffer[at..]);
            at += id.Length;
            BinaryPrimitives.WriteUInt64BigEndian(buffer[at..], frame.SeenHoldings[i]);
            at += 8;
            buffer[at++] = frame.SeenHealth[i];
        }

        HMACSHA256.HashData(secret, buffer[..at], buffer[at..(at + TagSize)]);
        return at + TagSize;
    }

    /// <summary>Checks the tag first, then decodes into <paramref name="frame"/>. No allocation.</summary>
    public static HeartbeatError Decode(ReadOnlySpan<byte> packet, MemberTable table, byte[] secret, HeartbeatFrame frame)
    {
        if (packet.Length < HeaderSize + 1 + TagSize)
        {
            return HeartbeatError.TooShort;
        }

        if (!packet[..4].SequenceEqual(Magic))
        {
            return HeartbeatError.BadMagic;
        }

        var body = packet[..^TagSize];
        Span<byte> tag = stackalloc byte[TagSize];
        HMACSHA256.HashData(secret, body, tag);
        if (!CryptographicOperations.FixedTimeEquals(tag, packet[^TagSize..]))
        {
            return HeartbeatError.BadHmac;
        }

        frame.Flags = (HeartbeatFlags)body[4];
        frame.Link = body[5];
        frame.HealthScore = body[6];
        int senderLength = body[7];
        frame.Incarnation = BinaryPrimitives.ReadUInt64BigEndian(body[8..]);
        frame.Sequence = BinaryPrimitives.ReadUInt64BigEndian(body[16..]);
        frame.SentAtUnixMs = BinaryPrimitives.ReadInt64BigEndian(body[24..]);
        frame.Epoch = BinaryPrimitives.ReadInt64BigEndian(body[32..]);
        frame.Holdings = BinaryPrimitives.ReadUInt64BigEndian(body[40..]);
        frame.ConfigDigest = BinaryPrimitives.ReadUInt32BigEndian(body[48..]);
        int seenCount = body[52];
        var at = HeaderSize;
        if (senderLength == 0 || at + senderLength > body.Length || seenCount > MembershipOptions.MaxMembers)
        {
            return HeartbeatError.Malformed;
        }

        frame.Sender = table.Find(body.Slice(at, senderLength));
        at += senderLength;
        if (frame.Sender < 0)
        {
            return HeartbeatError.UnknownSender;
        }

        if (frame.Sender == 0)
        {
            return HeartbeatError.FromSelf;
        }

        frame.SeenCount = 0;
        for (var i = 0; i < seenCount; i++)
        {
            if (at >= body.Length)
            {
                return HeartbeatError.Malformed;
            }

            int length = body[at++];
            if (length == 0 || at + length + 9 > body.Length)
            {
                return HeartbeatError.Malformed;
            }

            var index = table.Find(body.Slice(at, length));
            at += length;
            var holdings = BinaryPrimitives.ReadUInt64BigEndian(body[at..]);
            at += 8;
            var health = body[at++];
            if (index >= 0)
            {
                frame.Seen[frame.SeenCount] = index;
                frame.SeenHoldings[frame.SeenCount] = holdings;
                frame.SeenHealth[frame.SeenCount] = health;
                frame.SeenCount++;
            }
        }

        return at == body.Length ? HeartbeatError.None : HeartbeatError.Malformed;
    }
}

/// <summary>
/// The members as this process numbers them: 0 is itself, then the peers in configuration order,
/// then the witness (unless this process is the witness).
/// </summary>
internal sealed class MemberTable
{
    private readonly byte[][] _utf8;

    public MemberTable(MembershipOptions options)
    {
        var ids = new List<NodeId> { options.Self };
        var roles = new List<MemberRole> { options.IsWitness ? MemberRole.Witness : MemberRole.Node };
        var addresses = new List<IReadOnlyList<System.Net.IPEndPoint>> { options.Listen };
        foreach (var peer in options.Peers)
        {
            ids.Add(peer.Id);
            roles.Add(MemberRole.Node);
            addresses.Add(peer.Addresses);
        }

        if (options.Witness is { } witness && !options.IsWitness)
        {
            ids.Add(witness.Id);
            roles.Add(MemberRole.Witness);
            addresses.Add([witness.Address]);
        }

        Ids = ids;
        Roles = roles;
        Addresses = addresses;
        _utf8 = [.. ids.Select(id => Encoding.UTF8.GetBytes(id.Value))];
        ConfigDigest = Digest(ids, options);
    }

    public IReadOnlyList<NodeId> Ids { get; }

    public IReadOnlyList<MemberRole> Roles { get; }

    /// <summary>Heartbeat addresses per member, one per link (this node's are its listen endpoints).</summary>
    public IReadOnlyList<IReadOnlyList<System.Net.IPEndPoint>> Addresses { get; }

    public int Count => Ids.Count;

    /// <summary>Same value on every member with the same cluster membership and service addresses.</summary>
    public uint ConfigDigest { get; }

    public ReadOnlySpan<byte> Utf8Id(int index) => _utf8[index];

    public int IndexOf(NodeId id)
    {
        for (var i = 0; i < Ids.Count; i++)
        {
            if (Ids[i] == id)
            {
                return i;
            }
        }

        return -1;
    }

    public int Find(ReadOnlySpan<byte> utf8)
    {
        for (var i = 0; i < _utf8.Length; i++)
        {
            if (utf8.SequenceEqual(_utf8[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static uint Digest(IEnumerable<NodeId> ids, MembershipOptions options)
    {
        var text = new StringBuilder();
        foreach (var id in ids.OrderBy(i => i.Value, StringComparer.Ordinal))
        {
            text.Append(id.Value).Append('\n');
        }

        foreach (var address in options.ServiceAddresses)
        {
            text.Append(address.Address).Append('|').Append(string.Join(',', address.Preference)).Append('\n');
        }

        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(text.ToString()))
        {
            hash = (hash ^ b) * 16777619u;
        }

        return hash;
    }
}
