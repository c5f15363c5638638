using Tandem.Server.Resolution;
using Tandem.Server.Resolution.Dns;
using Tandem.Server.Transport;
using Tandem.Sip.Uris;

namespace Tandem.Server.Tests.Resolution;

/// <summary>The RFC 3263 decision tree over a table of records (the real DNS path is in Rfc3263ResolverDnsmasqTests).</summary>
public class Rfc3263ResolverTests
{
    internal static SipUri Uri(string text) => SipUri.TryParse(text, out var error) ?? throw new ArgumentException(error);

    internal static string[] Describe(IReadOnlyList<SipDestination> destinations) =>
        [.. destinations.Select(d => $"{SipTransportProtocols.Token(d.Transport)} {d.EndPoint}")];

    private static async Task<string[]> ResolveAsync(FakeDnsClient dns, string uri, Rfc3263ResolverOptions? options = null) =>
        Describe(await new Rfc3263Resolver(dns, options, new Random(1)).ResolveAsync(Uri(uri), CancellationToken.None));

    [Theory]
    [InlineData("sip:192.0.2.9", "UDP 192.0.2.9:5060")]
    [InlineData("sip:alice@192.0.2.9:5070", "UDP 192.0.2.9:5070")]
    [InlineData("sip:192.0.2.9;transport=TCP", "TCP 192.0.2.9:5060")]
    [InlineData("sip:[2001:db8::9]:5080;transport=udp", "UDP [2001:db8::9]:5080")]
    [InlineData("sip:gw.example.test;maddr=192.0.2.77", "UDP 192.0.2.77:5060")]
    public async Task A_numeric_target_needs_no_DNS(string uri, string expected)
    {
        var dns = new FakeDnsClient();

        Assert.Equal([expected], await ResolveAsync(dns, uri));
        Assert.Empty(dns.Asked);
    }

    [Theory]
    [InlineData("sips:gw.example.test")]
    [InlineData("sips:192.0.2.9")]
    [InlineData("sip:gw.example.test;transport=tls")]
    [InlineData("sip:gw.example.test;transport=sctp")]
    [InlineData("sip:gw.example.test;transport=ws")]
    [InlineData("sip:192.0.2.9;transport=tls")]
    [InlineData("tel:+15551234")]
    public async Task Destinations_Tandem_cannot_use_resolve_to_nothing(string uri)
    {
        var dns = new FakeDnsClient().A("gw.example.test", "192.0.2.1");

        Assert.Empty(await ResolveAsync(dns, uri));
        Assert.Empty(dns.Asked);
    }

    [Fact]
    public async Task A_bare_number_is_a_host_name_not_an_address()
    {
        var dns = new FakeDnsClient().A("10", "192.0.2.10");

        Assert.Equal(["UDP 192.0.2.10:5070"], await ResolveAsync(dns, "sip:10:5070"));
    }

    [Fact]
    public async Task An_explicit_port_asks_only_for_addresses()
    {
        var dns = new FakeDnsClient().A("gw.example.test", "192.0.2.1").Aaaa("gw.example.test", "2001:db8::1")
            .Srv("_sip._udp.gw.example.test", 1, 1, 9999, "elsewhere.example.test");

        Assert.Equal(["TCP 192.0.2.1:5099", "TCP [2001:db8::1]:5099"], await ResolveAsync(dns, "sip:gw.example.test:5099;transport=tcp"));
        Assert.DoesNotContain(dns.Asked, q => q.Type is DnsRecordType.Srv or DnsRecordType.Naptr);
    }

    [Fact]
    public async Task A_transport_parameter_asks_that_SRV_name_and_skips_NAPTR()
    {
        var dns = new FakeDnsClient()
            .Naptr("example.test", 10, 10, "s", "SIP+D2U", "_sip._udp.example.test")
            .Srv("_sip._tcp.example.test", 10, 0, 5070, "gw1.example.test")
            .A("gw1.example.test", "192.0.2.1");

        Assert.Equal(["TCP 192.0.2.1:5070"], await ResolveAsync(dns, "sip:example.test;transport=tcp"));
        Assert.DoesNotContain(dns.Asked, q => q.Type == DnsRecordType.Naptr);
    }

    [Fact]
    public async Task A_transport_parameter_without_SRV_falls_back_to_addresses_on_the_default_port()
    {
        var dns = new FakeDnsClient().A("gw.example.test", "192.0.2.1");

        Assert.Equal(["TCP 192.0.2.1:5060"], await ResolveAsync(dns, "sip:gw.example.test;transport=tcp"));
    }

    [Fact]
    public async Task NAPTR_of_the_first_usable_order_by_preference_and_nothing_of_another_order()
    {
        var dns = new FakeDnsClient()
            .Naptr("example.test", 5, 10, "s", "SIPS+D2T", "_sips._tcp.example.test") // needs TLS: skipped
            .Naptr("example.test", 10, 60, "s", "SIP+D2U", "_sip._udp.example.test")
            .Naptr("example.test", 10, 50, "S", "SIP+D2T", "_sip._tcp.example.test")
            .Naptr("example.test", 10, 40, "a", "SIP+D2U", "gw9.example.test") // not an SRV pointer
            .Naptr("example.test", 20, 10, "s", "SIP+D2U", "_sip._udp.backup.example.test") // other order
            .Srv("_sip._tcp.example.test", 10, 0, 5070, "gw1.example.test")
            .Srv("_sip._udp.example.test", 10, 0, 5080, "gw2.example.test")
            .Srv("_sip._udp.backup.example.test", 10, 0, 5090, "gw3.example.test")
            .Srv("_sips._tcp.example.test", 10, 0, 5061, "gw3.example.test")
            .A("gw1.example.test", "192.0.2.1").A("gw2.example.test", "192.0.2.2").A("gw3.example.test", "192.0.2.3");

        Assert.Equal(["TCP 192.0.2.1:5070", "UDP 192.0.2.2:5080"], await ResolveAsync(dns, "sip:example.test"));
    }

    [Fact]
    public async Task NAPTR_without_a_usable_record_falls_back_to_SRV_for_UDP_then_TCP()
    {
        var dns = new FakeDnsClient()
            .Naptr("example.test", 10, 10, "s", "SIPS+D2T", "_sips._tcp.example.test")
            .Srv("_sip._tcp.example.test", 10, 0, 5070, "gw1.example.test")
            .Srv("_sip._udp.example.test", 20, 0, 5080, "gw2.example.test")
            .A("gw1.example.test", "192.0.2.1").A("gw2.example.test", "192.0.2.2");

        Assert.Equal(["UDP 192.0.2.2:5080", "TCP 192.0.2.1:5070"], await ResolveAsync(dns, "sip:example.test"));
    }

    [Fact]
    public async Task No_NAPTR_and_no_SRV_means_UDP_to_the_host_addresses_on_5060()
    {
        var dns = new FakeDnsClient().A("gw.example.test", "192.0.2.1", "192.0.2.11").Aaaa("gw.example.test", "2001:db8::1");

        Assert.Equal(["UDP 192.0.2.1:5060", "UDP 192.0.2.11:5060", "UDP [2001:db8::1]:5060"], await ResolveAsync(dns, "sip:gw.example.test"));
    }

    [Fact]
    public async Task An_SRV_of_root_says_not_here_and_stops_the_address_fallback()
    {
        var dns = new FakeDnsClient().Srv("_sip._udp.gw.example.test", 0, 0, 0, "").A("gw.example.test", "192.0.2.1");

        Assert.Empty(await ResolveAsync(dns, "sip:gw.example.test"));
    }

    [Fact]
    public async Task SRV_targets_in_priority_order_each_with_its_IPv4_then_IPv6_addresses()
    {
        var dns = new FakeDnsClient()
            .Srv("_sip._udp.example.test", 20, 0, 5062, "gw1.example.test")
            .Srv("_sip._udp.example.test", 10, 0, 5064, "gw2.example.test")
            .Srv("_sip._udp.example.test", 30, 0, 5066, "gone.example.test") // no addresses
            .Srv("_sip._udp.example.test", 40, 0, 5068, "gw2.example.test")
            .A("gw1.example.test", "192.0.2.1").Aaaa("gw1.example.test", "2001:db8::1").A("gw2.example.test", "192.0.2.2");

        Assert.Equal(
            ["UDP 192.0.2.2:5064", "UDP 192.0.2.1:5062", "UDP [2001:db8::1]:5062", "UDP 192.0.2.2:5068"],
            await ResolveAsync(dns, "sip:example.test"));
    }

    [Fact]
    public async Task IPv6_can_be_left_out()
    {
        var dns = new FakeDnsClient().A("gw.example.test", "192.0.2.1").Aaaa("gw.example.test", "2001:db8::1");

        Assert.Equal(["UDP 192.0.2.1:5060"], await ResolveAsync(dns, "sip:gw.example.test", new Rfc3263ResolverOptions { IncludeIPv6 = false }));
        Assert.DoesNotContain(dns.Asked, q => q.Type == DnsRecordType.Aaaa);
    }

    [Fact]
    public async Task The_list_is_capped_and_has_no_repeats()
    {
        var dns = new FakeDnsClient().A("gw.example.test", "192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3");

        Assert.Equal(["UDP 192.0.2.1:5060", "UDP 192.0.2.2:5060"], await ResolveAsync(dns, "sip:gw.example.test", new Rfc3263ResolverOptions { MaxDestinations = 2 }));
    }

    [Fact]
    public async Task An_unknown_host_resolves_to_nothing()
    {
        Assert.Empty(await ResolveAsync(new FakeDnsClient(), "sip:nowhere.example.test"));
    }
}
