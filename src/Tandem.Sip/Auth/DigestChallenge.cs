namespace Tandem.Sip.Auth;

/// <summary>
/// Builds WWW-Authenticate / Proxy-Authenticate values (RFC 3261 §22.1, §25.1 challenge;
/// RFC 7616 §3.3). Each value is one header field; with several algorithms the server sends one
/// field per algorithm, most preferred first (RFC 8760, UAS behaviour).
/// </summary>
public static class DigestChallenge
{
    /// <summary>SHA-256 then MD5: RFC 8760 orders challenges by preference, MD5 kept for older phones.</summary>
    public static IReadOnlyList<DigestAlgorithm> DefaultAlgorithms { get; } = [DigestAlgorithm.Sha256, DigestAlgorithm.Md5];

    /// <summary><c>Digest realm="..", nonce="..", algorithm=SHA-256, qop="auth"[, stale=true][, opaque=".."]</c></summary>
    public static string Build(string realm, string nonce, DigestAlgorithm algorithm, bool stale = false, string? opaque = null)
    {
        // qop is always offered: with it the client adds cnonce and nc, which make replays detectable.
        string value = $"Digest realm=\"{Quote(realm)}\", nonce=\"{Quote(nonce)}\", algorithm={DigestHash.Token(algorithm)}, qop=\"auth\"";
        if (stale)
        {
            // stale=true: the digest was right but the nonce expired; the UA retries without asking the user (RFC 7616 §3.3).
            value += ", stale=true";
        }
        if (opaque is not null)
        {
            value += $", opaque=\"{Quote(opaque)}\"";
        }
        return value;
    }

    /// <summary>One value per algorithm, in the given order, all with the same nonce.</summary>
    public static string[] BuildAll(
        string realm,
        string nonce,
        IReadOnlyList<DigestAlgorithm> algorithms,
        bool stale = false,
        string? opaque = null)
    {
        var values = new string[algorithms.Count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = Build(realm, nonce, algorithms[i], stale, opaque);
        }
        return values;
    }

    /// <summary>Escapes '"' and '\' as quoted-pairs (RFC 3261 §25.1); returns the input when nothing needs escaping.</summary>
    internal static string Quote(string text)
    {
        if (text.AsSpan().IndexOfAny('"', '\\') < 0)
        {
            return text;
        }
        return text.Replace("\\", "\\\\").Replace("\"", "\\\"");
    }
}
