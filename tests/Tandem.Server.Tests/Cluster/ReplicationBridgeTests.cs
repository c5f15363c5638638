using System.Net;
using System.Net.Sockets;
using Tandem.Cluster;
using Tandem.Server.Cluster;
using Tandem.Server.Config;
using Tandem.Server.Tests.Core;
using Tandem.Sip.Messages;

namespace Tandem.Server.Tests.Cluster;

/// <summary>Two in-process servers replicating registrations over loopback.</summary>
public sealed class ReplicationBridgeTests
{
    private const string Aor = "sip:alice@example.com";
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(10);

    private static int FreeTcpPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>Starts nodes a and b (b first); no service addresses, so no VIP handling.</summary>
    private static async Task<(ServerFixture A, ServerFixture B)> StartPairAsync(ReplicationMode mode, int syncTimeoutMs = 1000)
    {
        var portA = FreeTcpPort();
        var portB = FreeTcpPort();
        Func<TandemOptions, TandemOptions> Configure(string self, int listen, string peer, int peerPort) => o => o with
        {
            Auth = o.Auth with { Enabled = false },
            Cluster = new ClusterOptions
            {
                NodeId = self,
                Secret = "0123456789abcdef-cluster-test",
                Listen = [new IPEndPoint(IPAddress.Loopback, 0)],
                AllowTwoNodeWithoutWitness = true,
                Peers = [new ClusterPeer(peer, [new IPEndPoint(IPAddress.Loopback, 0)]) { Replication = new IPEndPoint(IPAddress.Loopback, peerPort) }],
                ReplicationListen = new IPEndPoint(IPAddress.Loopback, listen),
                ReplicationMode = mode,
                ReplicationSyncTimeoutMs = syncTimeoutMs,
            },
        };

        var b = await ServerFixture.StartAsync(Configure("b", portB, "a", portA));
        var a = await ServerFixture.StartAsync(Configure("a", portA, "b", portB));
        await WaitUntilAsync(() => a.Server.Replication!.Node.GetPeerStatus(new NodeId("b")).OutboundConnected
            && b.Server.Replication!.Node.GetPeerStatus(new NodeId("a")).OutboundConnected);
        return (a, b);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Bounded);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(20);
        }
    }

    private static async Task<SipMessage> RegisterAsync(ServerFixture server, string branch, uint cseq, int expires, string contactHost = "127.0.0.1:5999")
    {
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var request = ServerFixture.Request("REGISTER", branch, callId: "reg-1", cseq: cseq,
            extra: $"Contact: <sip:alice@{contactHost}>;expires={expires}\r\n");
        var reply = await ServerFixture.ExchangeAsync(client, server.Udp, request, timeoutMs: 5000);
        Assert.NotNull(reply);
        return reply;
    }

    [Fact]
    public async Task Register_on_a_reaches_b_and_unregister_replicates()
    {
        var (a, b) = await StartPairAsync(ReplicationMode.Async);
        await using var _ = b;
        await using var __ = a;

        Assert.Equal(200, (await RegisterAsync(a, "r1", 1, 600)).StatusCode);
        await WaitUntilAsync(() => b.Server.Locations.Get(Aor).Count == 1);
        var onB = Assert.Single(b.Server.Locations.Get(Aor));
        Assert.Equal("sip:alice@127.0.0.1:5999", onB.ContactUri);
        Assert.Equal(a.Server.Locations.Get(Aor)[0], onB);

        Assert.Equal(200, (await RegisterAsync(a, "r2", 2, 0)).StatusCode);
        await WaitUntilAsync(() => b.Server.Locations.Get(Aor).Count == 0);
        Assert.Empty(a.Server.Locations.Get(Aor));
        await WaitUntilAsync(() => a.Server.Replication!.Node.IsConverged(new NodeId("b")));
    }

    [Fact]
    public async Task Sync_mode_answers_after_the_peer_acked_and_counts_degraded_when_it_is_gone()
    {
        var (a, b) = await StartPairAsync(ReplicationMode.Sync);
        await using var _ = b;
        await using var __ = a;

        Assert.Equal(200, (await RegisterAsync(a, "s1", 1, 600)).StatusCode);
        // The 200 OK came after b applied the binding to its replicated store.
        Assert.Equal(1, a.Server.Replication!.RegistersAcknowledged);
        Assert.NotNull(b.Server.Replication!.Node.Store.Get(BindingCodec.Kind, BindingCodec.Key(Aor, "sip:alice@127.0.0.1:5999")));
        await WaitUntilAsync(() => b.Server.Locations.Get(Aor).Count == 1);

        await b.StopAsync();
        await WaitUntilAsync(() => !a.Server.Replication.Node.GetPeerStatus(new NodeId("b")).OutboundConnected);

        Assert.Equal(200, (await RegisterAsync(a, "s2", 2, 600, "127.0.0.1:6001")).StatusCode);
        Assert.Equal(1, a.Server.Replication.RegistersDegraded);
        Assert.Equal(1, a.Server.Replication.RegistersAcknowledged);
        Assert.Equal(2, a.Server.Locations.Get(Aor).Count);
    }

    [Fact]
    public async Task Restarted_b_catches_up_and_digests_converge()
    {
        var (a, b) = await StartPairAsync(ReplicationMode.Async);
        await using var _ = b;
        await using var __ = a;

        Assert.Equal(200, (await RegisterAsync(a, "c1", 1, 600)).StatusCode);
        await WaitUntilAsync(() => b.Server.Locations.Get(Aor).Count == 1);

        await b.StopAsync();
        // Changes b misses: a second contact, and the first one removed.
        Assert.Equal(200, (await RegisterAsync(a, "c2", 2, 600, "127.0.0.1:6002")).StatusCode);
        using (var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            var remove = ServerFixture.Request("REGISTER", "c3", callId: "reg-1", cseq: 3, extra: "Contact: <sip:alice@127.0.0.1:5999>;expires=0\r\n");
            Assert.Equal(200, (await ServerFixture.ExchangeAsync(client, a.Udp, remove, timeoutMs: 5000))!.StatusCode);
        }

        await b.RestartAsync();
        // Straight after the restart b has the binding it persisted; then it catches up.
        await WaitUntilAsync(() => b.Server.Locations.Get(Aor) is [{ ContactUri: "sip:alice@127.0.0.1:6002" }]);
        await WaitUntilAsync(() => a.Server.Replication!.Node.IsConverged(new NodeId("b")) && b.Server.Replication!.Node.IsConverged(new NodeId("a")));
        Assert.Equal(a.Server.Replication!.Node.Store.StateDigest(), b.Server.Replication!.Node.Store.StateDigest());

        // And what b learnt survives a restart of b alone (replicated table and binding store).
        await a.StopAsync();
        await b.RestartAsync();
        Assert.Equal("sip:alice@127.0.0.1:6002", Assert.Single(b.Server.Locations.Get(Aor)).ContactUri);
    }

    [Fact]
    public async Task A_call_on_a_is_known_to_b_and_its_cdr_reaches_b()
    {
        var (a, b) = await StartPairAsync(ReplicationMode.Async);
        await using var _ = b;
        await using var __ = a;
        var callsA = a.Server.Replication!.Calls!;
        var callsB = b.Server.Replication!.Calls!;
        var t0 = DateTimeOffset.UtcNow;

        callsA.CallStarted("call-x", "ft", "sip:alice@example.com", "sip:bob@example.com", t0);
        callsA.CallAnswered("call-x", "ft", "tt", t0.AddSeconds(1));
        await WaitUntilAsync(() => callsB.Find("call-x", "ft") is { State: Tandem.Server.Calls.DialogState.Confirmed });
        var id = callsB.Find("call-x", "ft")!.Id;

        callsA.CallEnded("call-x", "ft", "tt", 200, t0.AddSeconds(5));
        await WaitUntilAsync(() => callsB.Find("call-x", "ft") is null);

        await b.StopAsync();
        await using var storage = Tandem.Storage.StorageFactory.Open(b.DataDir.Path, Tandem.Storage.StorageMode.WriteThrough);
        var cdr = Assert.Single(await storage.Cdrs.ListAsync(new Tandem.Storage.CdrQuery()));
        Assert.Equal(id, cdr.Id);
        Assert.Equal(TimeSpan.FromSeconds(4), cdr.Duration);
    }

    [Fact]
    public async Task Sync_mode_answers_after_the_timeout_when_the_peer_is_slow_to_ack()
    {
        var (a, b) = await StartPairAsync(ReplicationMode.Sync, syncTimeoutMs: 200);
        await using var _ = b;
        await using var __ = a;

        // b applies (and so acks) a record only after 1 s: the handler runs under b's store lock.
        using var slow = new ManualResetEventSlim();
        b.Server.Replication!.Node.Store.Changed += change =>
        {
            if (!change.IsLocal)
            {
                slow.Wait(TimeSpan.FromSeconds(1));
            }
        };

        var started = DateTime.UtcNow;
        Assert.Equal(200, (await RegisterAsync(a, "t1", 1, 600)).StatusCode);
        var took = DateTime.UtcNow - started;

        Assert.Equal(1, a.Server.Replication!.RegistersTimedOut);
        Assert.Equal(0, a.Server.Replication.RegistersAcknowledged);
        Assert.True(took >= TimeSpan.FromMilliseconds(150), $"answered after {took}");
        // Still delivered later.
        await WaitUntilAsync(() => b.Server.Locations.Get(Aor).Count == 1);
    }
}
