using Tandem.Sip.Auth;

namespace Tandem.Sip.Tests.Auth;

/// <summary>RFC 7616 §3.9.1 worked example (HTTP, but the arithmetic is the same in SIP).</summary>
public class Rfc7616VectorTests
{
    private const string Realm = "http-auth@example.org";
    private const string Nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    private const string Cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    private const string Md5Response = "8ca523f5e9506fed4657c9700eebdbec";
    private const string Sha256Response = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";

    [Theory]
    [InlineData(DigestAlgorithm.Md5, Md5Response)]
    [InlineData(DigestAlgorithm.Sha256, Sha256Response)]
    public void Computes_the_published_response(DigestAlgorithm algorithm, string expected)
    {
        var ha1 = DigestHash.ComputeHa1(algorithm, "Mufasa", Realm, "Circle of Life");

        var response = DigestHash.ComputeResponse(
            algorithm, ha1, "GET", "/dir/index.html", Nonce, DigestQop.Auth, "00000001", Cnonce);

        Assert.Equal(expected, response);
    }

    [Theory]
    [InlineData("MD5", DigestAlgorithm.Md5, Md5Response)]
    [InlineData("SHA-256", DigestAlgorithm.Sha256, Sha256Response)]
    public void Parses_the_published_header_and_its_response_matches(string token, DigestAlgorithm algorithm, string response)
    {
        // Laid out as in the RFC, folded over several lines.
        var header = "Digest username=\"Mufasa\",\r\n"
            + $"       realm=\"{Realm}\",\r\n"
            + "       uri=\"/dir/index.html\",\r\n"
            + $"       algorithm={token},\r\n"
            + $"       nonce=\"{Nonce}\",\r\n"
            + "       nc=00000001,\r\n"
            + $"       cnonce=\"{Cnonce}\",\r\n"
            + "       qop=auth,\r\n"
            + $"       response=\"{response}\",\r\n"
            + "       opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

        Assert.True(DigestCredentials.TryParse(header, out var credentials, out var error), error.ToString());
        Assert.Equal("Mufasa", credentials.Username);
        Assert.Equal(algorithm, credentials.Algorithm);
        Assert.Equal(DigestQop.Auth, credentials.Qop);
        Assert.Equal(1u, credentials.NonceCount);
        Assert.Equal("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", credentials.Opaque);

        var authenticator = new DigestAuthenticator(new NonceService(new byte[32]));
        var ha1 = DigestHash.ComputeHa1(algorithm, "Mufasa", Realm, "Circle of Life");
        Assert.True(authenticator.ResponseMatches("GET", credentials, ha1));
        Assert.False(authenticator.ResponseMatches("POST", credentials, ha1));
        Assert.False(authenticator.ResponseMatches("GET", credentials, DigestHash.ComputeHa1(algorithm, "Mufasa", Realm, "circle of life")));
    }
}
