namespace Tandem.Sip.Messages;

public enum FrameStatus
{
    /// <summary>Not a whole message yet; nothing consumed.</summary>
    NeedMoreData,

    /// <summary>A whole message of <c>length</c> octets starts at <c>offset</c>.</summary>
    Message,

    /// <summary>Only CRLFs so far: <c>length</c> octets of keep-alive. A CRLFCRLF ping wants a CRLF pong (RFC 5626 §4.4.1).</summary>
    KeepAlive,

    /// <summary>The stream cannot be framed (bad or missing Content-Length, too large); close it.</summary>
    Invalid,
}

/// <summary>
/// Frames SIP messages on a stream transport before anything is parsed (RFC 3261 §18.3): skip
/// keep-alive CRLFs, find the empty line, read only Content-Length, enforce the size limit.
/// </summary>
public static class SipFraming
{
    private static ReadOnlySpan<byte> HeaderTerminator => "\r\n\r\n"u8;

    public static FrameStatus TryFrame(ReadOnlySpan<byte> buffer, int maxMessageSize, out int offset, out int length)
    {
        offset = 0;
        length = 0;
        var start = 0;
        while (start < buffer.Length && (buffer[start] == '\r' || buffer[start] == '\n'))
        {
            start++;
        }

        if (start > 0)
        {
            // Report leading CRLFs on their own so the transport can pong a "\r\n\r\n" ping.
            length = start;
            return FrameStatus.KeepAlive;
        }

        var headEnd = buffer.IndexOf(HeaderTerminator);
        if (headEnd < 0)
        {
            return buffer.Length > maxMessageSize ? FrameStatus.Invalid : FrameStatus.NeedMoreData;
        }

        if (!TryReadContentLength(buffer[..headEnd], out var contentLength))
        {
            return FrameStatus.Invalid;
        }

        var total = (long)headEnd + 4 + contentLength;
        if (total > maxMessageSize)
        {
            return FrameStatus.Invalid;
        }

        if (buffer.Length < total)
        {
            return FrameStatus.NeedMoreData;
        }

        length = (int)total;
        return FrameStatus.Message;
    }

    /// <summary>Content-Length (or compact "l") from a raw header block; a stream message must have exactly one.</summary>
    private static bool TryReadContentLength(ReadOnlySpan<byte> head, out int contentLength)
    {
        contentLength = -1;
        var found = false;
        var pos = head.IndexOf("\r\n"u8);
        while (pos >= 0 && pos < head.Length)
        {
            var lineStart = pos + 2;
            var next = head[lineStart..].IndexOf("\r\n"u8);
            var line = next < 0 ? head[lineStart..] : head.Slice(lineStart, next);
            pos = next < 0 ? -1 : lineStart + next;

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || line[0] is (byte)' ' or (byte)'\t')
            {
                continue;
            }

            var name = line[..colon].TrimEnd(" \t"u8);
            if (!IsContentLengthName(name))
            {
                continue;
            }

            if (found)
            {
                return false;
            }

            found = true;
            var value = line[(colon + 1)..].Trim(" \t"u8);
            if (!TryParseDigits(value, out contentLength))
            {
                return false;
            }
        }

        // RFC 3261 §18.3: Content-Length is mandatory on streams.
        return found;
    }

    private static bool TryParseDigits(ReadOnlySpan<byte> value, out int number)
    {
        number = 0;
        if (value.IsEmpty || value.Length > 10)
        {
            return false;
        }

        long total = 0;
        foreach (var b in value)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            total = (total * 10) + (b - '0');
        }

        if (total > int.MaxValue)
        {
            return false;
        }

        number = (int)total;
        return true;
    }

    private static bool IsContentLengthName(ReadOnlySpan<byte> name)
        => (name.Length == 1 && (name[0] | 0x20) == 'l')
           || System.Text.Ascii.EqualsIgnoreCase(name, "Content-Length"u8);
}
