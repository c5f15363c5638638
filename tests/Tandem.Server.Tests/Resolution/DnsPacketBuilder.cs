using System.Buffers.Binary;
using System.Net;
using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

/// <summary>Hand-builds DNS packets byte by byte, so tests control compression, counts and lengths exactly.</summary>
internal sealed class DnsPacketBuilder
{
    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;

    public byte[] ToArray() => [.. _bytes];

    /// <summary>Header of a response: QR set, RD and RA set, the given RCODE and TC.</summary>
    public DnsPacketBuilder ResponseHeader(
        ushort id, int questions, int answers, int authority = 0, int additional = 0,
        DnsResponseCode rcode = DnsResponseCode.NoError, bool truncated = false)
    {
        var flags = 0x8000 | 0x0100 | 0x0080 | (int)rcode | (truncated ? 0x0200 : 0);
        return U16(id).U16((ushort)flags).U16((ushort)questions).U16((ushort)answers).U16((ushort)authority).U16((ushort)additional);
    }

    public DnsPacketBuilder U8(byte value)
    {
        _bytes.Add(value);
        return this;
    }

    public DnsPacketBuilder U16(ushort value)
    {
        _bytes.Add((byte)(value >> 8));
        _bytes.Add((byte)value);
        return this;
    }

    public DnsPacketBuilder U32(uint value) => U16((ushort)(value >> 16)).U16((ushort)value);

    public DnsPacketBuilder Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    /// <summary>Labels of <paramref name="name"/> ending in the root label; "" is the root alone.</summary>
    public DnsPacketBuilder Name(string name) => Labels(name).U8(0);

    /// <summary>Labels without the terminating root, to be followed by a <see cref="Pointer"/>.</summary>
    public DnsPacketBuilder Labels(string name)
    {
        foreach (var label in name.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            U8((byte)label.Length);
            _bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }

        return this;
    }

    public DnsPacketBuilder Pointer(int offset) => U16((ushort)(0xC000 | offset));

    public DnsPacketBuilder Question(string name, DnsRecordType type) => Name(name).U16((ushort)type).U16(1);

    /// <summary>A record header (owner written by <paramref name="owner"/>) and RDATA with its length filled in.</summary>
    public DnsPacketBuilder Record(Action<DnsPacketBuilder> owner, DnsRecordType type, uint ttl, Action<DnsPacketBuilder> data, ushort @class = 1)
    {
        owner(this);
        U16((ushort)type).U16(@class).U32(ttl);
        var lengthAt = _bytes.Count;
        U16(0);
        var start = _bytes.Count;
        data(this);
        var length = _bytes.Count - start;
        _bytes[lengthAt] = (byte)(length >> 8);
        _bytes[lengthAt + 1] = (byte)length;
        return this;
    }

    public DnsPacketBuilder Record(string owner, DnsRecordType type, uint ttl, Action<DnsPacketBuilder> data) =>
        Record(b => b.Name(owner), type, ttl, data);

    public DnsPacketBuilder Address(string owner, uint ttl, string address)
    {
        var ip = IPAddress.Parse(address);
        return Record(owner, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? DnsRecordType.A : DnsRecordType.Aaaa,
            ttl, b => b.Raw(ip.GetAddressBytes()));
    }

    public DnsPacketBuilder Srv(string owner, uint ttl, ushort priority, ushort weight, ushort port, string target) =>
        Record(owner, DnsRecordType.Srv, ttl, b => b.U16(priority).U16(weight).U16(port).Name(target));

    public DnsPacketBuilder CharacterString(string text)
    {
        U8((byte)text.Length);
        _bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(text));
        return this;
    }

    public DnsPacketBuilder Naptr(string owner, uint ttl, ushort order, ushort preference, string flags, string services, string regexp, string replacement) =>
        Record(owner, DnsRecordType.Naptr, ttl, b => b.U16(order).U16(preference)
            .CharacterString(flags).CharacterString(services).CharacterString(regexp).Name(replacement));

    public DnsPacketBuilder Soa(string owner, uint ttl, uint minimum) =>
        Record(owner, DnsRecordType.Soa, ttl, b => b.Name("ns." + owner).Name("hostmaster." + owner)
            .U32(1).U32(3600).U32(600).U32(86400).U32(minimum));

    /// <summary>The name a query asks about.</summary>
    public static string QuestionName(byte[] query) =>
        DnsMessageReader.TryParse(query, out var message, out var error) && message.Question is { } question
            ? question.Name
            : throw new InvalidOperationException($"not a query: {error}");

    /// <summary>A response that echoes the question of <paramref name="query"/> with the same ID.</summary>
    public static DnsPacketBuilder AnswerTo(
        byte[] query, int answers, int authority = 0, DnsResponseCode rcode = DnsResponseCode.NoError, bool truncated = false)
    {
        if (!DnsMessageReader.TryParse(query, out var message, out var error) || message.Question is not { } question)
        {
            throw new InvalidOperationException($"not a query: {error}");
        }

        return new DnsPacketBuilder()
            .ResponseHeader(BinaryPrimitives.ReadUInt16BigEndian(query), 1, answers, authority, 0, rcode, truncated)
            .Question(question.Name, question.Type);
    }
}
