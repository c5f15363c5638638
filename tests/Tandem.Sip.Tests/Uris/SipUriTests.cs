using Tandem.Sip.Uris;

namespace Tandem.Sip.Tests.Uris;

public class SipUriTests
{
    [Fact]
    public void Full_SIP_URI_is_split_into_its_parts()
    {
        var uri = SipUri.TryParse("sips:alice:secret@Example.COM:5061;transport=tcp;lr?subject=project%20x&priority=urgent", out var error);
        Assert.Null(error);
        Assert.Equal("sips", uri!.Scheme);
        Assert.True(uri.IsSecure);
        Assert.Equal("alice", uri.User);
        Assert.Equal("secret", uri.Password);
        Assert.Equal("Example.COM", uri.Host);
        Assert.Equal(5061, uri.Port);
        Assert.Equal("tcp", uri.Transport);
        Assert.True(uri.IsLooseRouter);
        Assert.Equal("subject=project%20x&priority=urgent", uri.Headers);
        Assert.Equal("sip:alice@example.com", uri.ToAddressOfRecord());
    }

    [Theory]
    [InlineData("sip:[2001:db8::1]:5070", "[2001:db8::1]", 5070)]
    [InlineData("sip:bob@[::1]", "[::1]", 0)]
    [InlineData("sip:192.0.2.4", "192.0.2.4", 0)]
    public void Hosts_include_IPv6_references(string text, string host, int port)
    {
        var uri = SipUri.TryParse(text, out _);
        Assert.NotNull(uri);
        Assert.Equal(host, uri.Host);
        Assert.Equal(port, uri.Port);
    }

    [Fact]
    public void Tel_URIs_keep_the_number_and_parameters()
    {
        var uri = SipUri.TryParse("tel:+1-201-555-0123;phone-context=example.com", out _);
        Assert.Equal("tel", uri!.Scheme);
        Assert.Equal("+1-201-555-0123", uri.User);
        Assert.Equal("example.com", SipParameters.Get(uri.Parameters, "phone-context"));
    }

    [Fact]
    public void Unknown_schemes_stay_opaque()
    {
        var uri = SipUri.TryParse("urn:service:sos", out _);
        Assert.Equal("urn", uri!.Scheme);
        Assert.False(uri.IsSip);
    }

    [Theory]
    [InlineData("sip:alice@example.com:99999")]
    [InlineData("sip:alice@exa mple.com")]
    [InlineData("sip:@example.com")]
    [InlineData("sip:alice@[2001:db8::1")]
    [InlineData("sip:alice@example.com:")]
    [InlineData("sip:al%2@example.com")]
    [InlineData("sip:alice@ex<ample.com")]
    [InlineData("1sip:alice@example.com")]
    [InlineData("nocolon")]
    [InlineData("sip:alice@example.com;=x")]
    public void Malformed_URIs_are_refused_with_a_reason(string text)
    {
        Assert.Null(SipUri.TryParse(text, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Address_of_record_unescapes_the_user_and_drops_parameters()
    {
        var uri = SipUri.TryParse("sip:%61lice@EXAMPLE.com:5060;user=phone", out _);
        Assert.Equal("sip:alice@example.com", uri!.ToAddressOfRecord());
    }
}
