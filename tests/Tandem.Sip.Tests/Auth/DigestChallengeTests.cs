using Tandem.Sip.Auth;

namespace Tandem.Sip.Tests.Auth;

public class DigestChallengeTests
{
    [Fact]
    public void Builds_the_rfc_7616_shape()
    {
        Assert.Equal(
            "Digest realm=\"example.com\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\"",
            DigestChallenge.Build("example.com", "abc", DigestAlgorithm.Sha256));
        Assert.Equal(
            "Digest realm=\"example.com\", nonce=\"abc\", algorithm=MD5, qop=\"auth\", stale=true, opaque=\"op\"",
            DigestChallenge.Build("example.com", "abc", DigestAlgorithm.Md5, stale: true, opaque: "op"));
    }

    [Fact]
    public void Escapes_quotes_and_backslashes_in_the_realm()
        => Assert.StartsWith("Digest realm=\"a\\\"b\\\\c\",", DigestChallenge.Build("a\"b\\c", "n", DigestAlgorithm.Md5));

    [Fact]
    public void Authenticator_offers_sha256_first_then_md5_with_one_valid_nonce()
    {
        var time = new ManualTimeProvider();
        var nonces = new NonceService(new byte[32], time);
        var challenges = new DigestAuthenticator(nonces).CreateChallenges("example.com", stale: true);

        Assert.Equal(2, challenges.Length);
        Assert.Contains("algorithm=SHA-256", challenges[0]);
        Assert.Contains("algorithm=MD5", challenges[1]);
        Assert.All(challenges, c => Assert.Contains("stale=true", c));

        string nonce = challenges[0].Split("nonce=\"")[1].Split('"')[0];
        Assert.Contains($"nonce=\"{nonce}\"", challenges[1]);
        Assert.Equal(NonceStatus.Valid, nonces.Validate(nonce, "example.com"));
    }

    [Fact]
    public void Authenticator_offers_only_configured_algorithms()
    {
        var challenges = new DigestAuthenticator(new NonceService(new byte[32]), [DigestAlgorithm.Sha256]).CreateChallenges("r");
        Assert.Single(challenges);
    }
}
