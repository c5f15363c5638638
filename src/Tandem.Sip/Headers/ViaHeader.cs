using Tandem.Sip.Text;
using Tandem.Sip.Uris;

namespace Tandem.Sip.Headers;

/// <summary>One via-parm (RFC 3261 §20.42, §25.1), with white space allowed around the slashes.</summary>
public sealed class ViaHeader
{
    /// <summary>RFC 3261 §8.1.1.7: branches of compliant elements start with this cookie.</summary>
    public const string MagicCookie = "z9hG4bK";

    private ViaHeader(string text, string transport, string host, int port, SipParameter[] parameters)
    {
        Text = text;
        Transport = transport;
        Host = host;
        Port = port;
        Parameters = parameters;
    }

    /// <summary>The via-parm as received (trimmed).</summary>
    public string Text { get; }

    /// <summary>Protocol version from sent-protocol; the parser insists on "2.0" but keeps others readable to answer 505.</summary>
    public string Version { get; private init; } = "2.0";

    /// <summary>Upper-case transport token: UDP, TCP, TLS, SCTP, WS, WSS or unknown ones.</summary>
    public string Transport { get; }

    public string Host { get; }

    /// <summary>Port from sent-by, or 0 when absent.</summary>
    public int Port { get; }

    public IReadOnlyList<SipParameter> Parameters { get; }

    public string? Branch => SipParameters.Get(Parameters, "branch");

    public string? Received => SipParameters.Get(Parameters, "received");

    /// <summary>RFC 3581: the client asks for the source port with a valueless rport.</summary>
    public bool HasRport => SipParameters.Has(Parameters, "rport");

    /// <summary>A branch that is the cookie alone identifies nothing (RFC 4475 §3.2.1), so it doesn't count.</summary>
    public bool HasRfc3261Branch => Branch is { } b && b.Length > MagicCookie.Length && b.StartsWith(MagicCookie, StringComparison.Ordinal);

    /// <summary>"host[:port]" as used in transaction matching (RFC 3261 §17.2.3).</summary>
    public string SentBy => Port == 0 ? Host : $"{Host}:{Port}";

    public static ViaHeader? TryParse(ReadOnlySpan<char> value, out string? error)
    {
        error = null;
        var s = SipChars.Trim(value);
        var pos = 0;
        if (!ReadToken(s, ref pos, out var protocol) || !ReadSlash(s, ref pos)
            || !ReadToken(s, ref pos, out var version) || !ReadSlash(s, ref pos)
            || !ReadToken(s, ref pos, out var transport))
        {
            error = "Via sent-protocol is malformed";
            return null;
        }

        if (!protocol.Equals("SIP", StringComparison.OrdinalIgnoreCase))
        {
            error = "Via protocol is not SIP";
            return null;
        }

        var sentByStart = SkipWhitespace(s, pos);
        if (sentByStart == pos)
        {
            error = "Via needs white space before sent-by";
            return null;
        }

        var end = s[sentByStart..].IndexOf(';');
        var sentBy = SipChars.Trim(end >= 0 ? s[sentByStart..(sentByStart + end)] : s[sentByStart..]);
        if (!SipUri.TrySplitHostPort(RemoveWhitespace(sentBy), out var host, out var port, out error))
        {
            error = $"Via sent-by: {error}";
            return null;
        }

        var parameters = HeaderParameterParser.None;
        if (end >= 0 && !HeaderParameterParser.TryParse(s[(sentByStart + end + 1)..], out parameters, out error))
        {
            error = $"Via: {error}";
            return null;
        }

        return new ViaHeader(s.ToString(), transport.ToString().ToUpperInvariant(), host, port, parameters) { Version = version.ToString() };
    }

    private static ReadOnlySpan<char> RemoveWhitespace(ReadOnlySpan<char> sentBy)
    {
        // sent-by = host [ COLON port ] and COLON = SWS ":" SWS, so "host : 5060" is legal.
        var colon = sentBy.LastIndexOf(':');
        if (colon > 0 && sentBy[0] != '[' && (SipChars.IsWhitespace(sentBy[colon - 1]) || (colon + 1 < sentBy.Length && SipChars.IsWhitespace(sentBy[colon + 1]))))
        {
            return string.Concat(SipChars.Trim(sentBy[..colon]), ":", SipChars.Trim(sentBy[(colon + 1)..]));
        }

        return sentBy;
    }

    private static int SkipWhitespace(ReadOnlySpan<char> s, int pos)
    {
        while (pos < s.Length && SipChars.IsWhitespace(s[pos]))
        {
            pos++;
        }

        return pos;
    }

    private static bool ReadToken(ReadOnlySpan<char> s, ref int pos, out ReadOnlySpan<char> token)
    {
        var start = pos;
        while (pos < s.Length && SipChars.IsTokenChar(s[pos]))
        {
            pos++;
        }

        token = s[start..pos];
        return pos > start;
    }

    private static bool ReadSlash(ReadOnlySpan<char> s, ref int pos)
    {
        pos = SkipWhitespace(s, pos);
        if (pos >= s.Length || s[pos] != '/')
        {
            return false;
        }

        pos = SkipWhitespace(s, pos + 1);
        return true;
    }
}
