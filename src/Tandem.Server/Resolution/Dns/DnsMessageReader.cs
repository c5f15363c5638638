using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Tandem.Server.Resolution.Dns;

/// <summary>Why a packet was rejected. Bad input is data: the reader never throws on it.</summary>
public enum DnsParseError
{
    None,
    ShorterThanHeader,
    TooManyQuestions,
    NameRunsPastEnd,
    BadLabelType,
    ForwardCompressionPointer,
    TooManyCompressionPointers,
    NameTooLong,
    RecordRunsPastEnd,
    BadRecordData,
}

/// <summary>
/// Parses the RFC 1035 §4 wire format into a <see cref="DnsMessage"/>. Every length and pointer is
/// checked against the packet before it is followed; memory is bounded by the packet (each record
/// read consumes at least 11 bytes) so a hostile answer cannot make it allocate without limit.
/// </summary>
public static class DnsMessageReader
{
    public const int HeaderLength = 12;

    // RFC 1035 §3.1: a name is at most 255 octets on the wire (labels at most 63: the two top bits mark pointers).
    internal const int MaxNameWireLength = 255;

    // A name has at most 127 labels, so a legal name never needs more jumps than that.
    private const int MaxPointerJumps = 127;

    private const ushort ClassInternet = 1;

    private static readonly DnsRecord[] NoRecords = [];

    public static bool TryParse(
        ReadOnlySpan<byte> packet, [NotNullWhen(true)] out DnsMessage? message, out DnsParseError error)
    {
        message = null;
        if (packet.Length < HeaderLength)
        {
            error = DnsParseError.ShorterThanHeader;
            return false;
        }

        var id = BinaryPrimitives.ReadUInt16BigEndian(packet);
        var flags = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        var questions = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        var answers = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        var authority = BinaryPrimitives.ReadUInt16BigEndian(packet[8..]);
        var additional = BinaryPrimitives.ReadUInt16BigEndian(packet[10..]);
        var truncated = (flags & 0x0200) != 0;

        // Tandem only ever asks one question; a reply with more is not an answer to it.
        if (questions > 1)
        {
            error = DnsParseError.TooManyQuestions;
            return false;
        }

        var offset = HeaderLength;
        DnsQuestion? question = null;
        if (questions == 1)
        {
            if (!TryReadName(packet, ref offset, out var qname, out error))
            {
                return false;
            }

            if (offset + 4 > packet.Length)
            {
                error = DnsParseError.RecordRunsPastEnd;
                return false;
            }

            question = new DnsQuestion(qname, (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]));
            offset += 4;
        }

        IReadOnlyList<DnsRecord> answerRecords = NoRecords, authorityRecords = NoRecords, additionalRecords = NoRecords;

        // RFC 1035 §4.1.1 TC: the rest may stop mid-record; the caller asks again over TCP.
        if (!truncated
            && !(TryReadSection(packet, ref offset, answers, out answerRecords, out error)
                 && TryReadSection(packet, ref offset, authority, out authorityRecords, out error)
                 && TryReadSection(packet, ref offset, additional, out additionalRecords, out error)))
        {
            return false;
        }

        error = DnsParseError.None;
        message = new DnsMessage
        {
            Id = id,
            IsResponse = (flags & 0x8000) != 0,
            Opcode = (byte)((flags >> 11) & 0xF),
            Truncated = truncated,
            ResponseCode = (DnsResponseCode)(flags & 0xF),
            Question = question,
            Answers = answerRecords,
            Authority = authorityRecords,
            Additional = additionalRecords,
        };
        return true;
    }

    private static bool TryReadSection(
        ReadOnlySpan<byte> packet, ref int offset, int count, out IReadOnlyList<DnsRecord> records, out DnsParseError error)
    {
        records = NoRecords;
        error = DnsParseError.None;
        if (count == 0)
        {
            return true;
        }

        var list = new List<DnsRecord>(Math.Min(count, 16));
        for (var i = 0; i < count; i++)
        {
            if (!TryReadRecord(packet, ref offset, out var record, out error))
            {
                return false;
            }

            if (record is not null)
            {
                list.Add(record);
            }
        }

        records = list;
        return true;
    }

    /// <summary>Reads one resource record (RFC 1035 §4.1.3); <paramref name="record"/> is null for types Tandem ignores.</summary>
    private static bool TryReadRecord(ReadOnlySpan<byte> packet, ref int offset, out DnsRecord? record, out DnsParseError error)
    {
        record = null;
        if (!TryReadName(packet, ref offset, out var name, out error))
        {
            return false;
        }

        if (offset + 10 > packet.Length)
        {
            error = DnsParseError.RecordRunsPastEnd;
            return false;
        }

        var type = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]);
        var @class = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
        var ttl = BinaryPrimitives.ReadUInt32BigEndian(packet[(offset + 4)..]);
        var dataLength = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 8)..]);
        var dataStart = offset + 10;
        var dataEnd = dataStart + dataLength;
        if (dataEnd > packet.Length)
        {
            error = DnsParseError.RecordRunsPastEnd;
            return false;
        }

        offset = dataEnd;

        // RFC 2181 §8: a TTL with the top bit set is treated as zero.
        if (ttl > int.MaxValue)
        {
            ttl = 0;
        }

        if (@class != ClassInternet)
        {
            return true;
        }

        // Names inside RDATA may point anywhere earlier in the packet, but must end inside the RDATA.
        var data = packet[..dataEnd];
        var at = dataStart;
        switch (type)
        {
            case DnsRecordType.A when dataLength == 4:
            case DnsRecordType.Aaaa when dataLength == 16:
                record = new DnsAddressRecord(name, ttl, new IPAddress(packet.Slice(dataStart, dataLength)));
                return true;
            case DnsRecordType.A:
            case DnsRecordType.Aaaa:
                error = DnsParseError.BadRecordData;
                return false;
            case DnsRecordType.CName:
                if (!TryReadName(data, ref at, out var target, out error))
                {
                    return false;
                }

                record = new DnsCNameRecord(name, ttl, target);
                break;
            case DnsRecordType.Srv:
                if (dataLength < 7)
                {
                    error = DnsParseError.BadRecordData;
                    return false;
                }

                at += 6;
                if (!TryReadName(data, ref at, out var srvTarget, out error))
                {
                    return false;
                }

                record = new DnsSrvRecord(name, ttl,
                    Priority: BinaryPrimitives.ReadUInt16BigEndian(packet[dataStart..]),
                    Weight: BinaryPrimitives.ReadUInt16BigEndian(packet[(dataStart + 2)..]),
                    Port: BinaryPrimitives.ReadUInt16BigEndian(packet[(dataStart + 4)..]),
                    Target: srvTarget);
                break;
            case DnsRecordType.Naptr:
                if (dataLength < 4)
                {
                    error = DnsParseError.BadRecordData;
                    return false;
                }

                at += 4;
                if (!TryReadCharacterString(data, ref at, out var naptrFlags)
                    || !TryReadCharacterString(data, ref at, out var services)
                    || !TryReadCharacterString(data, ref at, out var regexp))
                {
                    error = DnsParseError.BadRecordData;
                    return false;
                }

                if (!TryReadName(data, ref at, out var replacement, out error))
                {
                    return false;
                }

                record = new DnsNaptrRecord(name, ttl,
                    Order: BinaryPrimitives.ReadUInt16BigEndian(packet[dataStart..]),
                    Preference: BinaryPrimitives.ReadUInt16BigEndian(packet[(dataStart + 2)..]),
                    naptrFlags, services, regexp, replacement);
                break;
            case DnsRecordType.Soa:
                if (!TryReadName(data, ref at, out _, out error) || !TryReadName(data, ref at, out _, out error))
                {
                    return false;
                }

                // SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM: 5 × 32 bits; only MINIMUM is kept.
                if (at + 20 > dataEnd)
                {
                    error = DnsParseError.BadRecordData;
                    return false;
                }

                record = new DnsSoaRecord(name, ttl, BinaryPrimitives.ReadUInt32BigEndian(packet[(at + 16)..]));
                at += 20;
                break;
            default:
                return true;
        }

        if (at != dataEnd)
        {
            record = null;
            error = DnsParseError.BadRecordData;
            return false;
        }

        return true;
    }

    /// <summary>RFC 1035 §3.3: a length octet followed by that many octets.</summary>
    private static bool TryReadCharacterString(ReadOnlySpan<byte> data, ref int offset, out string text)
    {
        text = string.Empty;
        if (offset >= data.Length || offset + 1 + data[offset] > data.Length)
        {
            return false;
        }

        var length = data[offset];
        text = System.Text.Encoding.ASCII.GetString(data.Slice(offset + 1, length));
        offset += 1 + length;
        return true;
    }

    /// <summary>
    /// Reads a possibly compressed name (RFC 1035 §4.1.4) into lower-case dotted text without the
    /// trailing dot ("" for the root). On return <paramref name="offset"/> is just past the name as
    /// it sits at that place (past the first pointer, if any). A pointer must point to a prior
    /// occurrence, i.e. strictly before itself; with the 255-octet limit that rules out loops, and
    /// the jump count is a second fence.
    /// </summary>
    internal static bool TryReadName(ReadOnlySpan<byte> packet, ref int offset, out string name, out DnsParseError error)
    {
        name = string.Empty;
        Span<char> text = stackalloc char[MaxNameWireLength * 4];
        var textLength = 0;
        var wireLength = 1; // the terminating root label
        var position = offset;
        var jumps = 0;
        var end = -1;

        while (true)
        {
            if (position >= packet.Length)
            {
                error = DnsParseError.NameRunsPastEnd;
                return false;
            }

            var length = packet[position];
            switch (length & 0xC0)
            {
                case 0x00:
                    break;
                case 0xC0:
                    if (position + 1 >= packet.Length)
                    {
                        error = DnsParseError.NameRunsPastEnd;
                        return false;
                    }

                    var target = ((length & 0x3F) << 8) | packet[position + 1];
                    if (target >= position)
                    {
                        error = DnsParseError.ForwardCompressionPointer;
                        return false;
                    }

                    if (++jumps > MaxPointerJumps)
                    {
                        error = DnsParseError.TooManyCompressionPointers;
                        return false;
                    }

                    if (end < 0)
                    {
                        end = position + 2;
                    }

                    position = target;
                    continue;
                default:
                    // 0x40 and 0x80 are the extended and reserved label types (RFC 6891 §5, RFC 2673 obsoleted).
                    error = DnsParseError.BadLabelType;
                    return false;
            }

            if (length == 0)
            {
                offset = end >= 0 ? end : position + 1;
                name = new string(text[..textLength]);
                error = DnsParseError.None;
                return true;
            }

            wireLength += 1 + length;
            if (wireLength > MaxNameWireLength)
            {
                error = DnsParseError.NameTooLong;
                return false;
            }

            if (position + 1 + length > packet.Length)
            {
                error = DnsParseError.NameRunsPastEnd;
                return false;
            }

            if (textLength > 0)
            {
                text[textLength++] = '.';
            }

            foreach (var b in packet.Slice(position + 1, length))
            {
                textLength += AppendLabelByte(text[textLength..], b);
            }

            position += 1 + length;
        }
    }

    // Host-name characters as themselves (lower-cased); anything else as \DDD so a dot or a
    // control byte inside a label can never be mistaken for structure.
    private static int AppendLabelByte(Span<char> destination, byte b)
    {
        if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'*')
        {
            destination[0] = char.ToLowerInvariant((char)b);
            return 1;
        }

        destination[0] = '\\';
        destination[1] = (char)('0' + (b / 100));
        destination[2] = (char)('0' + (b / 10 % 10));
        destination[3] = (char)('0' + (b % 10));
        return 4;
    }
}
