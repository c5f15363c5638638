using System.Net;
using System.Net.Sockets;
using System.Text;
using Tandem.Server.Config;
using Tandem.Sip.Auth;
using Tandem.Sip.Messages;

namespace Tandem.Server.Tests.Core;

/// <summary>The SIP core over real loopback sockets: validation, transactions, registrar, auth.</summary>
public class SipServerCoreTests
{
    [Fact]
    public async Task Options_is_answered_with_200_and_Allow()
    {
        await using var fixture = await ServerFixture.StartAsync();
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var response = await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("OPTIONS", "opt1"));
        Assert.NotNull(response);
        Assert.Equal(200, response.StatusCode);
        Assert.Contains("REGISTER", response.GetHeader(HeaderId.Allow), StringComparison.Ordinal);
        Assert.NotNull(response.To!.Tag);

        // rport: the answer came back to our real port even though Via names 5999.
        Assert.Equal(((IPEndPoint)client.Client.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Tandem.Sip.Uris.SipParameters.Get(response.TopVia.Parameters, "rport"));
    }

    [Fact]
    public async Task Malformed_request_gets_400_with_the_reason_and_garbage_is_dropped_and_counted()
    {
        await using var fixture = await ServerFixture.StartAsync();
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var bad = ServerFixture.Request("OPTIONS", "bad1").Replace("CSeq: 1 OPTIONS", "CSeq: 99999999999 OPTIONS", StringComparison.Ordinal);
        await client.SendAsync(Encoding.ASCII.GetBytes(bad), fixture.Udp);

        // The 400 echoes the broken CSeq, so our own parser would refuse it: read it as text.
        using (var cts = new CancellationTokenSource(2000))
        {
            var raw = Encoding.ASCII.GetString((await client.ReceiveAsync(cts.Token)).Buffer);
            Assert.StartsWith("SIP/2.0 400 Bad Request (CSeq number is missing or larger than 2^31-1)\r\n", raw, StringComparison.Ordinal);
            Assert.Contains("Call-ID: c1\r\n", raw, StringComparison.Ordinal);
        }

        Assert.Null(await ServerFixture.ExchangeAsync(client, fixture.Udp, "\u0001\u0002garbage\r\n\r\n", 300));
        Assert.Equal(1, fixture.Server.Core!.Counters.MalformedDropped);
        Assert.Equal(1, fixture.Server.Core.Counters.MalformedAnswered);

        // Still alive after both.
        Assert.Equal(200, (await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("OPTIONS", "ok1")))!.StatusCode);
    }

    [Fact]
    public async Task Unsupported_methods_and_schemes_get_clear_statuses()
    {
        await using var fixture = await ServerFixture.StartAsync();
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Assert.Equal(501, (await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("FROBNICATE", "m1")))!.StatusCode);
        Assert.Equal(405, (await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("BYE", "m2")))!.StatusCode);
        Assert.Equal(416, (await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("OPTIONS", "m3", uri: "urn:service:sos")))!.StatusCode);
        var extension = await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("OPTIONS", "m4", extra: "Require: foo\r\n"));
        Assert.Equal(420, extension!.StatusCode);
        Assert.Equal("foo", extension.GetHeader(HeaderId.Unsupported));
    }

    [Fact]
    public async Task Register_is_challenged_then_accepted_and_retransmissions_get_the_same_answer()
    {
        await using var fixture = await ServerFixture.StartAsync(o => o with { Auth = o.Auth with { Algorithms = [DigestAlgorithm.Md5, DigestAlgorithm.Sha256] } });
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        const string contact = "Contact: <sip:alice@127.0.0.1:5999>\r\nExpires: 600\r\n";

        var challenge = await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("REGISTER", "r1", extra: contact));
        Assert.Equal(401, challenge!.StatusCode);
        var offers = new List<string>();
        for (var i = challenge.IndexOfHeader(HeaderId.WwwAuthenticate); i >= 0; i = challenge.IndexOfHeader(HeaderId.WwwAuthenticate, i + 1))
        {
            offers.Add(challenge.GetHeaderValue(i).ToString());
        }

        Assert.Equal(2, offers.Count);
        Assert.Contains("algorithm=MD5", offers[0], StringComparison.Ordinal);
        Assert.Contains("algorithm=SHA-256", offers[1], StringComparison.Ordinal);

        var authorization = Answer(offers[1], DigestAlgorithm.Sha256, ServerFixture.Password);
        var register = ServerFixture.Request("REGISTER", "r2", cseq: 2, extra: contact + $"Authorization: {authorization}\r\n");
        var ok = await ServerFixture.ExchangeAsync(client, fixture.Udp, register);
        Assert.Equal(200, ok!.StatusCode);
        Assert.Contains("<sip:alice@127.0.0.1:5999>;expires=600", ok.GetHeader(HeaderId.Contact), StringComparison.Ordinal);

        // The completed transaction's 200 is kept by the answer cache, not by a transaction object.
        Assert.Equal(1, fixture.Server.Core!.CompletedAnswerCount);
        Assert.Equal(0, fixture.Server.Core.TransactionCount);

        // The same request again (a UDP retransmission) must not be re-run: same To tag, no replay 401.
        var again = await ServerFixture.ExchangeAsync(client, fixture.Udp, register);
        Assert.Equal(200, again!.StatusCode);
        Assert.Equal(ok.To!.Tag, again.To!.Tag);
        Assert.True(fixture.Server.Core!.Counters.RetransmissionsAbsorbed >= 1);
        Assert.Equal(1, fixture.Server.Locations.BindingCount);
    }

    [Fact]
    public async Task Wrong_password_and_unknown_user_get_the_same_fresh_challenge()
    {
        await using var fixture = await ServerFixture.StartAsync();
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var challenge = await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("REGISTER", "w1"));
        var offer = challenge!.GetHeader(HeaderId.WwwAuthenticate)!;

        var wrong = await ServerFixture.ExchangeAsync(client, fixture.Udp,
            ServerFixture.Request("REGISTER", "w2", cseq: 2, extra: $"Authorization: {Answer(offer, DigestAlgorithm.Md5, "nope")}\r\n"));
        var unknown = await ServerFixture.ExchangeAsync(client, fixture.Udp,
            ServerFixture.Request("REGISTER", "w3", cseq: 3, extra: $"Authorization: {Answer(offer, DigestAlgorithm.Md5, "secret", user: "mallory")}\r\n"));
        Assert.Equal(401, wrong!.StatusCode);
        Assert.Equal(401, unknown!.StatusCode);
        Assert.Equal(wrong.ReasonPhrase, unknown.ReasonPhrase);
        Assert.DoesNotContain("stale", wrong.GetHeader(HeaderId.WwwAuthenticate), StringComparison.Ordinal);
        Assert.Equal(0, fixture.Server.Locations.BindingCount);
    }

    [Fact]
    public async Task Full_transaction_table_answers_503_with_Retry_After()
    {
        await using var fixture = await ServerFixture.StartAsync(o => o with { Sip = o.Sip with { MaxTransactions = 100 } });
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));

        // Each INVITE leaves a server transaction waiting for its ACK (Timer H, 32 s).
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(405, (await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("INVITE", $"inv{i}", callId: $"c{i}")))!.StatusCode);
        }

        var busy = await ServerFixture.ExchangeAsync(client, fixture.Udp, ServerFixture.Request("OPTIONS", "over"));
        Assert.Equal(503, busy!.StatusCode);
        Assert.Equal("5", busy.GetHeader(HeaderId.RetryAfter));
        Assert.Equal(1, fixture.Server.Core!.Counters.OverloadRejected);
    }

    [Fact]
    public async Task Tcp_answers_on_the_connection_and_pongs_keep_alives()
    {
        await using var fixture = await ServerFixture.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(fixture.Tcp);
        var stream = tcp.GetStream();
        await stream.WriteAsync("\r\n\r\n"u8.ToArray());
        var pong = new byte[2];
        await stream.ReadExactlyAsync(pong);
        Assert.Equal("\r\n"u8.ToArray(), pong);

        // Two requests in one write, split oddly, are framed and answered in order.
        var first = ServerFixture.Request("OPTIONS", "t1", callId: "tcp1").Replace("SIP/2.0/UDP", "SIP/2.0/TCP", StringComparison.Ordinal);
        var second = ServerFixture.Request("OPTIONS", "t2", callId: "tcp2").Replace("SIP/2.0/UDP", "SIP/2.0/TCP", StringComparison.Ordinal);
        var bytes = Encoding.ASCII.GetBytes(first + second);
        await stream.WriteAsync(bytes.AsMemory(0, 10));
        await Task.Delay(50);
        await stream.WriteAsync(bytes.AsMemory(10));

        var received = new List<SipMessage>();
        var buffer = new byte[8192];
        var filled = 0;
        using var cts = new CancellationTokenSource(3000);
        while (received.Count < 2)
        {
            filled += await stream.ReadAsync(buffer.AsMemory(filled), cts.Token);
            while (SipFraming.TryFrame(buffer.AsSpan(0, filled), 65535, out _, out var length) == FrameStatus.Message)
            {
                received.Add(SipParser.Parse(buffer.AsSpan(0, length)).Message!);
                buffer.AsSpan(length, filled - length).CopyTo(buffer);
                filled -= length;
            }
        }

        Assert.Equal(["tcp1", "tcp2"], received.Select(m => m.CallId));
        Assert.All(received, m => Assert.Equal(200, m.StatusCode));
    }

    [Fact]
    public async Task Bindings_of_one_aor_share_the_strings_that_repeat()
    {
        // Each binding lives for hours: the AoR, the local and the source address are kept once per
        // AoR or device, not once per binding (memory per registration, docs/benchmarks.md).
        await using var fixture = await ServerFixture.StartAsync(o => o with { Auth = o.Auth with { Enabled = false } });
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        for (var i = 1; i <= 3; i++)
        {
            var ok = await ServerFixture.ExchangeAsync(client, fixture.Udp,
                ServerFixture.Request("REGISTER", $"s{i}", callId: $"share{i}", extra: $"Contact: <sip:alice{i}@127.0.0.1:5999>\r\nExpires: 600\r\n"));
            Assert.Equal(200, ok!.StatusCode);
        }

        var bindings = fixture.Server.Locations.Get("sip:alice@example.com");
        Assert.Equal(3, bindings.Count);
        Assert.All(bindings, b => Assert.Same(bindings[0].Aor, b.Aor));
        Assert.All(bindings, b => Assert.Same(bindings[0].SourceAddress, b.SourceAddress));
        Assert.All(bindings, b => Assert.Same(bindings[0].LocalAddress, b.LocalAddress));
        Assert.Equal(3, bindings.Select(b => b.ContactUri).Distinct().Count());
    }

    [Fact]
    public async Task Bindings_survive_a_restart_on_the_same_data_directory()
    {
        var fixture = await ServerFixture.StartAsync(o => o with { Auth = o.Auth with { Enabled = false } });
        var dataDir = fixture.DataDir.Path;
        using (var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            var ok = await ServerFixture.ExchangeAsync(client, fixture.Udp,
                ServerFixture.Request("REGISTER", "p1", extra: "Contact: <sip:alice@127.0.0.1:5999>\r\nExpires: 600\r\n"));
            Assert.Equal(200, ok!.StatusCode);
        }

        await fixture.Server.StopAsync(CancellationToken.None);
        var options = new TandemOptions
        {
            DataDir = dataDir,
            Listen = [ListenEndpoint.Parse("udp:127.0.0.1:0")],
            Auth = new AuthOptions { Enabled = false },
        };
        await using var restarted = new TandemServer(options, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await restarted.StartAsync(CancellationToken.None);
        var binding = Assert.Single(restarted.Locations.Get("sip:alice@example.com"));
        Assert.Equal("sip:alice@127.0.0.1:5999", binding.ContactUri);
        await fixture.DisposeAsync();
    }

    [Fact]
    public async Task IPv6_listeners_answer_with_received_and_register_the_source()
    {
        await using var fixture = await ServerFixture.StartAsync(o => o with
        {
            Listen = [ListenEndpoint.Parse("udp:[::1]:0"), ListenEndpoint.Parse("tcp:[::1]:0")],
            Auth = o.Auth with { Enabled = false },
        });
        Assert.Equal(AddressFamily.InterNetworkV6, fixture.Udp.AddressFamily);
        using var client = new UdpClient(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        var port = ((IPEndPoint)client.Client.LocalEndPoint!).Port;
        var request = ServerFixture.Request("REGISTER", "v6", extra: $"Contact: <sip:alice@[::1]:{port}>\r\nExpires: 600\r\n", uri: "sip:[::1]")
            .Replace("SIP/2.0/UDP 127.0.0.1:5999", $"SIP/2.0/UDP [::1]:{port}", StringComparison.Ordinal);
        var ok = await ServerFixture.ExchangeAsync(client, fixture.Udp, request);
        Assert.Equal(200, ok!.StatusCode);
        Assert.Equal("::1", ok.TopVia.Received);
        var binding = Assert.Single(fixture.Server.Locations.Get("sip:alice@example.com"));
        Assert.Equal($"[::1]:{port}", binding.SourceAddress);
        Assert.Equal($"sip:alice@[::1]:{port}", binding.ContactUri);
    }

    private static string Answer(string challenge, DigestAlgorithm algorithm, string password, string user = ServerFixture.User)
        => ServerFixture.DigestAnswer(challenge, "REGISTER", "sip:example.com", user, password, algorithm);
}
