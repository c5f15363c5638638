using System.Text;
using Tandem.Sip.Text;

namespace Tandem.Sip.Uris;

/// <summary>
/// A parsed URI (RFC 3261 §19.1). SIP and SIPS URIs are split into their parts; tel: URIs keep the
/// number as <see cref="User"/>; any other scheme is kept opaque so that a message carrying it
/// still parses (RFC 4475 §3.3.2, §3.3.4) and the application can answer 416.
/// </summary>
public sealed class SipUri
{
    private static readonly SipParameter[] NoParameters = [];

    private SipUri(string text, string scheme)
    {
        Text = text;
        Scheme = scheme;
    }

    /// <summary>The URI exactly as it appeared.</summary>
    public string Text { get; }

    /// <summary>Lower-case scheme: "sip", "sips", "tel" or another.</summary>
    public string Scheme { get; }

    /// <summary>User part, still escaped as received (null when absent).</summary>
    public string? User { get; private init; }

    public string? Password { get; private init; }

    /// <summary>Host as written; IPv6 references keep their brackets. Empty for non-SIP schemes.</summary>
    public string Host { get; private init; } = string.Empty;

    /// <summary>Port, or 0 when not given.</summary>
    public int Port { get; private init; }

    public IReadOnlyList<SipParameter> Parameters { get; private init; } = NoParameters;

    /// <summary>URI headers after '?', as received (escaped), or null.</summary>
    public string? Headers { get; private init; }

    public bool IsSip => Scheme is "sip" or "sips";

    public bool IsSecure => Scheme == "sips";

    public string? Transport => SipParameters.Get(Parameters, "transport");

    public bool IsLooseRouter => SipParameters.Has(Parameters, "lr");

    public override string ToString() => Text;

    /// <summary>Parses a URI; returns null with a reason when it is malformed.</summary>
    public static SipUri? TryParse(ReadOnlySpan<char> text, out string? error)
    {
        error = null;
        var colon = text.IndexOf(':');
        if (colon <= 0 || !IsScheme(text[..colon]))
        {
            error = "URI has no valid scheme";
            return null;
        }

        foreach (var c in text)
        {
            // Whitespace and angle brackets never appear inside a URI (RFC 4475 §3.1.2.7, §3.1.2.14).
            if (c <= ' ' || c == '<' || c == '>' || c == '"' || c == 0x7F)
            {
                error = "URI contains whitespace or a forbidden character";
                return null;
            }
        }

        var scheme = text[..colon].ToString().ToLowerInvariant();
        var rest = text[(colon + 1)..];
        var original = text.ToString();
        return scheme switch
        {
            "sip" or "sips" => ParseSip(original, scheme, rest, out error),
            "tel" => ParseTel(original, rest, out error),
            _ => rest.IsEmpty ? Fail("URI is empty after the scheme", out error) : new SipUri(original, scheme),
        };
    }

    private static SipUri? Fail(string reason, out string? error)
    {
        error = reason;
        return null;
    }

    private static bool IsScheme(ReadOnlySpan<char> s)
    {
        if (!char.IsAsciiLetter(s[0]))
        {
            return false;
        }

        foreach (var c in s)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('+' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    private static SipUri? ParseSip(string original, string scheme, ReadOnlySpan<char> rest, out string? error)
    {
        error = null;
        string? user = null;
        string? password = null;

        // The first literal '@' ends userinfo: '@' may not appear unescaped in host, parameters or headers.
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            var userInfo = rest[..at];
            var passColon = userInfo.IndexOf(':');
            var userPart = passColon >= 0 ? userInfo[..passColon] : userInfo;
            if (userPart.IsEmpty || !ValidEscapes(userInfo))
            {
                return Fail("URI user part is empty or badly escaped", out error);
            }

            user = userPart.ToString();
            password = passColon >= 0 ? userInfo[(passColon + 1)..].ToString() : null;
            rest = rest[(at + 1)..];
        }

        string? headers = null;
        var question = rest.IndexOf('?');
        if (question >= 0)
        {
            headers = rest[(question + 1)..].ToString();
            rest = rest[..question];
        }

        var semicolon = rest.IndexOf(';');
        var hostPort = semicolon >= 0 ? rest[..semicolon] : rest;
        if (!TrySplitHostPort(hostPort, out var host, out var port, out error))
        {
            return null;
        }

        var parameters = NoParameters;
        if (semicolon >= 0 && !TryParseParameters(rest[(semicolon + 1)..], out parameters, out error))
        {
            return null;
        }

        return new SipUri(original, scheme)
        {
            User = user,
            Password = password,
            Host = host,
            Port = port,
            Parameters = parameters,
            Headers = headers,
        };
    }

    private static SipUri? ParseTel(string original, ReadOnlySpan<char> rest, out string? error)
    {
        error = null;
        var semicolon = rest.IndexOf(';');
        var number = semicolon >= 0 ? rest[..semicolon] : rest;
        if (number.IsEmpty)
        {
            return Fail("tel URI has no number", out error);
        }

        var parameters = NoParameters;
        if (semicolon >= 0 && !TryParseParameters(rest[(semicolon + 1)..], out parameters, out error))
        {
            return null;
        }

        return new SipUri(original, "tel") { User = number.ToString(), Parameters = parameters };
    }

    /// <summary>Splits "host[:port]" including "[v6]:port" and validates both.</summary>
    internal static bool TrySplitHostPort(ReadOnlySpan<char> hostPort, out string host, out int port, out string? error)
    {
        host = string.Empty;
        port = 0;
        error = null;
        ReadOnlySpan<char> hostSpan;
        ReadOnlySpan<char> portSpan = default;
        if (hostPort.StartsWith("["))
        {
            var close = hostPort.IndexOf(']');
            if (close < 0 || !System.Net.IPAddress.TryParse(hostPort[1..close], out var v6)
                || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                error = "bad IPv6 reference";
                return false;
            }

            hostSpan = hostPort[..(close + 1)];
            var after = hostPort[(close + 1)..];
            if (!after.IsEmpty)
            {
                if (after[0] != ':')
                {
                    error = "junk after IPv6 reference";
                    return false;
                }

                portSpan = after[1..];
                if (portSpan.IsEmpty)
                {
                    error = "empty port";
                    return false;
                }
            }
        }
        else
        {
            var colon = hostPort.IndexOf(':');
            hostSpan = colon >= 0 ? hostPort[..colon] : hostPort;
            if (colon >= 0)
            {
                portSpan = hostPort[(colon + 1)..];
                if (portSpan.IsEmpty)
                {
                    error = "empty port";
                    return false;
                }
            }

            if (!IsHostname(hostSpan))
            {
                error = "bad host";
                return false;
            }
        }

        if (!portSpan.IsEmpty)
        {
            if (!SipChars.TryParseUInt(portSpan, 65535, out var p))
            {
                error = "bad port";
                return false;
            }

            port = (int)p;
        }

        host = hostSpan.ToString();
        return true;
    }

    private static bool IsHostname(ReadOnlySpan<char> host)
    {
        if (host.IsEmpty)
        {
            return false;
        }

        foreach (var c in host)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '.' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool ValidEscapes(ReadOnlySpan<char> s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '%' && (i + 2 >= s.Length || !SipChars.IsHex(s[i + 1]) || !SipChars.IsHex(s[i + 2])))
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryParseParameters(ReadOnlySpan<char> s, out SipParameter[] parameters, out string? error)
    {
        error = null;
        var list = new List<SipParameter>(4);
        foreach (var range in s.Split(';'))
        {
            var item = s[range];
            if (item.IsEmpty)
            {
                continue;
            }

            var eq = item.IndexOf('=');
            var name = eq >= 0 ? item[..eq] : item;
            if (name.IsEmpty || !ValidEscapes(item))
            {
                parameters = NoParameters;
                error = "bad URI parameter";
                return false;
            }

            list.Add(new SipParameter(name.ToString(), eq >= 0 ? item[(eq + 1)..].ToString() : null));
        }

        parameters = [.. list];
        return true;
    }

    /// <summary>
    /// The address-of-record key for a registrar (RFC 3261 §10.3 step 5): scheme sip (sips folded
    /// in), unescaped user, lower-case host; parameters, headers and port dropped.
    /// </summary>
    public string ToAddressOfRecord()
    {
        if (!IsSip)
        {
            return Text;
        }

        var builder = new StringBuilder(48);
        builder.Append("sip:");
        if (User is not null)
        {
            builder.Append(SipChars.TryUnescape(User, out var unescaped) ? unescaped : User).Append('@');
        }

        builder.Append(Host.ToLowerInvariant());
        return builder.ToString();
    }

    /// <summary>Host without IPv6 brackets, for address parsing.</summary>
    public string HostWithoutBrackets => Host.StartsWith('[') ? Host[1..^1] : Host;
}
