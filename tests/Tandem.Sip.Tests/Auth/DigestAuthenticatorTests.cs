using Tandem.Sip.Auth;

namespace Tandem.Sip.Tests.Auth;

/// <summary>The registrar flow end to end: challenge, client answer, parse, verify.</summary>
public class DigestAuthenticatorTests
{
    private const string Realm = "example.com";
    private const string Uri = "sip:example.com";
    private const string Password = "s3cret";
    private static readonly byte[] Secret = Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray();

    private readonly ManualTimeProvider _time = new();
    private readonly NonceService _nonces;
    private readonly DigestAuthenticator _authenticator;

    public DigestAuthenticatorTests()
    {
        _nonces = new NonceService(Secret, _time);
        _authenticator = new DigestAuthenticator(_nonces);
    }

    private static string Ha1(DigestAlgorithm algorithm, string password = Password)
        => DigestHash.ComputeHa1(algorithm, "alice", Realm, password);

    /// <summary>What a UA sends; a header value as it would appear in Authorization.</summary>
    private static string Answer(
        DigestAlgorithm algorithm, string nonce, uint nc = 1, string password = Password,
        string username = "alice", bool qop = true, string realm = Realm, string method = "REGISTER")
    {
        var ha1 = DigestHash.ComputeHa1(algorithm, username, realm, password);
        var ncText = nc.ToString("x8");
        var response = qop
            ? DigestHash.ComputeResponse(algorithm, ha1, method, Uri, nonce, DigestQop.Auth, ncText, "0a4f113b")
            : DigestHash.ComputeResponse(algorithm, ha1, method, Uri, nonce);
        var value = $"Digest username=\"{username}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{Uri}\", "
            + $"response=\"{response}\", algorithm={DigestHash.Token(algorithm)}";
        return qop ? value + $", qop=auth, nc={ncText}, cnonce=\"0a4f113b\"" : value;
    }

    private DigestVerdict Verify(string header, string? ha1, string method = "REGISTER")
    {
        if (!DigestCredentials.TryParse(header, out var credentials, out var error))
        {
            return DigestAuthenticator.VerdictFor(error);
        }
        return _authenticator.Verify(method, credentials, Realm, ha1);
    }

    [Theory]
    [InlineData(DigestAlgorithm.Md5)]
    [InlineData(DigestAlgorithm.Sha256)]
    public void Correct_credentials_are_accepted(DigestAlgorithm algorithm)
    {
        var nonce = _nonces.Issue(Realm);
        Assert.Equal(DigestVerdict.Ok, Verify(Answer(algorithm, nonce), Ha1(algorithm)));
    }

    [Fact]
    public void Upper_case_response_hex_is_accepted()
    {
        var nonce = _nonces.Issue(Realm);
        var header = Answer(DigestAlgorithm.Md5, nonce);
        int at = header.IndexOf("response=\"", StringComparison.Ordinal) + 10;
        header = header[..at] + header.Substring(at, 32).ToUpperInvariant() + header[(at + 32)..];
        Assert.Equal(DigestVerdict.Ok, Verify(header, Ha1(DigestAlgorithm.Md5)));
    }

    [Fact]
    public void Increasing_nc_on_one_nonce_is_accepted_and_a_repeat_is_a_replay()
    {
        var nonce = _nonces.Issue(Realm);
        var ha1 = Ha1(DigestAlgorithm.Sha256);

        Assert.Equal(DigestVerdict.Ok, Verify(Answer(DigestAlgorithm.Sha256, nonce, nc: 1), ha1));
        Assert.Equal(DigestVerdict.Replay, Verify(Answer(DigestAlgorithm.Sha256, nonce, nc: 1), ha1));
        Assert.Equal(DigestVerdict.Ok, Verify(Answer(DigestAlgorithm.Sha256, nonce, nc: 2), ha1));
        Assert.Equal(DigestVerdict.Ok, Verify(Answer(DigestAlgorithm.Sha256, nonce, nc: 3), ha1));
        Assert.Equal(DigestVerdict.Replay, Verify(Answer(DigestAlgorithm.Sha256, nonce, nc: 2), ha1));
    }

    [Fact]
    public void A_wrong_response_does_not_burn_the_nonce_count()
    {
        var nonce = _nonces.Issue(Realm);
        Assert.Equal(DigestVerdict.WrongCredentials, Verify(Answer(DigestAlgorithm.Md5, nonce, nc: 0xffffffff, password: "guess"), Ha1(DigestAlgorithm.Md5)));
        Assert.Equal(DigestVerdict.Ok, Verify(Answer(DigestAlgorithm.Md5, nonce, nc: 1), Ha1(DigestAlgorithm.Md5)));
    }

    [Theory]
    [InlineData(DigestAlgorithm.Md5)]
    [InlineData(DigestAlgorithm.Sha256)]
    public void Wrong_password_and_unknown_user_get_the_same_verdict(DigestAlgorithm algorithm)
    {
        var nonce = _nonces.Issue(Realm);
        Assert.Equal(DigestVerdict.WrongCredentials, Verify(Answer(algorithm, nonce, password: "wrong"), Ha1(algorithm)));
        Assert.Equal(DigestVerdict.WrongCredentials, Verify(Answer(algorithm, nonce, username: "nobody"), ha1: null));
        // A stored HA1 of the wrong length (e.g. an MD5 hash offered for SHA-256) is treated as unknown.
        Assert.Equal(DigestVerdict.WrongCredentials, Verify(Answer(algorithm, nonce), "abc"));
    }

    [Fact]
    public void Unknown_user_with_an_expired_nonce_is_not_told_stale()
    {
        var nonce = _nonces.Issue(Realm);
        _time.Advance(TimeSpan.FromSeconds(301));
        Assert.Equal(DigestVerdict.WrongCredentials, Verify(Answer(DigestAlgorithm.Md5, nonce, username: "nobody"), ha1: null));
        Assert.Equal(DigestVerdict.WrongCredentials, Verify(Answer(DigestAlgorithm.Md5, nonce, password: "wrong"), Ha1(DigestAlgorithm.Md5)));
    }

    [Fact]
    public void Correct_digest_over_an_expired_nonce_is_stale()
    {
        var nonce = _nonces.Issue(Realm);
        _time.Advance(TimeSpan.FromSeconds(301));
        Assert.Equal(DigestVerdict.StaleNonce, Verify(Answer(DigestAlgorithm.Sha256, nonce), Ha1(DigestAlgorithm.Sha256)));
    }

    [Fact]
    public void Nonce_from_another_secret_is_invalid()
    {
        var foreign = new NonceService(new byte[32], _time).Issue(Realm);
        Assert.Equal(DigestVerdict.InvalidNonce, Verify(Answer(DigestAlgorithm.Md5, foreign), Ha1(DigestAlgorithm.Md5)));
    }

    [Fact]
    public void Nonce_issued_by_another_node_with_the_same_secret_is_accepted()
    {
        var otherNode = new NonceService(Secret, _time).Issue(Realm);
        Assert.Equal(DigestVerdict.Ok, Verify(Answer(DigestAlgorithm.Md5, otherNode), Ha1(DigestAlgorithm.Md5)));
    }

    [Fact]
    public void Other_realm_is_wrong_realm()
    {
        var nonce = _nonces.Issue(Realm);
        Assert.Equal(DigestVerdict.WrongRealm, Verify(Answer(DigestAlgorithm.Md5, nonce, realm: "evil.com"), Ha1(DigestAlgorithm.Md5)));
    }

    [Fact]
    public void Response_is_bound_to_the_method()
    {
        var nonce = _nonces.Issue(Realm);
        Assert.Equal(DigestVerdict.WrongCredentials, Verify(Answer(DigestAlgorithm.Md5, nonce, method: "INVITE"), Ha1(DigestAlgorithm.Md5)));
    }

    [Fact]
    public void Legacy_rfc2069_answer_is_accepted_once_per_nonce()
    {
        var nonce = _nonces.Issue(Realm);
        var header = Answer(DigestAlgorithm.Md5, nonce, qop: false);
        Assert.Equal(DigestVerdict.Ok, Verify(header, Ha1(DigestAlgorithm.Md5)));
        Assert.Equal(DigestVerdict.Replay, Verify(header, Ha1(DigestAlgorithm.Md5)));
        Assert.Equal(DigestVerdict.WrongCredentials, Verify(Answer(DigestAlgorithm.Md5, _nonces.Issue(Realm), qop: false, password: "x"), Ha1(DigestAlgorithm.Md5)));
    }

    [Fact]
    public void Legacy_rfc2069_answer_can_be_refused()
    {
        var strict = new DigestAuthenticator(_nonces, allowRfc2069: false);
        Assert.True(DigestCredentials.TryParse(Answer(DigestAlgorithm.Md5, _nonces.Issue(Realm), qop: false), out var credentials, out _));
        Assert.Equal(DigestVerdict.MissingOrMalformed, strict.Verify("REGISTER", credentials, Realm, Ha1(DigestAlgorithm.Md5)));
    }

    [Fact]
    public void Algorithm_not_offered_is_unsupported()
    {
        var sha256Only = new DigestAuthenticator(_nonces, [DigestAlgorithm.Sha256]);
        Assert.True(DigestCredentials.TryParse(Answer(DigestAlgorithm.Md5, _nonces.Issue(Realm)), out var credentials, out _));
        Assert.Equal(DigestVerdict.UnsupportedAlgorithm, sha256Only.Verify("REGISTER", credentials, Realm, Ha1(DigestAlgorithm.Md5)));
    }

    [Theory]
    [InlineData("Digest username=\"alice\", realm=\"example.com\", nonce=\"n", DigestVerdict.MissingOrMalformed)]
    [InlineData("Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\"", DigestVerdict.MissingOrMalformed)]
    [InlineData("\u0001\u0002garbage", DigestVerdict.MissingOrMalformed)]
    [InlineData("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5-sess", DigestVerdict.UnsupportedAlgorithm)]
    public void Malformed_headers_map_to_a_verdict_without_exceptions(string header, DigestVerdict expected)
        => Assert.Equal(expected, Verify(header, Ha1(DigestAlgorithm.Md5)));
}
