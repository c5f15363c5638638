using System.Net;
using Tandem.Server.Config;

namespace Tandem.Server.Tests.Config;

public sealed class ListenEndpointTests
{
    [Theory]
    [InlineData("udp:0.0.0.0:5060", ListenTransport.Udp, "0.0.0.0", 5060, "udp:0.0.0.0:5060")]
    [InlineData("tcp:127.0.0.1:5070", ListenTransport.Tcp, "127.0.0.1", 5070, "tcp:127.0.0.1:5070")]
    [InlineData("UDP:[::1]:5060", ListenTransport.Udp, "::1", 5060, "udp:[::1]:5060")]
    [InlineData("tcp:[::]", ListenTransport.Tcp, "::", 5060, "tcp:[::]:5060")]
    [InlineData("udp:10.0.0.1", ListenTransport.Udp, "10.0.0.1", 5060, "udp:10.0.0.1:5060")]
    [InlineData("tcp:[2001:db8::1]:0", ListenTransport.Tcp, "2001:db8::1", 0, "tcp:[2001:db8::1]:0")]
    [InlineData("  udp:127.0.0.1:65535 ", ListenTransport.Udp, "127.0.0.1", 65535, "udp:127.0.0.1:65535")]
    public void Parses_valid_endpoints(string text, ListenTransport transport, string address, int port, string canonical)
    {
        Assert.True(ListenEndpoint.TryParse(text, out var endpoint, out var error), error);
        Assert.Equal(transport, endpoint.Transport);
        Assert.Equal(IPAddress.Parse(address), endpoint.Address);
        Assert.Equal(port, endpoint.Port);
        Assert.Equal(canonical, endpoint.ToString());
        Assert.Equal(endpoint, ListenEndpoint.Parse(endpoint.ToString()));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("0.0.0.0:5060", "unknown transport '0.0.0.0'")]
    [InlineData("5060", "no transport")]
    [InlineData("sctp:0.0.0.0:5060", "unknown transport 'sctp'")]
    [InlineData("udp::::1:5060", "must be in brackets")]
    [InlineData("udp:::1", "must be in brackets")]
    [InlineData("udp:[::1:5060", "missing ']'")]
    [InlineData("udp:[::1]5060", "unexpected '5060'")]
    [InlineData("udp:[127.0.0.1]:5060", "not an IPv6 address")]
    [InlineData("udp:example.com:5060", "not an IP address")]
    [InlineData("udp:1.2:5060", "not an IP address")]
    [InlineData("udp:300.1.1.1:5060", "not an IP address")]
    [InlineData("udp::5060", "missing address")]
    [InlineData("udp:0.0.0.0:70000", "port must be 0-65535")]
    [InlineData("udp:0.0.0.0:-1", "not a number")]
    [InlineData("udp:0.0.0.0:", "not a number")]
    [InlineData("tcp:[::1]:http", "not a number")]
    public void Rejects_bad_endpoints_with_a_reason(string text, string reason)
    {
        Assert.False(ListenEndpoint.TryParse(text, out var endpoint, out var error));
        Assert.Null(endpoint);
        Assert.Contains(reason, error);
        Assert.Throws<FormatException>(() => ListenEndpoint.Parse(text));
    }
}
