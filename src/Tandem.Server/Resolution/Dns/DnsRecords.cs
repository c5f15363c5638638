using System.Net;

namespace Tandem.Server.Resolution.Dns;

/// <summary>The record types the SIP resolver asks for or must understand (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 3403).</summary>
public enum DnsRecordType : ushort
{
    A = 1,
    CName = 5,
    Soa = 6,
    Aaaa = 28,
    Srv = 33,
    Naptr = 35,
}

/// <summary>RCODE values (RFC 1035 §4.1.1).</summary>
public enum DnsResponseCode : byte
{
    NoError = 0,
    FormatError = 1,
    ServerFailure = 2,
    NameError = 3,
    NotImplemented = 4,
    Refused = 5,
}

/// <summary>
/// One resource record of a type Tandem uses. Names are lower-case without the trailing dot;
/// records of other types or classes are skipped by the parser, never materialised.
/// </summary>
public abstract record DnsRecord(string Name, uint Ttl)
{
    public abstract DnsRecordType Type { get; }
}

public sealed record DnsAddressRecord(string Name, uint Ttl, IPAddress Address) : DnsRecord(Name, Ttl)
{
    public override DnsRecordType Type =>
        Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? DnsRecordType.A : DnsRecordType.Aaaa;
}

public sealed record DnsCNameRecord(string Name, uint Ttl, string Target) : DnsRecord(Name, Ttl)
{
    public override DnsRecordType Type => DnsRecordType.CName;
}

/// <summary>RFC 2782. A target of "" (the root, ".") means the service is decidedly not offered.</summary>
public sealed record DnsSrvRecord(string Name, uint Ttl, ushort Priority, ushort Weight, ushort Port, string Target)
    : DnsRecord(Name, Ttl)
{
    public override DnsRecordType Type => DnsRecordType.Srv;
}

/// <summary>RFC 3403 §4.1. Flags, services and regexp are character-strings kept as ASCII text.</summary>
public sealed record DnsNaptrRecord(
    string Name, uint Ttl, ushort Order, ushort Preference, string Flags, string Services, string Regexp, string Replacement)
    : DnsRecord(Name, Ttl)
{
    public override DnsRecordType Type => DnsRecordType.Naptr;
}

/// <summary>Only what negative caching needs from an SOA (RFC 2308 §5): its TTL and MINIMUM.</summary>
public sealed record DnsSoaRecord(string Name, uint Ttl, uint Minimum) : DnsRecord(Name, Ttl)
{
    public override DnsRecordType Type => DnsRecordType.Soa;
}

public readonly record struct DnsQuestion(string Name, DnsRecordType Type);

/// <summary>
/// A parsed DNS message. When <see cref="Truncated"/> is set only the header and question were
/// read: a truncated UDP answer may stop in the middle of a record, and the caller retries over TCP.
/// </summary>
public sealed class DnsMessage
{
    public required ushort Id { get; init; }

    public required bool IsResponse { get; init; }

    public required byte Opcode { get; init; }

    public required bool Truncated { get; init; }

    public required DnsResponseCode ResponseCode { get; init; }

    /// <summary>The question, or null when the message carried none (QDCOUNT 0).</summary>
    public required DnsQuestion? Question { get; init; }

    public required IReadOnlyList<DnsRecord> Answers { get; init; }

    public required IReadOnlyList<DnsRecord> Authority { get; init; }

    public required IReadOnlyList<DnsRecord> Additional { get; init; }
}
