using Tandem.Sip.Auth;
using Tandem.Sip.Messages;

namespace Tandem.Server.Registrar;

/// <summary>
/// Digest authentication of requests against the subscriber store (RFC 3261 §22, RFC 7616, RFC 8760):
/// one challenge per configured algorithm, HA1 from the store, stale=true for an expired nonce.
/// Every other failure gets the same plain challenge so unknown users and wrong passwords look alike.
/// </summary>
public sealed class DigestRequestAuthenticator : IRequestAuthenticator
{
    private readonly DigestAuthenticator _digest;
    private readonly SubscriberCache _subscribers;

    public DigestRequestAuthenticator(DigestAuthenticator digest, SubscriberCache subscribers)
    {
        _digest = digest;
        _subscribers = subscribers;
    }

    public async ValueTask<AuthResult> AuthenticateAsync(SipMessage request, string realm, HeaderId credentialsHeader, CancellationToken cancellationToken)
    {
        var credentials = FindCredentials(request, realm, credentialsHeader);
        if (credentials is null)
        {
            return AuthResult.ChallengeWith(_digest.CreateChallenges(realm));
        }

        var subscriber = await _subscribers.GetAsync(credentials.Username, realm, cancellationToken);
        var ha1 = subscriber is { Enabled: true }
            ? (credentials.Algorithm == DigestAlgorithm.Md5 ? subscriber.Ha1Md5 : subscriber.Ha1Sha256)
            : null;

        return _digest.Verify(request.MethodName, credentials, realm, ha1) switch
        {
            DigestVerdict.Ok => AuthResult.Ok(credentials.Username),
            DigestVerdict.StaleNonce => AuthResult.ChallengeWith(_digest.CreateChallenges(realm, stale: true)),
            _ => AuthResult.ChallengeWith(_digest.CreateChallenges(realm)),
        };
    }

    /// <summary>The Digest credentials for our realm among possibly several headers (RFC 3261 §22.3).</summary>
    private static DigestCredentials? FindCredentials(SipMessage request, string realm, HeaderId header)
    {
        for (var i = request.IndexOfHeader(header); i >= 0; i = request.IndexOfHeader(header, i + 1))
        {
            if (DigestCredentials.TryParse(request.GetHeaderValue(i), out var credentials, out _)
                && credentials!.Realm.Equals(realm, StringComparison.OrdinalIgnoreCase))
            {
                return credentials;
            }
        }

        return null;
    }
}
