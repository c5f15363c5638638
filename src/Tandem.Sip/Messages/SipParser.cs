using System.Text;
using Tandem.Sip.Headers;
using Tandem.Sip.Text;
using Tandem.Sip.Uris;

namespace Tandem.Sip.Messages;

/// <summary>Limits the parser enforces so that no input can make it use unbounded memory.</summary>
public sealed record SipParserLimits
{
    public static readonly SipParserLimits Default = new();

    /// <summary>Largest whole message accepted, in octets (UDP datagrams cannot be larger anyway).</summary>
    public int MaxMessageSize { get; init; } = 65535;

    public int MaxHeaderCount { get; init; } = 256;
}

/// <summary>The result of parsing: a message, an error, or both (a request whose core headers
/// could be read is still returned with the error so that it can be answered).</summary>
public readonly record struct SipParseResult(SipMessage? Message, SipParseError Error)
{
    public bool IsSuccess => Message is not null && Error.IsEmpty;

    /// <summary>True when a response carrying <see cref="Error"/> can be sent back.</summary>
    public bool CanRespond => !Error.IsEmpty && Message is { IsRequest: true, TopVia: not null };
}

/// <summary>
/// RFC 3261 §7 message parser. One pass splits start line and header lines, indexes header names
/// to slices of the head text, unfolds continuation lines, and parses the core headers.
/// </summary>
public static class SipParser
{
    private static ReadOnlySpan<byte> HeaderTerminator => "\r\n\r\n"u8;

    [ThreadStatic]
    private static List<HeaderEntry>? t_scratch;

    /// <summary>
    /// Parses one message. For datagrams, Content-Length may be smaller than what arrived (the rest
    /// is ignored, RFC 4475 dblreq) but never larger (clerr); an absent Content-Length means "the
    /// rest of the datagram" (RFC 3261 §18.3). Stream callers pass exactly one frame from
    /// <see cref="SipFraming"/>.
    /// </summary>
    public static SipParseResult Parse(ReadOnlySpan<byte> data, SipParserLimits? limits = null)
    {
        limits ??= SipParserLimits.Default;
        var start = 0;
        while (start < data.Length && (data[start] == '\r' || data[start] == '\n'))
        {
            start++;
        }

        data = data[start..];
        if (data.IsEmpty)
        {
            return new(null, SipParseError.BadRequest("empty message"));
        }

        if (data.Length > limits.MaxMessageSize)
        {
            return new(null, new SipParseError(513, "Message Too Large"));
        }

        var headEnd = data.IndexOf(HeaderTerminator);
        SipParseError pending = default;
        int bodyStart;
        if (headEnd < 0)
        {
            pending = SipParseError.BadRequest("header section not terminated by an empty line");
            headEnd = data.Length;
            while (headEnd > 0 && (data[headEnd - 1] == '\r' || data[headEnd - 1] == '\n'))
            {
                headEnd--;
            }

            bodyStart = data.Length;
        }
        else
        {
            bodyStart = headEnd + 4;
        }

        var head = Encoding.Latin1.GetString(data[..headEnd]);
        var scratch = t_scratch ??= new List<HeaderEntry>(32);
        scratch.Clear();
        var builder = new MessageBuilder();
        var error = ParseHead(head, scratch, limits, ref builder);
        if (error.IsEmpty)
        {
            error = pending;
        }

        var headers = scratch.ToArray();
        byte[] body = [];
        var parsedCore = ParseCore(head, headers, ref builder, out var coreError);
        if (error.IsEmpty)
        {
            error = coreError;
        }

        if (parsedCore)
        {
            var available = data.Length - bodyStart;
            var length = builder.ContentLength < 0 ? available : builder.ContentLength;
            if (length > available)
            {
                if (error.IsEmpty)
                {
                    error = SipParseError.BadRequest("Content-Length larger than the message");
                }

                length = available;
            }

            body = length == 0 ? [] : data.Slice(bodyStart, length).ToArray();
        }

        if (builder.IsStartLineValid is false)
        {
            return new(null, error);
        }

        var message = builder.Build(head, headers, body);
        if (!message.IsRequest && !error.IsEmpty)
        {
            // Responses are never answered; a broken one is dropped (RFC 4475 scalarlg, bigcode).
            return new(null, error);
        }

        return new(message, error);
    }

    private static SipParseError ParseHead(string head, List<HeaderEntry> headers, SipParserLimits limits, ref MessageBuilder builder)
    {
        var text = head.AsSpan();
        var lineEnd = text.IndexOf('\n');
        var startLine = lineEnd < 0 ? text : text[..lineEnd];
        if (startLine.EndsWith("\r"))
        {
            startLine = startLine[..^1];
        }

        var error = ParseStartLine(startLine, ref builder);
        if (!builder.IsStartLineValid)
        {
            return error;
        }

        var pos = lineEnd < 0 ? text.Length : lineEnd + 1;
        while (pos < text.Length)
        {
            var lineStart = pos;
            var end = NextLineEnd(text, pos, out var next);

            // Continuation lines (starting with SP or HT) belong to this header (RFC 3261 §7.3.1).
            var valueEnd = end;
            var folded = false;
            while (next < text.Length && text[next] is ' ' or '\t')
            {
                folded = true;
                valueEnd = NextLineEnd(text, next, out next);
            }

            pos = next;
            var line = text[lineStart..end];
            var colon = line.IndexOf(':');
            if (colon < 0)
            {
                return First(error, SipParseError.BadRequest("header line without a colon"));
            }

            var name = line[..colon].TrimEnd(" \t");
            if (!SipChars.IsToken(name))
            {
                return First(error, SipParseError.BadRequest("header name is not a token"));
            }

            if (headers.Count >= limits.MaxHeaderCount)
            {
                return First(error, SipParseError.BadRequest("too many header fields"));
            }

            var valueStart = lineStart + colon + 1;
            while (valueStart < valueEnd && text[valueStart] is ' ' or '\t' or '\r' or '\n')
            {
                valueStart++;
            }

            var trimmedEnd = valueEnd;
            while (trimmedEnd > valueStart && text[trimmedEnd - 1] is ' ' or '\t' or '\r' or '\n')
            {
                trimmedEnd--;
            }

            var unfolded = folded ? Unfold(text[valueStart..trimmedEnd]) : null;
            headers.Add(new HeaderEntry(HeaderNames.Lookup(name), lineStart, name.Length, valueStart, trimmedEnd - valueStart, unfolded));
        }

        return error;
    }

    private static SipParseError First(SipParseError current, SipParseError next) => current.IsEmpty ? next : current;

    /// <summary>End of the line starting at <paramref name="pos"/> (before CRLF or LF) and the start of the next.</summary>
    private static int NextLineEnd(ReadOnlySpan<char> text, int pos, out int next)
    {
        var lf = text[pos..].IndexOf('\n');
        if (lf < 0)
        {
            next = text.Length;
            return text.Length;
        }

        next = pos + lf + 1;
        var end = pos + lf;
        return end > pos && text[end - 1] == '\r' ? end - 1 : end;
    }

    private static string Unfold(ReadOnlySpan<char> value)
    {
        var builder = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is '\r' or '\n')
            {
                while (i + 1 < value.Length && value[i + 1] is '\r' or '\n' or ' ' or '\t')
                {
                    i++;
                }

                builder.Append(' ');
                continue;
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    private static SipParseError ParseStartLine(ReadOnlySpan<char> line, ref MessageBuilder builder)
    {
        builder.IsStartLineValid = false;
        if (line.StartsWith("SIP/"))
        {
            return ParseStatusLine(line, ref builder);
        }

        // Request-Line = Method SP Request-URI SP SIP-Version CRLF, single spaces (RFC 4475 lwsstart, trws).
        var sp1 = line.IndexOf(' ');
        var sp2 = line.LastIndexOf(' ');
        if (sp1 <= 0 || sp2 == sp1)
        {
            return SipParseError.BadRequest("malformed request line");
        }

        var method = line[..sp1];
        var uriText = line[(sp1 + 1)..sp2];
        var version = line[(sp2 + 1)..];
        if (!SipChars.IsToken(method))
        {
            return SipParseError.BadRequest("method is not a token");
        }

        // From here on it is recognisably a request: keep parsing headers even if the rest of the
        // line is bad, so that the 400 can be sent back (RFC 4475 §3.1.2.7–3.1.2.10).
        builder.IsRequest = true;
        builder.IsStartLineValid = true;
        builder.Method = SipMethods.Lookup(method);
        builder.MethodName = builder.Method == SipMethod.Extension ? method.ToString() : SipMethods.Name(builder.Method);
        builder.RequestUriText = uriText.ToString();
        if (uriText.IsEmpty || uriText.IndexOfAny(' ', '\t') >= 0)
        {
            return SipParseError.BadRequest("Request-URI contains white space");
        }

        var uri = SipUri.TryParse(uriText, out var uriError);
        if (uri is null)
        {
            return SipParseError.BadRequest($"bad Request-URI: {uriError}");
        }

        builder.RequestUri = uri;
        if (uri.IsSip && uri.Headers is not null)
        {
            // RFC 3261 §19.1.5: headers are not allowed in a Request-URI (RFC 4475 escruri).
            return SipParseError.BadRequest("Request-URI must not contain headers");
        }

        if (!version.SequenceEqual("SIP/2.0"))
        {
            return version.StartsWith("SIP/") ? SipParseError.VersionNotSupported : SipParseError.BadRequest("bad SIP version");
        }

        return default;
    }

    private static SipParseError ParseStatusLine(ReadOnlySpan<char> line, ref MessageBuilder builder)
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase; the phrase may be empty.
        if (!line.StartsWith("SIP/2.0 ") || line.Length < 11 || (line.Length > 11 && line[11] != ' '))
        {
            return SipParseError.BadRequest("malformed status line");
        }

        if (!SipChars.TryParseUInt(line[8..11], 999, out var code) || code < 100 || code > 699)
        {
            return SipParseError.BadRequest("status code out of range");
        }

        builder.IsRequest = false;
        builder.StatusCode = (int)code;
        builder.ReasonPhrase = line.Length > 12 ? line[12..].ToString() : string.Empty;
        builder.IsStartLineValid = true;
        return default;
    }

    /// <summary>Parses the headers every layer needs. Returns false only when nothing usable remains.</summary>
    private static bool ParseCore(string head, HeaderEntry[] headers, ref MessageBuilder b, out SipParseError error)
    {
        error = default;
        if (!b.IsStartLineValid)
        {
            return false;
        }

        var counts = new int[(int)HeaderId.RetryAfter + 1];
        foreach (var entry in headers)
        {
            counts[(int)entry.Id]++;
        }

        // Single-valued fields may appear once (RFC 3261 §7.3.1; RFC 4475 multi01, mcl01).
        foreach (var id in (ReadOnlySpan<HeaderId>)[HeaderId.From, HeaderId.To, HeaderId.CallId, HeaderId.CSeq, HeaderId.MaxForwards, HeaderId.ContentLength, HeaderId.ContentType, HeaderId.Expires])
        {
            if (counts[(int)id] > 1)
            {
                Keep(ref error, SipParseError.BadRequest($"more than one {HeaderNames.Canonical(id)} header"));
            }
        }

        string? reason;
        var viaCount = 0;
        for (var i = 0; i < headers.Length; i++)
        {
            if (headers[i].Id != HeaderId.Via)
            {
                continue;
            }

            var value = ValueOf(head, headers[i]);
            var pos = 0;
            while (pos <= value.Length)
            {
                var comma = SipChars.IndexOfUnquoted(value, ',', pos);
                var element = SipChars.Trim(comma < 0 ? value[pos..] : value[pos..comma]);
                pos = comma < 0 ? value.Length + 1 : comma + 1;
                if (element.IsEmpty)
                {
                    Keep(ref error, SipParseError.BadRequest("empty Via value"));
                    continue;
                }

                if (viaCount++ == 0)
                {
                    b.TopVia = ViaHeader.TryParse(element, out reason);
                    if (b.TopVia is null)
                    {
                        Keep(ref error, SipParseError.BadRequest(reason!));
                    }
                    else if (b.TopVia.Version != "2.0")
                    {
                        Keep(ref error, SipParseError.VersionNotSupported);
                    }
                }
            }
        }

        b.ViaCount = viaCount;
        if (viaCount == 0)
        {
            Keep(ref error, SipParseError.BadRequest("missing Via header"));
        }

        b.From = ParseAddress(head, headers, HeaderId.From, ref error);
        b.To = ParseAddress(head, headers, HeaderId.To, ref error);

        var callId = Find(head, headers, HeaderId.CallId);
        if (callId is null || callId.Value.IsEmpty)
        {
            Keep(ref error, SipParseError.BadRequest("missing Call-ID header"));
        }
        else if (!IsCallId(callId.Value.Span))
        {
            Keep(ref error, SipParseError.BadRequest("malformed Call-ID"));
        }
        else
        {
            b.CallId = callId.Value.ToString();
        }

        var cseq = Find(head, headers, HeaderId.CSeq);
        if (cseq is null)
        {
            Keep(ref error, SipParseError.BadRequest("missing CSeq header"));
        }
        else if (!CSeqHeader.TryParse(cseq.Value.Span, out var parsed, out reason))
        {
            Keep(ref error, SipParseError.BadRequest(reason!));
        }
        else
        {
            b.CSeq = parsed;
            if (b.IsRequest && !parsed.MethodName.Equals(b.MethodName, StringComparison.Ordinal))
            {
                // RFC 4475 mismatch01/mismatch02.
                Keep(ref error, SipParseError.BadRequest("CSeq method does not match the request method"));
            }
        }

        b.MaxForwards = -1;
        var maxForwards = Find(head, headers, HeaderId.MaxForwards);
        if (maxForwards is not null)
        {
            if (SipChars.TryParseUInt(maxForwards.Value.Span, 255, out var mf))
            {
                b.MaxForwards = (int)mf;
            }
            else
            {
                Keep(ref error, SipParseError.BadRequest("Max-Forwards is not a number from 0 to 255"));
            }
        }

        b.ContentLength = -1;
        var contentLength = Find(head, headers, HeaderId.ContentLength);
        if (contentLength is not null)
        {
            if (SipChars.TryParseUInt(contentLength.Value.Span, int.MaxValue, out var cl))
            {
                b.ContentLength = (int)cl;
            }
            else
            {
                // RFC 4475 ncl: a negative or non-numeric length can't frame a body.
                Keep(ref error, SipParseError.BadRequest("Content-Length is not a valid number"));
                b.ContentLength = 0;
            }
        }

        return true;
    }

    private static NameAddress? ParseAddress(string head, HeaderEntry[] headers, HeaderId id, ref SipParseError error)
    {
        var value = Find(head, headers, id);
        if (value is null)
        {
            Keep(ref error, SipParseError.BadRequest($"missing {HeaderNames.Canonical(id)} header"));
            return null;
        }

        var address = NameAddress.TryParse(value.Value.Span, out var reason);
        if (address is null)
        {
            Keep(ref error, SipParseError.BadRequest($"bad {HeaderNames.Canonical(id)} header: {reason}"));
        }

        return address;
    }

    private static bool IsCallId(ReadOnlySpan<char> s)
    {
        // callid = word [ "@" word ]
        var at = s.IndexOf('@');
        var local = at < 0 ? s : s[..at];
        var host = at < 0 ? ReadOnlySpan<char>.Empty : s[(at + 1)..];
        return IsWord(local) && (at < 0 || IsWord(host));

        static bool IsWord(ReadOnlySpan<char> w)
        {
            if (w.IsEmpty)
            {
                return false;
            }

            foreach (var c in w)
            {
                if (!SipChars.IsWordChar(c))
                {
                    return false;
                }
            }

            return true;
        }
    }

    private static ReadOnlyMemory<char>? Find(string head, HeaderEntry[] headers, HeaderId id)
    {
        foreach (var entry in headers)
        {
            if (entry.Id == id)
            {
                return entry.Unfolded is { } unfolded ? unfolded.AsMemory() : head.AsMemory(entry.ValueStart, entry.ValueLength);
            }
        }

        return null;
    }

    private static ReadOnlySpan<char> ValueOf(string head, in HeaderEntry entry)
        => entry.Unfolded is { } unfolded ? unfolded : head.AsSpan(entry.ValueStart, entry.ValueLength);

    private static void Keep(ref SipParseError error, SipParseError next)
    {
        if (error.IsEmpty)
        {
            error = next;
        }
    }

    /// <summary>Fields gathered while parsing, turned into the immutable message at the end.</summary>
    private struct MessageBuilder
    {
        public bool IsStartLineValid;
        public bool IsRequest;
        public SipMethod Method;
        public string? MethodName;
        public SipUri? RequestUri;
        public string? RequestUriText;
        public int StatusCode;
        public string? ReasonPhrase;
        public ViaHeader? TopVia;
        public int ViaCount;
        public NameAddress? From;
        public NameAddress? To;
        public string? CallId;
        public CSeqHeader CSeq;
        public int MaxForwards;
        public int ContentLength;

        public readonly SipMessage Build(string head, HeaderEntry[] headers, byte[] body)
        {
            var message = new SipMessage(head, headers, body)
            {
                IsRequest = IsRequest,
                Method = Method,
                MethodName = MethodName ?? string.Empty,
                RequestUriText = RequestUriText ?? string.Empty,
                StatusCode = StatusCode,
                ReasonPhrase = ReasonPhrase ?? string.Empty,
                TopVia = TopVia!,
                ViaCount = ViaCount,
                From = From,
                To = To,
                CallId = CallId,
                CSeq = CSeq,
                MaxForwards = MaxForwards,
            };
            return RequestUri is null ? message : message.WithRequestUri(RequestUri);
        }
    }
}
