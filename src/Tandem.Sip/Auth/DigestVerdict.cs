namespace Tandem.Sip.Auth;

/// <summary>
/// Outcome of checking digest credentials. The server answers every failure except
/// <see cref="StaleNonce"/> with the same 401/407 and a fresh challenge, so a client learns nothing
/// about which check failed; the distinction is for logs and metrics.
/// </summary>
public enum DigestVerdict
{
    Ok,
    MissingOrMalformed,
    WrongRealm,
    UnsupportedAlgorithm,

    /// <summary>Correct digest over an expired nonce: challenge again with stale=true.</summary>
    StaleNonce,
    InvalidNonce,

    /// <summary>Correct digest, but nc not above one already accepted for the nonce (or a reused RFC 2069 nonce).</summary>
    Replay,

    /// <summary>Wrong password, unknown or disabled user: deliberately the same verdict.</summary>
    WrongCredentials,
}
