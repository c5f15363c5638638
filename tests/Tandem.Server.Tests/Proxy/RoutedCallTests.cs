using System.Net;
using Tandem.Server.Config;
using Tandem.Server.Tests.Core;
using Tandem.Server.Tests.Routing;

namespace Tandem.Server.Tests.Proxy;

/// <summary>PBX routing carried out by the proxy: forwarding, gateway failover, trusted peers.</summary>
public sealed class RoutedCallTests : IDisposable
{
    private readonly TempDirectory _config = new();

    public void Dispose() => _config.Dispose();

    private async Task<ServerFixture> StartAsync(string routingYaml, bool auth = false)
    {
        var loaded = RoutingTestConfig.Options(_config, "sip:\n  domains: [example.com]\n" + routingYaml);
        return await ServerFixture.StartAsync(o => o with
        {
            Sip = o.Sip with { Domains = ["example.com"] },
            Routing = loaded.Routing,
            Auth = o.Auth with { Enabled = auth },
        });
    }

    private static async Task RegisterAsync(ServerFixture fixture, SipPeer peer, string user)
    {
        await peer.SendAsync(
            $"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {peer.Address};branch=z9hG4bKr{peer.Port};rport\r\n" +
            $"From: <sip:{user}@example.com>;tag=r\r\nTo: <sip:{user}@example.com>\r\nCall-ID: reg-{peer.Port}\r\nCSeq: 1 REGISTER\r\n" +
            $"Contact: <sip:{user}@{peer.Address}>\r\nExpires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", fixture.Udp);
        await peer.ExpectResponseAsync(200, "REGISTER");
    }

    private static string Invite(SipPeer caller, string target, string callId, string from = "sip:dave@example.com")
        => $"INVITE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {caller.Address};branch=z9hG4bKi{callId};rport\r\n" +
           $"From: <{from}>;tag=c1\r\nTo: <{target}>\r\nCall-ID: {callId}\r\nCSeq: 1 INVITE\r\n" +
           $"Contact: <sip:caller@{caller.Address}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    [Fact]
    public async Task Busy_user_forwards_to_the_busy_target()
    {
        await using var fixture = await StartAsync("routing:\n  users:\n    alice@example.com: { forward-busy: carol@example.com }\n");
        using var caller = new SipPeer();
        using var alice = new SipPeer();
        using var carol = new SipPeer();
        await RegisterAsync(fixture, alice, "alice");
        await RegisterAsync(fixture, carol, "carol");

        await caller.SendAsync(Invite(caller, "sip:alice@example.com", "fwd-busy"), fixture.Udp);
        var (invite, proxy) = await alice.ExpectRequestAsync("INVITE");
        await alice.SendAsync(SipPeer.Answer(invite, 486, "Busy Here", "a1"), proxy);
        var (forwarded, proxy2) = await carol.ExpectRequestAsync("INVITE");
        Assert.Equal($"sip:carol@{carol.Address}", forwarded.RequestUriText);
        await carol.SendAsync(SipPeer.Answer(forwarded, 200, "OK", "c9", contact: $"sip:carol@{carol.Address}"), proxy2);
        var (ok, _) = await caller.ExpectResponseAsync(200, "INVITE");
        Assert.Equal("c9", ok.To!.Tag);
    }

    [Fact]
    public async Task Unanswered_user_forwards_after_the_no_answer_timeout()
    {
        await using var fixture = await StartAsync("routing:\n  users:\n    alice@example.com: { forward-no-answer: carol@example.com, no-answer-timeout-s: 1 }\n");
        using var caller = new SipPeer();
        using var alice = new SipPeer();
        using var carol = new SipPeer();
        await RegisterAsync(fixture, alice, "alice");
        await RegisterAsync(fixture, carol, "carol");

        await caller.SendAsync(Invite(caller, "sip:alice@example.com", "fwd-noanswer"), fixture.Udp);
        var (invite, proxy) = await alice.ExpectRequestAsync("INVITE");
        await alice.SendAsync(SipPeer.Answer(invite, 180, "Ringing", "a2"), proxy);
        await caller.ExpectResponseAsync(180, "INVITE");

        var (cancel, cancelFrom) = await alice.ExpectRequestAsync("CANCEL", 3000);
        await alice.SendAsync(SipPeer.Answer(cancel, 200, "OK", "a2"), cancelFrom);
        await alice.SendAsync(SipPeer.Answer(invite, 487, "Request Terminated", "a2"), proxy);
        var (forwarded, proxy2) = await carol.ExpectRequestAsync("INVITE", 3000);
        await carol.SendAsync(SipPeer.Answer(forwarded, 200, "OK", "c2", contact: $"sip:carol@{carol.Address}"), proxy2);
        await caller.ExpectResponseAsync(200, "INVITE");
    }

    [Fact]
    public async Task Outbound_route_fails_over_to_the_second_gateway_with_the_number_rewritten()
    {
        using var silent = new SipPeer();
        using var working = new SipPeer();
        await using var fixture = await StartAsync(
            "routing:\n  gateways:\n" +
            $"    gw1: {{ uri: \"sip:{silent.Address}\", response-timeout-ms: 300 }}\n" +
            $"    gw2: {{ uri: \"sip:{working.Address}\" }}\n" +
            "  outbound-routes:\n    - { name: pstn, pattern: \"_9X.\", gateways: [gw1, gw2], strip: 1 }\n");
        using var caller = new SipPeer();

        await caller.SendAsync(Invite(caller, "sip:90301234567@example.com", "gw-failover"), fixture.Udp);
        var (first, _) = await silent.ExpectRequestAsync("INVITE");
        Assert.StartsWith("sip:0301234567@", first.RequestUriText, StringComparison.Ordinal);
        var (second, proxy) = await working.ExpectRequestAsync("INVITE", 3000);
        Assert.StartsWith("sip:0301234567@", second.RequestUriText, StringComparison.Ordinal);
        await working.SendAsync(SipPeer.Answer(second, 200, "OK", "g2", contact: $"sip:gw@{working.Address}"), proxy);
        await caller.ExpectResponseAsync(200, "INVITE");
    }

    [Fact]
    public async Task Trusted_peer_calls_a_local_user_without_a_challenge()
    {
        await using var fixture = await StartAsync("routing:\n  trusted-peers: [127.0.0.1/32]\n", auth: true);
        using var trunk = new SipPeer();
        using var bob = new SipPeer();

        // Authentication is on: an unauthenticated REGISTER is challenged, so alice has no contact.
        await bob.SendAsync(
            $"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {bob.Address};branch=z9hG4bKrb;rport\r\n" +
            "From: <sip:alice@example.com>;tag=r\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg-trusted\r\nCSeq: 1 REGISTER\r\n" +
            $"Contact: <sip:alice@{bob.Address}>\r\nExpires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", fixture.Udp);
        await bob.ExpectResponseAsync(401, "REGISTER");

        // The trunk's INVITE to a user with no contact proves admission without a challenge: 480, not 407.
        await trunk.SendAsync(Invite(trunk, "sip:alice@example.com", "trusted-1", from: "sip:+4930999@carrier.example.net"), fixture.Udp);
        var (final, _) = await trunk.ExpectAsync(m => !m.IsRequest && m.StatusCode >= 300, "a final response");
        Assert.Equal(480, final.StatusCode);
    }
}
