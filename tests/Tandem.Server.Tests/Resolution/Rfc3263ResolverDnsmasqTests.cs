using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Tandem.Server.Resolution;
using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

/// <summary>One dnsmasq for the test class, serving example.test on a free loopback port.</summary>
public sealed class ExampleZoneDnsmasq : IDisposable
{
    public const int BigSrvCount = 25;

    public ExampleZoneDnsmasq()
    {
        Server = DnsmasqServer.Start("example.test", Records(), readyName: "gw1.example.test");
    }

    public DnsmasqServer Server { get; }

    private static IEnumerable<string> Records()
    {
        string[] records =
        [
            "--host-record=gw1.example.test,192.0.2.1,2001:db8::1",
            "--host-record=gw2.example.test,192.0.2.2",
            "--host-record=gw3.example.test,192.0.2.3",
            "--host-record=v6only.example.test,2001:db8::6",
            "--host-record=plain.example.test,192.0.2.50",
            "--host-record=cached.example.test,192.0.2.77,300",
            "--host-record=uncached.example.test,192.0.2.78",

            // NAPTR → SRV → A. Order 5 needs TLS (skipped); order 10 gives TCP (preference 50)
            // before UDP (60); order 20 must not be used once order 10 matched (RFC 2915).
            "--naptr-record=naptr.example.test,5,10,s,SIPS+D2T,,_sips._tcp.naptr.example.test",
            "--naptr-record=naptr.example.test,10,60,s,SIP+D2U,,_sip._udp.naptr.example.test",
            "--naptr-record=naptr.example.test,10,50,s,SIP+D2T,,_sip._tcp.naptr.example.test",
            "--naptr-record=naptr.example.test,20,10,s,SIP+D2U,,_sip._udp.srv.example.test",
            "--srv-host=_sips._tcp.naptr.example.test,gw3.example.test,5061,10,0",
            "--srv-host=_sip._tcp.naptr.example.test,gw1.example.test,5070,10,0",
            "--srv-host=_sip._udp.naptr.example.test,gw2.example.test,5080,10,0",

            // SRV without NAPTR: three priorities for UDP, one TCP target.
            "--srv-host=_sip._udp.srv.example.test,gw3.example.test,5066,30,10",
            "--srv-host=_sip._udp.srv.example.test,gw1.example.test,5062,20,10",
            "--srv-host=_sip._udp.srv.example.test,gw2.example.test,5064,10,10",
            "--srv-host=_sip._tcp.srv.example.test,gw3.example.test,5090,10,0",
        ];

        // More SRV records than fit in 512 octets: the UDP answer comes back truncated.
        var big = Enumerable.Range(0, BigSrvCount)
            .Select(i => $"--srv-host=_sip._udp.big.example.test,a-rather-long-target-name-number-{i:D2}.example.test,5060,10,1");
        return records.Concat(big);
    }

    public void Dispose() => Server.Dispose();
}

/// <summary>RFC 3263 resolution end to end: the resolver and DNS client against a real dnsmasq on loopback.</summary>
public sealed class Rfc3263ResolverDnsmasqTests : IClassFixture<ExampleZoneDnsmasq>
{
    private readonly DnsmasqServer _dns;
    private readonly DnsClient _client;
    private readonly CountingDnsClient _counting;
    private readonly Rfc3263Resolver _resolver;

    public Rfc3263ResolverDnsmasqTests(ExampleZoneDnsmasq zone)
    {
        _dns = zone.Server;
        _client = new DnsClient(new DnsClientOptions { Servers = [_dns.EndPoint], Timeout = TimeSpan.FromSeconds(2) });
        _counting = new CountingDnsClient(_client);
        _resolver = new Rfc3263Resolver(_counting, random: new Random(3263));
    }

    private async Task<string[]> ResolveAsync(string uri) =>
        Rfc3263ResolverTests.Describe(await _resolver.ResolveAsync(Rfc3263ResolverTests.Uri(uri), CancellationToken.None));

    [Fact]
    public async Task A_numeric_IP_is_used_without_any_query()
    {
        Assert.Equal(["TCP 192.0.2.9:5070"], await ResolveAsync("sip:192.0.2.9:5070;transport=tcp"));
        Assert.Equal(["UDP [2001:db8::9]:5060"], await ResolveAsync("sip:[2001:db8::9]"));
        Assert.Empty(_counting.Asked);
    }

    [Fact]
    public async Task An_explicit_port_asks_only_A_and_AAAA()
    {
        Assert.Equal(["UDP 192.0.2.1:5099", "UDP [2001:db8::1]:5099"], await ResolveAsync("sip:gw1.example.test:5099"));
        Assert.Equal([DnsRecordType.A, DnsRecordType.Aaaa], _counting.Asked.Select(q => q.Type).Order());
    }

    [Fact]
    public async Task NAPTR_leads_to_SRV_leads_to_addresses()
    {
        Assert.Equal(
            ["TCP 192.0.2.1:5070", "TCP [2001:db8::1]:5070", "UDP 192.0.2.2:5080"],
            await ResolveAsync("sip:naptr.example.test"));
        Assert.Contains(("naptr.example.test", DnsRecordType.Naptr), _counting.Asked);
        Assert.DoesNotContain(("_sips._tcp.naptr.example.test", DnsRecordType.Srv), _counting.Asked);
    }

    [Fact]
    public async Task Without_NAPTR_SRV_gives_a_failover_list_in_priority_order_UDP_then_TCP()
    {
        Assert.Equal(
            ["UDP 192.0.2.2:5064", "UDP 192.0.2.1:5062", "UDP [2001:db8::1]:5062", "UDP 192.0.2.3:5066", "TCP 192.0.2.3:5090"],
            await ResolveAsync("sip:srv.example.test"));
    }

    [Fact]
    public async Task A_transport_parameter_picks_that_SRV_name()
    {
        Assert.Equal(["TCP 192.0.2.3:5090"], await ResolveAsync("sip:srv.example.test;transport=tcp"));
        Assert.DoesNotContain(_counting.Asked, q => q.Type == DnsRecordType.Naptr);
    }

    [Fact]
    public async Task Without_NAPTR_or_SRV_the_host_address_on_5060_over_UDP()
    {
        Assert.Equal(["UDP 192.0.2.50:5060"], await ResolveAsync("sip:plain.example.test"));
    }

    [Fact]
    public async Task An_AAAA_only_host_gives_an_IPv6_destination()
    {
        Assert.Equal(["UDP [2001:db8::6]:5060"], await ResolveAsync("sip:v6only.example.test"));
        Assert.Equal(["TCP [2001:db8::6]:5088"], await ResolveAsync("sip:v6only.example.test:5088;transport=tcp"));
    }

    [Fact]
    public async Task NXDOMAIN_resolves_to_an_empty_list()
    {
        var result = await _client.QueryAsync("missing.example.test", DnsRecordType.A, CancellationToken.None);
        Assert.Equal(DnsQueryStatus.NameError, result.Status);

        Assert.Empty(await ResolveAsync("sip:missing.example.test"));
        Assert.Empty(await ResolveAsync("sip:missing.example.test:5060"));
        Assert.Empty(await ResolveAsync("sip:missing.example.test;transport=tcp"));
    }

    [Fact]
    public async Task A_truncated_UDP_answer_is_completed_over_TCP()
    {
        // Prove that dnsmasq really truncates this answer over UDP …
        var query = new byte[DnsQueryWriter.MaxQueryLength];
        Assert.True(DnsQueryWriter.TryWrite(query, 4242, "_sip._udp.big.example.test", DnsRecordType.Srv, out var length));
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        await udp.ConnectAsync(_dns.EndPoint);
        await udp.SendAsync(query.AsMemory(0, length));
        var answer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var received = await udp.ReceiveAsync(answer, SocketFlags.None, timeout.Token);
        Assert.True(DnsMessageReader.TryParse(answer.AsSpan(0, received), out var message, out var error), error.ToString());
        Assert.True(message.Truncated);

        // … and that the client gets all of it.
        var result = await _client.QueryAsync("_sip._udp.big.example.test", DnsRecordType.Srv, CancellationToken.None);
        Assert.Equal(DnsQueryStatus.Success, result.Status);
        Assert.Equal(ExampleZoneDnsmasq.BigSrvCount, result.Records.Count);
        Assert.Contains(result.Records, r => r is DnsSrvRecord { Target: "a-rather-long-target-name-number-24.example.test", Port: 5060 });
    }

    [Fact]
    public async Task Answers_are_cached_by_TTL()
    {
        // dnsmasq gives its configured names TTL 0 (not cached) unless the record sets one.
        await _client.QueryAsync("cached.example.test", DnsRecordType.A, CancellationToken.None);
        var again = await _client.QueryAsync("cached.example.test", DnsRecordType.A, CancellationToken.None);
        await _client.QueryAsync("uncached.example.test", DnsRecordType.A, CancellationToken.None);
        await _client.QueryAsync("uncached.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(IPAddress.Parse("192.0.2.77"), Assert.IsType<DnsAddressRecord>(Assert.Single(again.Records)).Address);
        Assert.Equal(300u, again.Records[0].Ttl);
        // Log lines arrive in order: once both "uncached" queries are in, so is any "cached" one.
        await WaitForLogAsync(() => _dns.LoggedQueries("A", "uncached.example.test") >= 2);
        Assert.Equal(2, _dns.LoggedQueries("A", "uncached.example.test"));
        Assert.Equal(1, _dns.LoggedQueries("A", "cached.example.test"));
    }

    private async Task WaitForLogAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(20);
        }

        Assert.True(condition(), _dns.Log);
    }

    /// <summary>Passes queries on and remembers them, to show which lookups a resolution made.</summary>
    private sealed class CountingDnsClient(IDnsClient inner) : IDnsClient
    {
        public ConcurrentQueue<(string Name, DnsRecordType Type)> Asked { get; } = new();

        public ValueTask<DnsQueryResult> QueryAsync(string name, DnsRecordType type, CancellationToken cancellationToken)
        {
            Asked.Enqueue((name, type));
            return inner.QueryAsync(name, type, cancellationToken);
        }
    }
}
