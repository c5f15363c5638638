using System.Security.Cryptography;

namespace Tandem.Sip.Auth;

/// <summary>
/// Server side of SIP digest authentication (RFC 3261 §22.4, RFC 7616 §3.4, RFC 8760): issues
/// challenges and checks credentials against a stored HA1. Thread-safe; one instance per server.
/// </summary>
public sealed class DigestAuthenticator
{
    private readonly NonceService _nonces;
    private readonly NonceCountTracker _nonceCounts;
    private readonly bool _allowRfc2069;
    private readonly DigestAlgorithm[] _algorithms;

    // Stand-ins for unknown users: the same hashing and comparison run as for a wrong password,
    // so neither the verdict nor the time taken tells whether a username exists.
    private readonly string _dummyHa1Md5 = RandomHex(16);
    private readonly string _dummyHa1Sha256 = RandomHex(32);

    /// <param name="algorithms">Offered and accepted algorithms, most preferred first; default SHA-256, MD5.</param>
    /// <param name="nonceCounts">Default: a tracker retaining entries for the nonce lifetime plus clock skew.</param>
    /// <param name="allowRfc2069">Accept responses without qop (RFC 2069 form) from old phones.</param>
    public DigestAuthenticator(
        NonceService nonces,
        IReadOnlyList<DigestAlgorithm>? algorithms = null,
        NonceCountTracker? nonceCounts = null,
        bool allowRfc2069 = true)
    {
        _nonces = nonces;
        _algorithms = algorithms is { Count: > 0 } ? [.. algorithms] : [.. DigestChallenge.DefaultAlgorithms];
        _nonceCounts = nonceCounts
            ?? new NonceCountTracker(nonces.Lifetime + NonceService.MaxClockSkew, nonces.TimeProvider);
        _allowRfc2069 = allowRfc2069;
    }

    public IReadOnlyList<DigestAlgorithm> Algorithms => _algorithms;

    /// <summary>
    /// Fresh challenge values (one per algorithm, preferred first) for WWW-Authenticate in a 401 or
    /// Proxy-Authenticate in a 407. Pass stale=true only after <see cref="DigestVerdict.StaleNonce"/>.
    /// </summary>
    public string[] CreateChallenges(string realm, bool stale = false, string? opaque = null)
        => DigestChallenge.BuildAll(realm, _nonces.Issue(realm), Algorithms, stale, opaque);

    /// <summary>Verdict for a header value that did not parse.</summary>
    public static DigestVerdict VerdictFor(DigestParseError error) => error switch
    {
        DigestParseError.None => DigestVerdict.Ok,
        DigestParseError.UnsupportedAlgorithm => DigestVerdict.UnsupportedAlgorithm,
        _ => DigestVerdict.MissingOrMalformed,
    };

    /// <summary>
    /// Checks <paramref name="credentials"/> for a request with <paramref name="method"/> (e.g.
    /// "REGISTER"). <paramref name="ha1"/> is the stored hex HA1 for credentials.Username in
    /// <paramref name="realm"/> and credentials.Algorithm, or null when the user is unknown or disabled.
    /// </summary>
    public DigestVerdict Verify(ReadOnlySpan<char> method, DigestCredentials credentials, ReadOnlySpan<char> realm, string? ha1)
    {
        if (!realm.SequenceEqual(credentials.Realm))
        {
            return DigestVerdict.WrongRealm;
        }
        if (Array.IndexOf(_algorithms, credentials.Algorithm) < 0)
        {
            return DigestVerdict.UnsupportedAlgorithm;
        }
        if (credentials.Qop == DigestQop.None && !_allowRfc2069)
        {
            return DigestVerdict.MissingOrMalformed;
        }

        var nonceStatus = _nonces.Validate(credentials.Nonce, realm);
        if (nonceStatus == NonceStatus.Invalid)
        {
            return DigestVerdict.InvalidNonce;
        }

        // Check the digest before reporting staleness: stale=true tells the UA its password was
        // right (RFC 7616 §3.3), and before recording nc, so a forged request cannot burn counts.
        if (!ResponseMatches(method, credentials, ha1))
        {
            return DigestVerdict.WrongCredentials;
        }
        if (nonceStatus == NonceStatus.Stale)
        {
            return DigestVerdict.StaleNonce;
        }

        // RFC 2069 responses carry no nc; counting them as nc=1 makes such a nonce single-use, which
        // stops a captured header being replayed with a different Contact. The UA gets a fresh
        // challenge and retries.
        uint nc = credentials.Qop == DigestQop.Auth ? credentials.NonceCount : 1;
        return _nonceCounts.TryAdvance(credentials.Nonce, nc) ? DigestVerdict.Ok : DigestVerdict.Replay;
    }

    internal bool ResponseMatches(ReadOnlySpan<char> method, DigestCredentials credentials, string? ha1)
    {
        var algorithm = credentials.Algorithm;
        int hashBytes = DigestComputation.HashBytes(algorithm);
        if (ha1 is null || ha1.Length != 2 * hashBytes)
        {
            ha1 = algorithm == DigestAlgorithm.Md5 ? _dummyHa1Md5 : _dummyHa1Sha256;
        }

        Span<byte> expected = stackalloc byte[DigestComputation.MaxHashBytes];
        int length = DigestComputation.ComputeResponse(
            algorithm, ha1, method, credentials.Uri, credentials.Nonce, credentials.Qop,
            credentials.NonceCountText, credentials.Cnonce, expected);

        // Compare raw digests: equal in time whatever the position of the first difference, and
        // indifferent to the case of the client's hex. The parser checked hex and length.
        Span<byte> received = stackalloc byte[DigestComputation.MaxHashBytes];
        if (Convert.FromHexString(credentials.Response, received, out _, out int written) != System.Buffers.OperationStatus.Done
            || written != length)
        {
            return false;
        }
        return CryptographicOperations.FixedTimeEquals(expected[..length], received[..length]);
    }

    private static string RandomHex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}
