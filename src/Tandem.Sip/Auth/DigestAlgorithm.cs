using System.Security.Cryptography;
using System.Text;

namespace Tandem.Sip.Auth;

/// <summary>Digest hash algorithms Tandem offers (RFC 7616 §3.1, RFC 8760 §2).</summary>
public enum DigestAlgorithm
{
    Md5,
    Sha256,
}

public static class DigestHash
{
    /// <summary>The token used in the algorithm= parameter for each algorithm.</summary>
    public static string Token(DigestAlgorithm algorithm) => algorithm switch
    {
        DigestAlgorithm.Md5 => "MD5",
        DigestAlgorithm.Sha256 => "SHA-256",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
    };

    /// <summary>HA1 = H(username ":" realm ":" password), lower-case hex (RFC 7616 §3.4.2).</summary>
    public static string ComputeHa1(DigestAlgorithm algorithm, string username, string realm, string password)
        => Hex(algorithm, $"{username}:{realm}:{password}");

    /// <summary>H(data) as lower-case hex.</summary>
    public static string Hex(DigestAlgorithm algorithm, string data)
    {
        var bytes = Encoding.UTF8.GetBytes(data);
        // MD5 is required by SIP digest for interoperability (RFC 3261 §22.4); SHA-256 is offered too.
#pragma warning disable CA5351
        var hash = algorithm == DigestAlgorithm.Md5 ? MD5.HashData(bytes) : SHA256.HashData(bytes);
#pragma warning restore CA5351
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>
    /// The request-digest a client sends in response= (RFC 7616 §3.4.1; RFC 2069 form when
    /// <paramref name="qop"/> is <see cref="DigestQop.None"/>), lower-case hex. Used by tests and by
    /// Tandem when it authenticates itself to a trunk.
    /// </summary>
    public static string ComputeResponse(
        DigestAlgorithm algorithm,
        string ha1,
        string method,
        string digestUri,
        string nonce,
        DigestQop qop = DigestQop.None,
        string? nonceCount = null,
        string? cnonce = null)
    {
        Span<byte> digest = stackalloc byte[DigestComputation.MaxHashBytes];
        int length = DigestComputation.ComputeResponse(
            algorithm, ha1, method, digestUri, nonce, qop, nonceCount, cnonce, digest);
        return Convert.ToHexStringLower(digest[..length]);
    }

    /// <summary>Maps an algorithm= token; false for anything Tandem does not verify (including *-sess).</summary>
    public static bool TryParseToken(ReadOnlySpan<char> token, out DigestAlgorithm algorithm)
    {
        // Parameter values are case-insensitive unless a header says otherwise (RFC 3261 §7.3.1).
        if (token.Equals("MD5", StringComparison.OrdinalIgnoreCase))
        {
            algorithm = DigestAlgorithm.Md5;
            return true;
        }
        if (token.Equals("SHA-256", StringComparison.OrdinalIgnoreCase))
        {
            algorithm = DigestAlgorithm.Sha256;
            return true;
        }
        algorithm = default;
        return false;
    }
}
