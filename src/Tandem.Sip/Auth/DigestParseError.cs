namespace Tandem.Sip.Auth;

/// <summary>Quality of protection the client applied (RFC 7616 §3.4). Only "auth" is offered.</summary>
public enum DigestQop
{
    /// <summary>No qop parameter: the RFC 2069 form, still sent by some old phones.</summary>
    None,
    Auth,
}

/// <summary>Why an Authorization / Proxy-Authorization value was rejected; usable as a metric tag.</summary>
public enum DigestParseError
{
    None,
    Empty,
    NotDigestScheme,
    Syntax,
    DuplicateParameter,
    MissingParameter,
    UnsupportedAlgorithm,
    UnsupportedQop,
    BadNonceCount,
    BadResponse,
}

public static class DigestParseErrors
{
    /// <summary>A short, fixed text for logs or a reason phrase (never echoes input).</summary>
    public static string Describe(DigestParseError error) => error switch
    {
        DigestParseError.None => "ok",
        DigestParseError.Empty => "empty credentials",
        DigestParseError.NotDigestScheme => "authentication scheme is not Digest",
        DigestParseError.Syntax => "malformed digest parameters",
        DigestParseError.DuplicateParameter => "duplicate digest parameter",
        DigestParseError.MissingParameter => "missing required digest parameter",
        DigestParseError.UnsupportedAlgorithm => "unsupported digest algorithm (only MD5 and SHA-256; -sess variants are not supported)",
        DigestParseError.UnsupportedQop => "unsupported qop (only auth)",
        DigestParseError.BadNonceCount => "nc must be 8 hex digits and not zero",
        DigestParseError.BadResponse => "response is not a hex digest of the algorithm's length",
        _ => "unknown",
    };
}
