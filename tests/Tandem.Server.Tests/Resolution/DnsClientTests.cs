using System.Buffers.Binary;
using System.Net;
using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

/// <summary>The client against scripted servers on loopback: retries, failover, TCP fallback, anti-spoofing, caching.</summary>
public class DnsClientTests
{
    // Long enough that a loaded 2-core CI machine never misses an answer that was sent; tests
    // of servers that stay silent pass a short one so they wait less.
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan SilenceTimeout = TimeSpan.FromMilliseconds(300);

    private static DnsClient Client(params FakeDnsServer[] servers) => Client(servers, t => t);

    private static DnsClient Client(FakeDnsServer[] servers, Func<DnsClientOptions, DnsClientOptions> configure) =>
        new(configure(new DnsClientOptions { Servers = [.. servers.Select(s => s.EndPoint)], Timeout = AnswerTimeout, Attempts = 1 }));

    private static byte[] AnswerA(byte[] query, string address = "192.0.2.1", uint ttl = 60)
    {
        return DnsPacketBuilder.AnswerTo(query, 1).Address(DnsPacketBuilder.QuestionName(query), ttl, address).ToArray();
    }

    private static IPAddress Single(DnsQueryResult result)
    {
        Assert.Equal(DnsQueryStatus.Success, result.Status);
        return Assert.IsType<DnsAddressRecord>(Assert.Single(result.Records)).Address;
    }

    [Fact]
    public async Task Answers_an_A_query()
    {
        await using var server = FakeDnsServer.Answering(q => AnswerA(q));

        var result = await Client(server).QueryAsync("GW1.example.test.", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(IPAddress.Parse("192.0.2.1"), Single(result));
    }

    [Fact]
    public async Task Ignores_answers_with_another_id_or_question_or_garbage_and_takes_the_real_one()
    {
        await using var server = new FakeDnsServer(query =>
        {
            var wrongId = AnswerA(query, "203.0.113.66");
            BinaryPrimitives.WriteUInt16BigEndian(wrongId, (ushort)(BinaryPrimitives.ReadUInt16BigEndian(query) ^ 0x5A5A));
            var otherQuestion = new DnsPacketBuilder().ResponseHeader(BinaryPrimitives.ReadUInt16BigEndian(query), 1, 1)
                .Question("evil.test", DnsRecordType.A).Address("evil.test", 60, "203.0.113.67").ToArray();
            var notAResponse = (byte[])query.Clone();
            return [wrongId, otherQuestion, [0xDE, 0xAD], notAResponse, AnswerA(query)];
        });

        var result = await Client(server).QueryAsync("gw1.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(IPAddress.Parse("192.0.2.1"), Single(result));
    }

    [Fact]
    public async Task A_truncated_answer_is_asked_again_over_TCP()
    {
        await using var server = new FakeDnsServer(
            query => [DnsPacketBuilder.AnswerTo(query, 0, truncated: true).ToArray()],
            query => AnswerA(query, "192.0.2.44"));

        var result = await Client(server).QueryAsync("gw1.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(IPAddress.Parse("192.0.2.44"), Single(result));
        Assert.Equal(1, server.UdpQueries);
        Assert.Equal(1, server.TcpQueries);
    }

    [Theory]
    [InlineData(DnsResponseCode.ServerFailure)]
    [InlineData(DnsResponseCode.Refused)]
    [InlineData(DnsResponseCode.NotImplemented)]
    public async Task A_failing_server_passes_the_question_to_the_next(DnsResponseCode rcode)
    {
        await using var failing = FakeDnsServer.Answering(q => DnsPacketBuilder.AnswerTo(q, 0, rcode: rcode).ToArray());
        await using var good = FakeDnsServer.Answering(q => AnswerA(q));

        var result = await Client(failing, good).QueryAsync("gw1.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(IPAddress.Parse("192.0.2.1"), Single(result));
        Assert.Equal(1, failing.UdpQueries);
    }

    [Fact]
    public async Task A_silent_server_times_out_and_the_next_answers()
    {
        await using var silent = FakeDnsServer.Silent();
        await using var good = FakeDnsServer.Answering(q => AnswerA(q));

        var result = await Client([silent, good], o => new DnsClientOptions { Servers = o.Servers, Timeout = TimeSpan.FromSeconds(1) }).QueryAsync("gw1.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(IPAddress.Parse("192.0.2.1"), Single(result));
    }

    [Fact]
    public async Task Garbage_alone_is_a_timeout_after_every_attempt()
    {
        await using var garbage = new FakeDnsServer(_ => [[1, 2, 3], new byte[600]]);

        var result = await Client([garbage], o => new DnsClientOptions { Servers = o.Servers, Timeout = SilenceTimeout, Attempts = 2 })
            .QueryAsync("gw1.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(DnsQueryStatus.Timeout, result.Status);
        Assert.Empty(result.Records);
        Assert.Equal(2, garbage.UdpQueries);
    }

    [Fact]
    public async Task Only_failures_give_ServerFailure()
    {
        await using var failing = FakeDnsServer.Answering(q => DnsPacketBuilder.AnswerTo(q, 0, rcode: DnsResponseCode.ServerFailure).ToArray());
        await using var silent = FakeDnsServer.Silent();

        var result = await Client([failing, silent], o => new DnsClientOptions { Servers = o.Servers, Timeout = TimeSpan.FromSeconds(1), Attempts = 1 }).QueryAsync("gw1.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(DnsQueryStatus.ServerFailure, result.Status);
    }

    [Fact]
    public async Task NXDOMAIN_is_final_and_cached_for_the_SOA_negative_TTL()
    {
        var time = new ManualTimeProvider();
        await using var server = FakeDnsServer.Answering(q =>
            DnsPacketBuilder.AnswerTo(q, 0, authority: 1, rcode: DnsResponseCode.NameError).Soa("example.test", 3600, 5).ToArray());
        await using var other = FakeDnsServer.Answering(q => AnswerA(q));
        var client = Client([server, other], o => new DnsClientOptions { Servers = o.Servers, Timeout = o.Timeout, TimeProvider = time });
        var ct = CancellationToken.None;

        Assert.Equal(DnsQueryStatus.NameError, (await client.QueryAsync("missing.example.test", DnsRecordType.A, ct)).Status);
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(DnsQueryStatus.NameError, (await client.QueryAsync("missing.example.test", DnsRecordType.A, ct)).Status);
        Assert.Equal(1, server.UdpQueries);
        Assert.Equal(0, other.UdpQueries);

        time.Advance(TimeSpan.FromSeconds(2));
        await client.QueryAsync("missing.example.test", DnsRecordType.A, ct);
        Assert.Equal(2, server.UdpQueries);
    }

    [Fact]
    public async Task Negative_caching_is_capped_however_long_the_SOA_says()
    {
        var time = new ManualTimeProvider();
        await using var server = FakeDnsServer.Answering(q =>
            DnsPacketBuilder.AnswerTo(q, 0, authority: 1).Soa("example.test", 86400, 86400).ToArray());
        var client = Client([server], o => new DnsClientOptions
        {
            Servers = o.Servers,
            Timeout = o.Timeout,
            TimeProvider = time,
            NegativeCacheTtl = TimeSpan.FromSeconds(10),
        });
        var ct = CancellationToken.None;

        Assert.Equal(DnsQueryStatus.NoData, (await client.QueryAsync("gw1.example.test", DnsRecordType.Aaaa, ct)).Status);
        time.Advance(TimeSpan.FromSeconds(11));
        await client.QueryAsync("gw1.example.test", DnsRecordType.Aaaa, ct);

        Assert.Equal(2, server.UdpQueries);
    }

    [Fact]
    public async Task Positive_answers_are_cached_for_their_smallest_TTL_and_TTL_zero_is_not_cached()
    {
        var time = new ManualTimeProvider();
        await using var server = FakeDnsServer.Answering(q =>
        {
            var name = DnsPacketBuilder.QuestionName(q);
            var ttl = name.StartsWith("zero", StringComparison.Ordinal) ? 0u : 120u;
            return DnsPacketBuilder.AnswerTo(q, 2).Address(name, ttl, "192.0.2.1").Address(name, 30, "192.0.2.2").ToArray();
        });
        var client = Client([server], o => new DnsClientOptions { Servers = o.Servers, Timeout = o.Timeout, TimeProvider = time });
        var ct = CancellationToken.None;

        await client.QueryAsync("gw1.example.test", DnsRecordType.A, ct);
        time.Advance(TimeSpan.FromSeconds(29));
        var cached = await client.QueryAsync("GW1.example.test", DnsRecordType.A, ct);
        Assert.Equal(2, cached.Records.Count);
        Assert.Equal(1, server.UdpQueries);

        time.Advance(TimeSpan.FromSeconds(2));
        await client.QueryAsync("gw1.example.test", DnsRecordType.A, ct);
        Assert.Equal(2, server.UdpQueries);

        await client.QueryAsync("zero.example.test", DnsRecordType.A, ct);
        await client.QueryAsync("zero.example.test", DnsRecordType.A, ct);
        Assert.Equal(4, server.UdpQueries);
    }

    [Fact]
    public async Task The_cache_holds_at_most_its_capacity()
    {
        await using var server = FakeDnsServer.Answering(q => AnswerA(q));
        var client = Client([server], o => new DnsClientOptions { Servers = o.Servers, Timeout = o.Timeout, CacheCapacity = 2 });
        var ct = CancellationToken.None;

        foreach (var name in new[] { "a.test", "b.test", "c.test", "a.test" })
        {
            await client.QueryAsync(name, DnsRecordType.A, ct);
        }

        Assert.Equal(2, client.CachedAnswers);
        Assert.Equal(4, server.UdpQueries); // "a" was evicted by "c"
    }

    [Fact]
    public async Task Follows_a_CNAME_chain_inside_the_answer()
    {
        await using var server = FakeDnsServer.Answering(q => DnsPacketBuilder.AnswerTo(q, 3)
            .Record("sip.example.test", DnsRecordType.CName, 60, b => b.Name("edge.example.test"))
            .Record("edge.example.test", DnsRecordType.CName, 60, b => b.Name("gw9.example.test"))
            .Address("gw9.example.test", 60, "192.0.2.9")
            .ToArray());

        var result = await Client(server).QueryAsync("sip.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(IPAddress.Parse("192.0.2.9"), Single(result));
    }

    [Fact]
    public async Task Records_for_other_owners_are_not_an_answer()
    {
        await using var server = FakeDnsServer.Answering(q => DnsPacketBuilder.AnswerTo(q, 1).Address("elsewhere.test", 60, "203.0.113.1").ToArray());

        var result = await Client(server).QueryAsync("gw1.example.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(DnsQueryStatus.NoData, result.Status);
    }

    [Fact]
    public async Task An_invalid_name_sends_nothing()
    {
        await using var server = FakeDnsServer.Answering(q => AnswerA(q));

        var result = await Client(server).QueryAsync("bad name.test", DnsRecordType.A, CancellationToken.None);

        Assert.Equal(DnsQueryStatus.InvalidName, result.Status);
        Assert.Equal(0, server.UdpQueries);
    }

    [Fact]
    public async Task Query_ids_are_random()
    {
        await using var server = FakeDnsServer.Answering(q => AnswerA(q));
        var client = Client([server], o => new DnsClientOptions { Servers = o.Servers, Timeout = o.Timeout, CacheCapacity = 0 });

        for (var i = 0; i < 16; i++)
        {
            await client.QueryAsync("gw1.example.test", DnsRecordType.A, CancellationToken.None);
        }

        lock (server.QueryIds)
        {
            Assert.True(server.QueryIds.Distinct().Count() > 8, string.Join(",", server.QueryIds));
        }
    }

    [Fact]
    public async Task Cancellation_by_the_caller_throws()
    {
        await using var silent = FakeDnsServer.Silent();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        var client = Client([silent], o => new DnsClientOptions { Servers = o.Servers, Timeout = TimeSpan.FromSeconds(30) });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.QueryAsync("gw1.example.test", DnsRecordType.A, cts.Token).AsTask());
    }

    [Fact]
    public void Needs_a_server()
    {
        Assert.Throws<ArgumentException>(() => new DnsClient(Array.Empty<IPEndPoint>()));
    }
}
