using System.Net;
using System.Text;
using Tandem.Server.Tests.Core;
using Tandem.Sip.Messages;

namespace Tandem.Server.Tests.Proxy;

/// <summary>The proxy over real loopback sockets, with test sockets playing caller and callees.</summary>
public class ProxyTests
{
    private static Task<ServerFixture> StartAsync(Func<Tandem.Server.Config.TandemOptions, Tandem.Server.Config.TandemOptions>? more = null)
        => ServerFixture.StartAsync(o =>
        {
            o = o with { Auth = o.Auth with { Enabled = false } };
            return more?.Invoke(o) ?? o;
        });

    /// <summary>Registers <paramref name="peer"/> as a contact of user@example.com, from its own socket.</summary>
    private static async Task RegisterAsync(ServerFixture fixture, SipPeer peer, string user, string q = "1.0")
    {
        await peer.SendAsync(
            $"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {peer.Address};branch=z9hG4bKr{peer.Port};rport\r\n" +
            $"From: <sip:{user}@example.com>;tag=r\r\nTo: <sip:{user}@example.com>\r\nCall-ID: reg-{peer.Port}\r\nCSeq: 1 REGISTER\r\n" +
            $"Contact: <sip:{user}@{peer.Address}>;q={q}\r\nExpires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", fixture.Udp);
        await peer.ExpectResponseAsync(200, "REGISTER");
    }

    private static string Invite(SipPeer caller, string callee, string callId, int maxForwards = 70, string from = "carol")
        => $"INVITE sip:{callee}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {caller.Address};branch=z9hG4bKi{callId};rport\r\n" +
           $"From: <sip:{from}@example.com>;tag=c1\r\nTo: <sip:{callee}@example.com>\r\nCall-ID: {callId}\r\nCSeq: 1 INVITE\r\n" +
           $"Contact: <sip:{from}@{caller.Address}>\r\nMax-Forwards: {maxForwards}\r\nContent-Length: 0\r\n\r\n";

    [Fact]
    public async Task Call_is_forwarded_with_Record_Route_and_the_BYE_follows_the_route()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();
        using var callee = new SipPeer();
        await RegisterAsync(fixture, callee, "bob");

        await caller.SendAsync(Invite(caller, "bob", "call-1"), fixture.Udp);
        await caller.ExpectResponseAsync(100, "INVITE");
        var (invite, proxy) = await callee.ExpectRequestAsync("INVITE");
        Assert.Equal($"sip:bob@{callee.Address}", invite.RequestUriText);
        Assert.Equal(69, invite.MaxForwards);
        Assert.Equal(2, invite.ViaCount);
        var recordRoute = invite.GetHeader(HeaderId.RecordRoute);
        Assert.Equal($"<sip:127.0.0.1:{fixture.Udp.Port};lr>", recordRoute);

        await callee.SendAsync(SipPeer.Answer(invite, 180, "Ringing", "b1"), proxy);
        await caller.ExpectResponseAsync(180, "INVITE");
        await callee.SendAsync(SipPeer.Answer(invite, 200, "OK", "b1", contact: $"sip:bob@{callee.Address}"), proxy);
        var (ok, _) = await caller.ExpectResponseAsync(200, "INVITE");
        Assert.Equal(1, ok.ViaCount);
        Assert.Equal("b1", ok.To!.Tag);
        Assert.Equal(recordRoute, ok.GetHeader(HeaderId.RecordRoute));

        // ACK and BYE go to the proxy with the Route set, and reach the callee's contact.
        var dialog = $"From: <sip:carol@example.com>;tag=c1\r\nTo: <sip:bob@example.com>;tag=b1\r\nCall-ID: call-1\r\nRoute: {recordRoute}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        await caller.SendAsync($"ACK sip:bob@{callee.Address} SIP/2.0\r\nVia: SIP/2.0/UDP {caller.Address};branch=z9hG4bKack1;rport\r\nCSeq: 1 ACK\r\n" + dialog, fixture.Udp);
        var (ack, _) = await callee.ExpectRequestAsync("ACK");
        Assert.False(ack.HasHeader(HeaderId.Route));

        await caller.SendAsync($"BYE sip:bob@{callee.Address} SIP/2.0\r\nVia: SIP/2.0/UDP {caller.Address};branch=z9hG4bKbye1;rport\r\nCSeq: 2 BYE\r\n" + dialog, fixture.Udp);
        var (bye, byeFrom) = await callee.ExpectRequestAsync("BYE");
        await callee.SendAsync(SipPeer.Answer(bye, 200, "OK", "b1"), byeFrom);
        var (byeOk, _) = await caller.ExpectResponseAsync(200, "BYE");
        Assert.Equal(1, byeOk.ViaCount);

        var cdr = Assert.Single(await CdrsAsync(fixture));
        Assert.Equal("call-1", cdr.CallId);
        Assert.Equal(Tandem.Storage.CdrDisposition.Answered, cdr.Disposition);
        Assert.NotNull(cdr.AnsweredAt);
        Assert.Equal("sip:carol@example.com", cdr.Caller);
    }

    /// <summary>Stops the server (flushing call records) and reads them back from its database.</summary>
    private static async Task<IReadOnlyList<Tandem.Storage.CallDetailRecord>> CdrsAsync(ServerFixture fixture)
    {
        await fixture.Server.StopAsync(CancellationToken.None);
        var store = new Tandem.Storage.Sqlite.SqliteCdrStore(Tandem.Storage.Sqlite.SqliteDatabase.Open(fixture.DataDir.Path));
        return await store.ListAsync(new Tandem.Storage.CdrQuery());
    }

    [Fact]
    public async Task Caller_CANCEL_is_answered_and_passed_on_and_the_INVITE_ends_487()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();
        using var callee = new SipPeer();
        await RegisterAsync(fixture, callee, "bob");

        await caller.SendAsync(Invite(caller, "bob", "call-2"), fixture.Udp);
        var (invite, proxy) = await callee.ExpectRequestAsync("INVITE");
        await callee.SendAsync(SipPeer.Answer(invite, 180, "Ringing", "b2"), proxy);
        await caller.ExpectResponseAsync(180, "INVITE");

        await caller.SendAsync(
            $"CANCEL sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {caller.Address};branch=z9hG4bKicall-2;rport\r\n" +
            "From: <sip:carol@example.com>;tag=c1\r\nTo: <sip:bob@example.com>\r\nCall-ID: call-2\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", fixture.Udp);
        await caller.ExpectResponseAsync(200, "CANCEL");
        await caller.ExpectResponseAsync(487, "INVITE");
        var (cancel, _) = await callee.ExpectRequestAsync("CANCEL");
        Assert.Equal(invite.TopVia.Branch, cancel.TopVia.Branch);
        Assert.Equal(Tandem.Storage.CdrDisposition.Cancelled, Assert.Single(await CdrsAsync(fixture)).Disposition);
    }

    [Fact]
    public async Task Equal_q_contacts_ring_in_parallel_and_the_loser_is_cancelled()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();
        using var first = new SipPeer();
        using var second = new SipPeer();
        await RegisterAsync(fixture, first, "bob");
        await RegisterAsync(fixture, second, "bob");

        await caller.SendAsync(Invite(caller, "bob", "call-3"), fixture.Udp);
        var (invite1, proxy1) = await first.ExpectRequestAsync("INVITE");
        var (invite2, proxy2) = await second.ExpectRequestAsync("INVITE");
        await first.SendAsync(SipPeer.Answer(invite1, 180, "Ringing", "f1"), proxy1);
        await second.SendAsync(SipPeer.Answer(invite2, 180, "Ringing", "s1"), proxy2);
        await second.SendAsync(SipPeer.Answer(invite2, 200, "OK", "s1", contact: $"sip:bob@{second.Address}"), proxy2);

        var (ok, _) = await caller.ExpectResponseAsync(200, "INVITE");
        Assert.Equal("s1", ok.To!.Tag);
        var (cancel, cancelFrom) = await first.ExpectRequestAsync("CANCEL");
        await first.SendAsync(SipPeer.Answer(cancel, 200, "OK", "f1"), cancelFrom);
        await first.SendAsync(SipPeer.Answer(invite1, 487, "Request Terminated", "f1"), proxy1);
        await first.ExpectRequestAsync("ACK");
        await caller.ExpectNothingAsync(m => !m.IsRequest && m.StatusCode == 487);
    }

    [Fact]
    public async Task Higher_q_contact_rings_first_and_the_next_only_after_it_fails()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();
        using var preferred = new SipPeer();
        using var fallback = new SipPeer();
        await RegisterAsync(fixture, preferred, "bob", "0.9");
        await RegisterAsync(fixture, fallback, "bob", "0.1");

        await caller.SendAsync(Invite(caller, "bob", "call-4"), fixture.Udp);
        var (invite, proxy) = await preferred.ExpectRequestAsync("INVITE");
        await fallback.ExpectNothingAsync(m => m.IsRequest);
        await preferred.SendAsync(SipPeer.Answer(invite, 486, "Busy Here", "p1"), proxy);
        await preferred.ExpectRequestAsync("ACK");
        var (next, nextProxy) = await fallback.ExpectRequestAsync("INVITE");
        await fallback.SendAsync(SipPeer.Answer(next, 200, "OK", "f1", contact: $"sip:bob@{fallback.Address}"), nextProxy);
        await caller.ExpectResponseAsync(200, "INVITE");
    }

    [Fact]
    public async Task Require_is_left_to_the_callee_but_Proxy_Require_is_checked_here()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();
        using var callee = new SipPeer();
        await RegisterAsync(fixture, callee, "bob");

        await caller.SendAsync(Invite(caller, "bob", "req-1").Replace("Max-Forwards", "Require: 100rel\r\nMax-Forwards", StringComparison.Ordinal), fixture.Udp);
        var (invite, _) = await callee.ExpectRequestAsync("INVITE");
        Assert.Equal("100rel", invite.GetHeader(HeaderId.Require));

        await caller.SendAsync(Invite(caller, "bob", "req-2").Replace("Max-Forwards", "Proxy-Require: frobnicate\r\nMax-Forwards", StringComparison.Ordinal), fixture.Udp);
        var (refused, _) = await caller.ExpectResponseAsync(420, "INVITE");
        Assert.Equal("frobnicate", refused.GetHeader(HeaderId.Unsupported));
    }

    [Fact]
    public async Task Busy_callee_gives_486_and_a_busy_call_record()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();
        using var callee = new SipPeer();
        await RegisterAsync(fixture, callee, "bob");
        await caller.SendAsync(Invite(caller, "bob", "call-busy"), fixture.Udp);
        var (invite, proxy) = await callee.ExpectRequestAsync("INVITE");
        await callee.SendAsync(SipPeer.Answer(invite, 486, "Busy Here", "b9"), proxy);
        await caller.ExpectResponseAsync(486, "INVITE");
        var cdr = Assert.Single(await CdrsAsync(fixture));
        Assert.Equal(Tandem.Storage.CdrDisposition.Busy, cdr.Disposition);
        Assert.Equal(486, cdr.FinalStatus);
    }

    [Fact]
    public async Task Local_caller_is_challenged_with_407_when_authentication_is_on()
    {
        await using var fixture = await ServerFixture.StartAsync();
        using var caller = new SipPeer();
        await caller.SendAsync(Invite(caller, "bob", "call-auth", from: "alice"), fixture.Udp);
        var (challenge, _) = await caller.ExpectResponseAsync(407, "INVITE");
        Assert.Contains("Digest realm=\"example.com\"", challenge.GetHeader(HeaderId.ProxyAuthenticate), StringComparison.Ordinal);

        // Answered, the INVITE goes on to bob without the credentials that were meant for us.
        using var bob = new SipPeer();
        fixture.Server.Locations.Set("sip:bob@example.com", [new Tandem.Storage.Binding
        {
            Aor = "sip:bob@example.com", ContactUri = $"sip:bob@{bob.Address}", ExpiresAt = DateTimeOffset.UtcNow.AddHours(1),
            CallId = "b", CSeq = 1, SourceAddress = bob.Address, Transport = "UDP", UpdatedAt = DateTimeOffset.UtcNow,
        }]);
        var answer = ServerFixture.DigestAnswer(challenge.GetHeader(HeaderId.ProxyAuthenticate)!, "INVITE", "sip:bob@example.com");
        await caller.SendAsync(Invite(caller, "bob", "call-auth2", from: "alice").Replace("Max-Forwards", $"Proxy-Authorization: {answer}\r\nMax-Forwards", StringComparison.Ordinal), fixture.Udp);
        var (invite, _) = await bob.ExpectRequestAsync("INVITE");
        Assert.False(invite.HasHeader(HeaderId.ProxyAuthorization));

        // A caller from a domain we do not serve, not a trusted peer, is refused outright.
        await caller.SendAsync(Invite(caller, "bob", "call-foreign").Replace("sip:carol@example.com", "sip:mallory@elsewhere.test", StringComparison.Ordinal), fixture.Udp);
        await caller.ExpectResponseAsync(403, "INVITE");
    }

    [Fact]
    public async Task Unknown_user_unreachable_user_and_exhausted_hops_get_clear_answers()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();

        await caller.SendAsync(Invite(caller, "nobody", "call-5"), fixture.Udp);
        var (notFound, _) = await caller.ExpectResponseAsync(404, "INVITE");
        Assert.Equal("Not Found", notFound.ReasonPhrase);

        // alice exists (the fixture's subscriber) but has no registered contact.
        await caller.SendAsync(Invite(caller, "alice", "call-6"), fixture.Udp);
        await caller.ExpectResponseAsync(480, "INVITE");

        await caller.SendAsync(Invite(caller, "alice", "call-7", maxForwards: 0), fixture.Udp);
        await caller.ExpectResponseAsync(483, "INVITE");
    }

    [Fact]
    public async Task A_strict_router_upstream_is_undone_and_the_last_Route_becomes_the_target()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();
        using var callee = new SipPeer();
        await RegisterAsync(fixture, callee, "bob");

        // RFC 3261 §16.4: the Request-URI is our own address and the real target is the last Route.
        await caller.SendAsync(
            $"INVITE sip:127.0.0.1:{fixture.Udp.Port} SIP/2.0\r\nVia: SIP/2.0/UDP {caller.Address};branch=z9hG4bKstrict;rport\r\n" +
            "Route: <sip:bob@example.com>\r\nFrom: <sip:carol@example.com>;tag=c1\r\nTo: <sip:bob@example.com>\r\n" +
            $"Call-ID: strict-1\r\nCSeq: 1 INVITE\r\nContact: <sip:carol@{caller.Address}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", fixture.Udp);
        var (invite, _) = await callee.ExpectRequestAsync("INVITE");
        Assert.Equal($"sip:bob@{callee.Address}", invite.RequestUriText);
        Assert.False(invite.HasHeader(HeaderId.Route));
    }

    [Fact]
    public async Task A_call_that_changes_transport_is_record_routed_twice()
    {
        await using var fixture = await StartAsync();
        using var caller = new SipPeer();
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(fixture.Tcp);
        var stream = tcp.GetStream();
        var local = (IPEndPoint)tcp.Client.LocalEndPoint!;
        var register =
            $"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{local.Port};branch=z9hG4bKtcpreg\r\n" +
            "From: <sip:bob@example.com>;tag=r\r\nTo: <sip:bob@example.com>\r\nCall-ID: tcp-reg\r\nCSeq: 1 REGISTER\r\n" +
            $"Contact: <sip:bob@127.0.0.1:{local.Port};transport=tcp>\r\nExpires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(register));
        var registered = await ReadMessageAsync(stream);
        Assert.Equal(200, registered.StatusCode);

        await caller.SendAsync(Invite(caller, "bob", "xport-1"), fixture.Udp);
        var invite = await ReadMessageAsync(stream);
        Assert.Equal("INVITE", invite.MethodName);
        var recordRoutes = new List<string>();
        foreach (var value in invite.GetHeaderValues(HeaderId.RecordRoute))
        {
            recordRoutes.Add(value.ToString());
        }

        // The callee-facing (TCP) entry on top, the caller-facing (UDP) one below it (RFC 5658).
        Assert.Equal([$"<sip:127.0.0.1:{fixture.Tcp.Port};transport=tcp;lr>", $"<sip:127.0.0.1:{fixture.Udp.Port};lr>"], recordRoutes);
        Assert.Equal("TCP", invite.TopVia.Transport);
    }

    [Fact]
    public async Task Contacts_behind_NAT_get_OPTIONS_keep_alives_where_they_registered_from()
    {
        await using var fixture = await StartAsync(o => o with { Registrar = o.Registrar with { NatKeepAliveIntervalS = 1 } });
        using var phone = new SipPeer();

        // The Contact names a private address; the REGISTER came from the peer's socket.
        await phone.SendAsync(
            $"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bKnat;rport\r\n" +
            "From: <sip:bob@example.com>;tag=r\r\nTo: <sip:bob@example.com>\r\nCall-ID: nat-reg\r\nCSeq: 1 REGISTER\r\n" +
            "Contact: <sip:bob@10.1.2.3:5060>\r\nExpires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", fixture.Udp);
        await phone.ExpectResponseAsync(200, "REGISTER");
        var (ping, _) = await phone.ExpectRequestAsync("OPTIONS", 4000);
        Assert.Equal("sip:bob@10.1.2.3:5060", ping.RequestUriText);
    }

    private static async Task<SipMessage> ReadMessageAsync(System.Net.Sockets.NetworkStream stream)
    {
        var buffer = new byte[16384];
        var filled = 0;
        using var cts = new CancellationTokenSource(3000);
        while (true)
        {
            var status = SipFraming.TryFrame(buffer.AsSpan(0, filled), 65535, out _, out var length);
            if (status == FrameStatus.Message)
            {
                return SipParser.Parse(buffer.AsSpan(0, length)).Message!;
            }

            if (status == FrameStatus.KeepAlive)
            {
                buffer.AsSpan(length, filled - length).CopyTo(buffer);
                filled -= length;
                continue;
            }

            filled += await stream.ReadAsync(buffer.AsMemory(filled), cts.Token);
        }
    }

    [Fact]
    public async Task A_request_that_comes_back_unchanged_is_a_loop()
    {
        // Listening on the wildcard address, 127.0.0.2 reaches us but is not one of our interface
        // addresses, so a call to sip:bob@127.0.0.2 is sent out to... ourselves, unchanged.
        await using var fixture = await StartAsync(o => o with { Listen = [Tandem.Server.Config.ListenEndpoint.Parse("udp:0.0.0.0:0")] });
        using var caller = new SipPeer();
        var port = fixture.Udp.Port;
        await caller.SendAsync(
            $"INVITE sip:bob@127.0.0.2:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {caller.Address};branch=z9hG4bKloop;rport\r\n" +
            $"From: <sip:carol@example.com>;tag=c1\r\nTo: <sip:bob@127.0.0.2>\r\nCall-ID: loop-1\r\nCSeq: 1 INVITE\r\n" +
            $"Contact: <sip:carol@{caller.Address}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", new IPEndPoint(IPAddress.Loopback, port));
        var (final, _) = await caller.ExpectAsync(m => !m.IsRequest && m.StatusCode >= 300, "a final response", 5000);
        Assert.Equal(482, final.StatusCode);
    }
}
