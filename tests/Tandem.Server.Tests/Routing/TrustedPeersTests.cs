using System.Net;
using Tandem.Server.Routing;

namespace Tandem.Server.Tests.Routing;

public sealed class TrustedPeersTests
{
    private static TrustedPeers Peers(params string[] blocks) => new(blocks.Select(text =>
    {
        Assert.True(CidrBlock.TryParse(text, out var block, out var error), error);
        return block;
    }));

    [Theory]
    [InlineData("198.18.0.0/15", "198.18.0.0", true)]
    [InlineData("198.18.0.0/15", "198.19.255.255", true)]
    [InlineData("198.18.0.0/15", "198.20.0.0", false)]
    [InlineData("198.18.0.0/15", "198.17.255.255", false)]
    [InlineData("203.0.113.5", "203.0.113.5", true)]
    [InlineData("203.0.113.5", "203.0.113.6", false)]
    [InlineData("0.0.0.0/0", "8.8.8.8", true)]
    [InlineData("0.0.0.0/0", "2001:db8::1", false)]
    [InlineData("10.0.0.0/8", "::ffff:10.1.2.3", true)]
    [InlineData("10.0.0.0/8", "::ffff:11.1.2.3", false)]
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("2001:db8::/32", "32.1.13.184", false)]
    [InlineData("2001:db8::1", "2001:db8::1", true)]
    [InlineData("2001:db8::1", "2001:db8::2", false)]
    [InlineData("::/0", "fe80::1", true)]
    [InlineData("::ffff:192.0.2.0/120", "192.0.2.77", true)]
    [InlineData("2001:db8:0:8000::/49", "2001:db8:0:8000::1", true)]
    [InlineData("2001:db8:0:8000::/49", "2001:db8:0:7fff::1", false)]
    public void Contains_matches_v4_and_v6_blocks(string block, string address, bool expected)
    {
        Assert.Equal(expected, Peers(block).Contains(IPAddress.Parse(address)));
    }

    [Fact]
    public void Several_blocks_of_both_families()
    {
        var peers = Peers("198.18.0.0/15", "2001:db8::/32", "203.0.113.5");

        Assert.True(peers.Contains(IPAddress.Parse("203.0.113.5")));
        Assert.True(peers.Contains(IPAddress.Parse("2001:db8::5")));
        Assert.False(peers.Contains(IPAddress.Parse("192.0.2.1")));
        Assert.False(TrustedPeers.None.Contains(IPAddress.Loopback));
        Assert.Equal(["198.18.0.0/15", "2001:db8::/32", "203.0.113.5/32"], peers.Blocks.Select(b => b.ToString()));
    }

    [Theory]
    [InlineData("10.1.0.0/8", "host bits set (did you mean 10.0.0.0/8?)")]
    [InlineData("2001:db8::1/32", "did you mean 2001:db8::/32?")]
    [InlineData("10.0.0.0/33", "bad prefix length (0..32)")]
    [InlineData("2001:db8::/129", "bad prefix length (0..128)")]
    [InlineData("10.0.0.0/", "bad prefix length")]
    [InlineData("gw.example.net", "host names are not accepted")]
    [InlineData("10", "not an IP address")]
    [InlineData("fe80::1%eth0", "not an IP address")]
    public void Bad_blocks_are_rejected(string text, string reason)
    {
        Assert.False(CidrBlock.TryParse(text, out _, out var error));
        Assert.Contains(reason, error);
    }
}
