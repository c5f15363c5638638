using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Tandem.Sip.Auth;

/// <summary>
/// The digest-response of an Authorization or Proxy-Authorization value (RFC 3261 §22.4, §25.1;
/// RFC 7616 §3.4). Only the parameters verification needs are materialised; unknown auth-params
/// are checked for syntax and skipped.
/// </summary>
public sealed partial class DigestCredentials
{
    internal DigestCredentials(
        string username,
        string realm,
        string nonce,
        string uri,
        string response,
        DigestAlgorithm algorithm,
        DigestQop qop,
        string? cnonce,
        string? nonceCountText,
        uint nonceCount,
        string? opaque)
    {
        Username = username;
        Realm = realm;
        Nonce = nonce;
        Uri = uri;
        Response = response;
        Algorithm = algorithm;
        Qop = qop;
        Cnonce = cnonce;
        NonceCountText = nonceCountText;
        NonceCount = nonceCount;
        Opaque = opaque;
    }

    public string Username { get; }
    public string Realm { get; }
    public string Nonce { get; }

    /// <summary>digest-uri as sent; the caller may check it against the Request-URI (RFC 2617 §3.2.2.5); not done here.</summary>
    public string Uri { get; }

    /// <summary>request-digest as sent (hex; checked to be the algorithm's length).</summary>
    public string Response { get; }

    /// <summary>MD5 when the client omitted algorithm= (RFC 7616 §3.4).</summary>
    public DigestAlgorithm Algorithm { get; }

    public DigestQop Qop { get; }

    /// <summary>Present exactly when <see cref="Qop"/> is Auth.</summary>
    public string? Cnonce { get; }

    /// <summary>nc exactly as sent (it is hashed as text); present exactly when <see cref="Qop"/> is Auth.</summary>
    public string? NonceCountText { get; }

    /// <summary>nc as a number, 0 when <see cref="Qop"/> is None.</summary>
    public uint NonceCount { get; }

    public string? Opaque { get; }

    /// <summary>Parses a header value such as <c>Digest username="alice", realm="example.com", ...</c>. Never throws.</summary>
    public static bool TryParse(
        ReadOnlySpan<char> value,
        [NotNullWhen(true)] out DigestCredentials? credentials,
        out DigestParseError error)
    {
        credentials = null;
        error = Parse(value, ref credentials);
        return error == DigestParseError.None;
    }

    private static DigestParseError Parse(ReadOnlySpan<char> value, ref DigestCredentials? credentials)
    {
        value = AuthParamReader.SkipWhitespace(value);
        if (value.IsEmpty)
        {
            return DigestParseError.Empty;
        }

        // credentials = "Digest" LWS digest-response; the scheme is case-insensitive (RFC 3261 §25.1 via RFC 2617 §1.2).
        int schemeEnd = value.IndexOfAny(" \t\r\n");
        ReadOnlySpan<char> scheme = schemeEnd < 0 ? value : value[..schemeEnd];
        if (!scheme.Equals("Digest", StringComparison.OrdinalIgnoreCase))
        {
            return DigestParseError.NotDigestScheme;
        }
        if (schemeEnd < 0)
        {
            return DigestParseError.MissingParameter;
        }

        var fields = new Fields();
        var reader = new AuthParamReader(value[schemeEnd..]);
        while (reader.TryRead(out var name, out var raw, out _))
        {
            var error = fields.Accept(Classify(name), raw);
            if (error != DigestParseError.None)
            {
                return error;
            }
        }
        if (reader.Failed)
        {
            return DigestParseError.Syntax;
        }
        return fields.Build(ref credentials);
    }

    private enum Param
    {
        Unknown,
        Username,
        Realm,
        Nonce,
        Uri,
        Response,
        Algorithm,
        Cnonce,
        Opaque,
        Qop,
        Nc,
    }

    // Parameter names are case-insensitive (RFC 3261 §7.3.1).
    private static Param Classify(ReadOnlySpan<char> name) => name.Length switch
    {
        2 when name.Equals("nc", StringComparison.OrdinalIgnoreCase) => Param.Nc,
        3 when name.Equals("uri", StringComparison.OrdinalIgnoreCase) => Param.Uri,
        3 when name.Equals("qop", StringComparison.OrdinalIgnoreCase) => Param.Qop,
        5 when name.Equals("realm", StringComparison.OrdinalIgnoreCase) => Param.Realm,
        5 when name.Equals("nonce", StringComparison.OrdinalIgnoreCase) => Param.Nonce,
        6 when name.Equals("cnonce", StringComparison.OrdinalIgnoreCase) => Param.Cnonce,
        6 when name.Equals("opaque", StringComparison.OrdinalIgnoreCase) => Param.Opaque,
        8 when name.Equals("username", StringComparison.OrdinalIgnoreCase) => Param.Username,
        8 when name.Equals("response", StringComparison.OrdinalIgnoreCase) => Param.Response,
        9 when name.Equals("algorithm", StringComparison.OrdinalIgnoreCase) => Param.Algorithm,
        _ => Param.Unknown,
    };

    internal static bool IsHex(ReadOnlySpan<char> s) => !s.IsEmpty && !s.ContainsAnyExcept(HexDigits);

    private static readonly System.Buffers.SearchValues<char> HexDigits =
        System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    internal static bool TryParseNonceCount(ReadOnlySpan<char> raw, out uint value)
    {
        // nc-value = 8LHEX (RFC 3261 §25.1); upper case is tolerated. nc counts from 1 (RFC 7616 §3.4).
        value = 0;
        return raw.Length == 8 && IsHex(raw)
            && uint.TryParse(raw, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            && value != 0;
    }
}
