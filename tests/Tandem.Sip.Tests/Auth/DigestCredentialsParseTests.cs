using Tandem.Sip.Auth;

namespace Tandem.Sip.Tests.Auth;

public class DigestCredentialsParseTests
{
    private const string Md5Hex = "0123456789abcdef0123456789abcdef";

    private static DigestCredentials Parse(string value)
    {
        Assert.True(DigestCredentials.TryParse(value, out var credentials, out var error), error.ToString());
        return credentials;
    }

    private static DigestParseError Reject(string value)
    {
        Assert.False(DigestCredentials.TryParse(value, out var credentials, out var error));
        Assert.Null(credentials);
        return error;
    }

    [Fact]
    public void Minimal_rfc2069_form_defaults_to_md5_without_qop()
    {
        var c = Parse($"Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"n\", uri=\"sip:biloxi.com\", response=\"{Md5Hex}\"");
        Assert.Equal(("bob", "biloxi.com", "n", "sip:biloxi.com"), (c.Username, c.Realm, c.Nonce, c.Uri));
        Assert.Equal(DigestAlgorithm.Md5, c.Algorithm);
        Assert.Equal(DigestQop.None, c.Qop);
        Assert.Null(c.Cnonce);
        Assert.Null(c.NonceCountText);
        Assert.Equal(0u, c.NonceCount);
    }

    [Fact]
    public void Scheme_and_names_are_case_insensitive_and_lws_is_allowed_around_separators()
    {
        var c = Parse($"  dIgEsT\tUserName =\t\"bob\" ,REALM= \"r\"  ,  Nonce=\"n\",URI=\"u\",Response = \"{Md5Hex}\" , QOP=AUTH, NC=0000000A, CNonce=\"c\", Algorithm=md5 ");
        Assert.Equal("bob", c.Username);
        Assert.Equal(DigestQop.Auth, c.Qop);
        Assert.Equal(10u, c.NonceCount);
        Assert.Equal("0000000A", c.NonceCountText);
    }

    [Fact]
    public void Quoted_pairs_are_unescaped()
    {
        var c = Parse($"Digest username=\"a\\\"b\\\\c\", realm=\"r, with comma\", nonce=\"n\", uri=\"u\", response=\"{Md5Hex}\"");
        Assert.Equal("a\"b\\c", c.Username);
        Assert.Equal("r, with comma", c.Realm);
    }

    [Fact]
    public void Unknown_parameters_are_ignored_and_quoted_qop_tolerated()
    {
        var c = Parse($"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"{Md5Hex}\", x-foo=bar, y=\"q\\\"z\", qop=\"auth\", nc=00000001, cnonce=\"c\"");
        Assert.Equal(DigestQop.Auth, c.Qop);
    }

    [Fact]
    public void Sha256_requires_a_64_digit_response()
    {
        var sha = new string('a', 64);
        Assert.Equal(DigestAlgorithm.Sha256, Parse($"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", algorithm=SHA-256, response=\"{sha}\"").Algorithm);
        Assert.Equal(DigestParseError.BadResponse, Reject($"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", algorithm=SHA-256, response=\"{Md5Hex}\""));
    }

    [Theory]
    [InlineData("MD5-sess")]
    [InlineData("SHA-256-sess")]
    [InlineData("SHA-512-256")]
    [InlineData("AKAv1-MD5")]
    public void Sess_and_other_algorithms_are_unsupported(string algorithm)
        => Assert.Equal(DigestParseError.UnsupportedAlgorithm,
            Reject($"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"{Md5Hex}\", algorithm={algorithm}"));

    [Theory]
    [InlineData("", DigestParseError.Empty)]
    [InlineData("   ", DigestParseError.Empty)]
    [InlineData("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", DigestParseError.NotDigestScheme)]
    [InlineData("Digest", DigestParseError.MissingParameter)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\"", DigestParseError.MissingParameter)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"" + Md5Hex + "\", qop=auth, nc=00000001", DigestParseError.MissingParameter)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"" + Md5Hex + "\", qop=auth, cnonce=\"c\"", DigestParseError.MissingParameter)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u, response=\"" + Md5Hex + "\"", DigestParseError.Syntax)]
    [InlineData("Digest username=\"unterminated", DigestParseError.Syntax)]
    [InlineData("Digest username=\"ends in backslash\\", DigestParseError.Syntax)]
    [InlineData("Digest username", DigestParseError.Syntax)]
    [InlineData("Digest username=", DigestParseError.Syntax)]
    [InlineData("Digest =\"x\"", DigestParseError.Syntax)]
    [InlineData("Digest username=\"u\" realm=\"r\"", DigestParseError.Syntax)]
    [InlineData("Digest username=\"a\u0000b\"", DigestParseError.Syntax)]
    [InlineData("Digest \u00ff\u00fe garbage ;;; ===", DigestParseError.Syntax)]
    [InlineData("Digest username=\"u\", USERNAME=\"v\", realm=\"r\"", DigestParseError.DuplicateParameter)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"not-hex\"", DigestParseError.BadResponse)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"" + Md5Hex + "\", qop=auth-int, nc=00000001, cnonce=\"c\"", DigestParseError.UnsupportedQop)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"" + Md5Hex + "\", qop=auth, nc=1, cnonce=\"c\"", DigestParseError.BadNonceCount)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"" + Md5Hex + "\", qop=auth, nc=00000000, cnonce=\"c\"", DigestParseError.BadNonceCount)]
    [InlineData("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"" + Md5Hex + "\", qop=auth, nc=0000000g, cnonce=\"c\"", DigestParseError.BadNonceCount)]
    public void Bad_values_are_rejected_with_a_reason(string value, DigestParseError expected)
        => Assert.Equal(expected, Reject(value));

    [Fact]
    public void Every_prefix_and_random_bytes_never_throw()
    {
        var valid = $"Digest username=\"a\\\"b\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"{Md5Hex}\", qop=auth, nc=00000001, cnonce=\"c\"";
        for (int i = 0; i <= valid.Length; i++)
        {
            AssertConsistent(valid.AsSpan(0, i));
        }

        var random = new Random(7616);
        var chars = new char[64];
        for (int round = 0; round < 2000; round++)
        {
            for (int i = 0; i < chars.Length; i++)
            {
                chars[i] = "Digest =,\"\\ \tabcnoeqp1\r\n"[random.Next(24)];
            }
            AssertConsistent(chars);
        }
    }

    private static void AssertConsistent(ReadOnlySpan<char> value)
    {
        bool ok = DigestCredentials.TryParse(value, out var credentials, out var error);
        Assert.Equal(ok, credentials is not null);
        Assert.Equal(ok, error == DigestParseError.None);
    }
}
