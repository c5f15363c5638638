using System.Buffers.Binary;

namespace Tandem.Server.Resolution.Dns;

/// <summary>Writes a standard query with one question (RFC 1035 §4.1), recursion desired.</summary>
public static class DnsQueryWriter
{
    /// <summary>Header, the longest name, QTYPE and QCLASS.</summary>
    public const int MaxQueryLength = DnsMessageReader.HeaderLength + DnsMessageReader.MaxNameWireLength + 4;

    /// <summary>
    /// Writes the query; false when the name is not a host or service name (labels of letters,
    /// digits, '-' and '_', at most 63 octets each, 255 in all) or the buffer is too small.
    /// </summary>
    public static bool TryWrite(Span<byte> destination, ushort id, string name, DnsRecordType type, out int written)
    {
        written = 0;
        if (destination.Length < MaxQueryLength)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, id);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], 0x0100); // QR=0, OPCODE=QUERY, RD=1
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], 1);
        BinaryPrimitives.WriteUInt32BigEndian(destination[6..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], 0);
        var offset = DnsMessageReader.HeaderLength;
        if (!TryWriteName(destination[offset..], name, out var nameLength))
        {
            return false;
        }

        offset += nameLength;
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], (ushort)type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 2)..], 1); // IN
        written = offset + 4;
        return true;
    }

    /// <summary>True when <paramref name="name"/> can be asked for: see <see cref="TryWrite"/>.</summary>
    public static bool IsValidName(string name)
    {
        Span<byte> scratch = stackalloc byte[DnsMessageReader.MaxNameWireLength];
        return TryWriteName(scratch, name, out _);
    }

    private static bool TryWriteName(Span<byte> destination, string name, out int written)
    {
        written = 0;
        var text = name.AsSpan();
        if (text.EndsWith("."))
        {
            text = text[..^1];
        }

        if (text.IsEmpty)
        {
            return false;
        }

        var offset = 0;
        foreach (var range in text.Split('.'))
        {
            var label = text[range];
            if (label.IsEmpty || label.Length > 63 || offset + 1 + label.Length + 1 > DnsMessageReader.MaxNameWireLength)
            {
                return false;
            }

            destination[offset++] = (byte)label.Length;
            foreach (var c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_'))
                {
                    return false;
                }

                destination[offset++] = (byte)char.ToLowerInvariant(c);
            }
        }

        destination[offset++] = 0;
        written = offset;
        return true;
    }
}
