using Tandem.Sip.Messages;

namespace Tandem.Server.Registrar;

public enum AuthStatus
{
    /// <summary>Valid credentials for <see cref="AuthResult.Username"/>.</summary>
    Authenticated,

    /// <summary>No, stale or wrong credentials: answer 401/407 with the challenges.</summary>
    Challenge,
}

/// <summary>
/// Outcome of checking a request's credentials. A wrong password and an unknown user both come
/// back as a plain challenge, so a client cannot tell them apart.
/// </summary>
public readonly record struct AuthResult(AuthStatus Status, string? Username, IReadOnlyList<string> Challenges)
{
    public static AuthResult Ok(string username) => new(AuthStatus.Authenticated, username, []);

    public static AuthResult ChallengeWith(IReadOnlyList<string> challenges) => new(AuthStatus.Challenge, null, challenges);
}

/// <summary>Checks Authorization (registrar, 401) or Proxy-Authorization (proxy, 407) credentials.</summary>
public interface IRequestAuthenticator
{
    ValueTask<AuthResult> AuthenticateAsync(SipMessage request, string realm, HeaderId credentialsHeader, CancellationToken cancellationToken);
}
