using Tandem.Sip.Headers;
using Tandem.Sip.Text;
using Tandem.Sip.Uris;

namespace Tandem.Sip.Messages;

/// <summary>
/// A received SIP request or response. The start line and header section are kept as one string
/// decoded as Latin-1, so that one char is one octet: offsets into it are offsets into the wire
/// bytes and re-encoding gives the original octets back. Header values are slices of it; the
/// headers every layer needs (top Via, From, To, Call-ID, CSeq, Max-Forwards) are parsed up front.
/// </summary>
public sealed partial class SipMessage
{
    private readonly HeaderEntry[] _headers;
    private SipUri? _requestUri;

    internal SipMessage(string head, HeaderEntry[] headers, byte[] body)
    {
        Head = head;
        _headers = headers;
        Body = body;
    }

    /// <summary>Start line and header fields, without the empty line that ends them.</summary>
    public string Head { get; }

    public ReadOnlyMemory<byte> Body { get; }

    public bool IsRequest { get; internal init; }

    public SipMethod Method { get; internal init; }

    /// <summary>Method as written in the request line (for extension methods).</summary>
    public string MethodName { get; internal init; } = string.Empty;

    public string RequestUriText { get; internal init; } = string.Empty;

    public SipUri RequestUri
    {
        get => _requestUri ?? throw new InvalidOperationException("responses have no Request-URI");
        internal init => _requestUri = value;
    }

    public int StatusCode { get; internal init; }

    public string ReasonPhrase { get; internal init; } = string.Empty;

    public ViaHeader TopVia { get; internal init; } = null!;

    /// <summary>Number of Via field values across all Via header lines.</summary>
    public int ViaCount { get; internal init; }

    public NameAddress? From { get; internal init; }

    public NameAddress? To { get; internal init; }

    public string? CallId { get; internal init; }

    public CSeqHeader CSeq { get; internal init; }

    /// <summary>Max-Forwards, or -1 when the header is absent.</summary>
    public int MaxForwards { get; internal init; } = -1;

    public int HeaderCount => _headers.Length;

    public HeaderId GetHeaderId(int index) => _headers[index].Id;

    public ReadOnlySpan<char> GetHeaderName(int index)
        => Head.AsSpan(_headers[index].NameStart, _headers[index].NameLength);

    public ReadOnlySpan<char> GetHeaderValue(int index)
    {
        ref readonly var entry = ref _headers[index];
        return entry.Unfolded is { } unfolded ? unfolded : Head.AsSpan(entry.ValueStart, entry.ValueLength);
    }

    /// <summary>Index of the first header with <paramref name="id"/> at or after <paramref name="start"/>, or -1.</summary>
    public int IndexOfHeader(HeaderId id, int start = 0)
    {
        for (var i = start; i < _headers.Length; i++)
        {
            if (_headers[i].Id == id)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Index of the first unknown header called <paramref name="name"/> (case-insensitive), or -1.</summary>
    public int IndexOfHeader(string name)
    {
        for (var i = 0; i < _headers.Length; i++)
        {
            if (GetHeaderName(i).Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    public bool HasHeader(HeaderId id) => IndexOfHeader(id) >= 0;

    public int CountHeaders(HeaderId id)
    {
        var count = 0;
        foreach (var entry in _headers)
        {
            if (entry.Id == id)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>First value of a header as a string, or null when absent.</summary>
    public string? GetHeader(HeaderId id)
    {
        var index = IndexOfHeader(id);
        return index < 0 ? null : GetHeaderValue(index).ToString();
    }

    /// <summary>
    /// Every comma-separated element of every header line with <paramref name="id"/>, in order
    /// (RFC 3261 §7.3.1: "Via: a, b" equals two Via lines). Commas in quotes or &lt;&gt; don't split.
    /// </summary>
    public HeaderValueEnumerator GetHeaderValues(HeaderId id) => new(this, id);

    /// <summary>The header section as UTF-8 for display; Latin-1 text is re-read as UTF-8.</summary>
    public static string ToDisplayText(ReadOnlySpan<char> latin1)
    {
        var bytes = System.Text.Encoding.Latin1.GetBytes(latin1.ToString());
        return System.Text.Encoding.UTF8.GetString(bytes);
    }

    public override string ToString() => IsRequest ? $"{MethodName} {RequestUriText}" : $"{StatusCode} {ReasonPhrase}";

    /// <summary>Enumerates comma-separated header field values without allocating.</summary>
    public ref struct HeaderValueEnumerator
    {
        private readonly SipMessage _message;
        private readonly HeaderId _id;
        private int _header;
        private ReadOnlySpan<char> _remaining;
        private bool _inHeader;

        internal HeaderValueEnumerator(SipMessage message, HeaderId id)
        {
            _message = message;
            _id = id;
            _header = -1;
            _remaining = default;
            _inHeader = false;
            Current = default;
        }

        public ReadOnlySpan<char> Current { get; private set; }

        public readonly HeaderValueEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            while (true)
            {
                if (!_inHeader)
                {
                    _header = _message.IndexOfHeader(_id, _header + 1);
                    if (_header < 0)
                    {
                        return false;
                    }

                    _remaining = _message.GetHeaderValue(_header);
                    _inHeader = true;
                }

                if (_remaining.IsEmpty)
                {
                    _inHeader = false;
                    continue;
                }

                var comma = SipChars.IndexOfUnquoted(_remaining, ',');
                ReadOnlySpan<char> element;
                if (comma < 0)
                {
                    element = _remaining;
                    _remaining = default;
                    _inHeader = false;
                }
                else
                {
                    element = _remaining[..comma];
                    _remaining = _remaining[(comma + 1)..];
                }

                element = SipChars.Trim(element);
                if (!element.IsEmpty)
                {
                    Current = element;
                    return true;
                }
            }
        }
    }
}

public sealed partial class SipMessage
{
    internal SipMessage WithRequestUri(SipUri uri)
    {
        _requestUri = uri;
        return this;
    }
}
