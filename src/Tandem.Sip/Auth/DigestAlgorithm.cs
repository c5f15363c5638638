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
}
