using System.Net;
using System.Net.Sockets;
using Tandem.Cluster.Membership;

namespace Tandem.Cluster.Tests.Membership;

/// <summary>
/// Real UDP on loopback: each member gets its own 127.x.y.z addresses (one per link), so members
/// and links are told apart by address. Bounds are generous: the machine is shared.
/// </summary>
public sealed class MembershipServiceTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private static readonly ServiceAddress Vip1 = new("198.18.0.100/24", "lo", [new("a"), new("b")]);

    private readonly List<IDisposable> _disposables = [];
    private readonly int _net = Random.Shared.Next(16, 250);
    private readonly int _port = Random.Shared.Next(20_000, 60_000);

    public void Dispose()
    {
        foreach (var d in _disposables)
        {
            d.Dispose();
        }
    }

    private IPEndPoint Address(int member, int link) => new(IPAddress.Parse($"127.{_net}.{link + 1}.{member + 1}"), _port);

    private Dictionary<string, MembershipService> StartCluster(string[] nodes, string? witness, int links, bool allowTwoNode = false, IHealthProbe? probe = null)
    {
        var all = witness is null ? nodes : [.. nodes, witness];
        var index = all.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        var services = new Dictionary<string, MembershipService>();
        foreach (var id in all)
        {
            var isWitness = id == witness;
            var options = new MembershipOptions
            {
                Self = new NodeId(id),
                Peers = [.. nodes.Where(n => n != id).Select(n => new PeerOptions(new NodeId(n), [.. Enumerable.Range(0, links).Select(l => Address(index[n], l))]))],
                Listen = isWitness ? [Address(index[id], 0)] : [.. Enumerable.Range(0, links).Select(l => Address(index[id], l))],
                Secret = SimulatedCluster.Secret,
                Witness = witness is null ? null : new WitnessOptions(new NodeId(witness), Address(index[witness], 0)),
                AllowTwoNodeWithoutWitness = allowTwoNode,
                ServiceAddresses = [Vip1],
            };
            if (isWitness)
            {
                var witnessService = new WitnessService(options);
                _disposables.Add(witnessService);
                services[id] = witnessService.Membership;
                continue;
            }

            var service = new MembershipService(options, healthProbe: id == "a" ? probe : null);
            _disposables.Add(service);
            services[id] = service;
        }

        foreach (var service in services.Values)
        {
            service.Start();
        }

        return services;
    }

    private static async Task WaitFor(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for: {what}");
            }

            await Task.Delay(5);
        }
    }

    private static bool AllUp(MembershipService s) => s.View.Members.All(m => m.State == MemberState.Up);

    [Fact]
    public async Task Three_members_see_each_other_and_detect_a_crash()
    {
        var c = StartCluster(["a", "b"], "w", links: 1);
        await WaitFor(() => c.Values.All(AllUp) && c["a"].View.HasQuorum, "everyone up");
        await WaitFor(() => c["a"].View.Owns(Vip1.Address), "a holds its address");

        var events = new List<MembershipEvent>();
        c["b"].Changed += e => { lock (events) { events.Add(e); } };
        c["a"].Dispose(); // crash: no leave announcement
        await WaitFor(() => c["b"].View.Member(new("a"))!.State == MemberState.Down, "b detects a");
        await WaitFor(() => c["b"].View.Owns(Vip1.Address), "b takes over");

        Assert.True(c["b"].View.HasQuorum);
        lock (events)
        {
            Assert.Contains(events, e => e.Kind == MembershipEventKind.PeerDown && e.Member == new NodeId("a"));
            Assert.Contains(events, e => e.Kind == MembershipEventKind.AddressAcquired && e.Address == Vip1);
        }
    }

    [Fact]
    public async Task Silencing_one_of_two_links_keeps_the_peer_up()
    {
        var c = StartCluster(["a", "b", "c"], null, links: 2);
        await WaitFor(() => c.Values.All(AllUp), "everyone up");

        c["b"].SetLinkDropped(0, true);
        await WaitFor(() => c["a"].View.Member(new("b"))!.LinksUp[0] == false, "link 0 to b down");
        await Task.Delay(300);

        Assert.Equal(MemberState.Up, c["a"].View.Member(new("b"))!.State);
        Assert.True(c["a"].View.Member(new("b"))!.LinksUp[1]);

        c["b"].SetLinkDropped(1, true);
        await WaitFor(() => c["a"].View.Member(new("b"))!.State == MemberState.Down, "b down once both links are silent");
    }

    [Fact]
    public async Task A_hung_member_that_stops_sending_is_detected()
    {
        var c = StartCluster(["a", "b", "c"], null, links: 1);
        await WaitFor(() => c.Values.All(AllUp), "everyone up");

        c["c"].SuspendSending(true);
        await WaitFor(() => c["a"].View.Member(new("c"))!.State == MemberState.Down && c["b"].View.Member(new("c"))!.State == MemberState.Down, "c detected");

        Assert.True(c["a"].View.HasQuorum);
        Assert.Equal(MemberState.Up, c["a"].View.Member(new("b"))!.State);
    }

    [Fact]
    public async Task Graceful_leave_hands_over_and_the_peer_marks_it_leaving()
    {
        var c = StartCluster(["a", "b"], "w", links: 1);
        await WaitFor(() => c["a"].View.Owns(Vip1.Address) && c["b"].View.HasQuorum, "a holds its address");

        await c["a"].LeaveAsync();
        await WaitFor(() => c["b"].View.Owns(Vip1.Address), "b takes over");

        Assert.Equal(MemberState.Leaving, c["b"].View.Member(new("a"))!.State);
        Assert.False(c["a"].View.Owns(Vip1.Address));
    }

    [Fact]
    public async Task Packets_with_a_wrong_secret_or_replayed_are_dropped()
    {
        var c = StartCluster(["a", "b"], null, links: 1, allowTwoNode: true);
        await WaitFor(() => c.Values.All(AllUp), "both up");

        // Capture one of b's real heartbeats by listening on a's address? Simpler: forge with the codec.
        var table = new MemberTable(new MembershipOptions
        {
            Self = new("b"),
            Peers = [new PeerOptions(new("a"), [Address(0, 0)])],
            Listen = [Address(1, 0)],
            Secret = SimulatedCluster.Secret,
            AllowTwoNodeWithoutWitness = true,
        });
        var frame = new HeartbeatFrame { Sender = 0, Incarnation = 42, Sequence = 1, SentAtUnixMs = 1, HealthScore = 100 };
        var buffer = new byte[HeartbeatCodec.MaxSize];
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var target = c["a"].LocalEndPoints[0];

        var dropped = c["a"].Dropped;
        var length = HeartbeatCodec.Encode(frame, table, "wrong-secret-0123456789"u8.ToArray(), buffer);
        sender.SendTo(buffer.AsSpan(0, length), target);
        await WaitFor(() => c["a"].Dropped == dropped + 1, "bad HMAC dropped");

        // A valid packet from a stale incarnation (sent-at in 1970) of b: refused as a replay of an earlier run.
        length = HeartbeatCodec.Encode(frame, table, SimulatedCluster.Secret, buffer);
        sender.SendTo(buffer.AsSpan(0, length), target);
        await WaitFor(() => c["a"].Dropped == dropped + 2, "stale incarnation dropped");
        Assert.Equal(MemberState.Up, c["a"].View.Member(new("b"))!.State);
    }

    [Fact]
    public async Task Without_a_majority_a_node_holds_nothing()
    {
        var c = StartCluster(["a", "b"], "w", links: 1);
        await WaitFor(() => c["a"].View.Owns(Vip1.Address), "a holds its address");

        c["b"].Dispose();
        c["w"].Dispose();
        await WaitFor(() => !c["a"].View.HasQuorum, "quorum lost");

        Assert.Empty(c["a"].View.Owned);
    }

    [Fact]
    public async Task A_failing_health_probe_gives_the_address_away()
    {
        var probe = new SwitchProbe();
        var c = StartCluster(["a", "b"], "w", links: 1, probe: probe);
        await WaitFor(() => c["a"].View.Owns(Vip1.Address), "a holds its address");

        probe.Healthy = false;
        await WaitFor(() => !c["a"].View.Healthy && c["b"].View.Owns(Vip1.Address), "b takes over from the sick node");

        Assert.Empty(c["a"].View.Owned);
        Assert.False(c["b"].View.Member(new("a"))!.IsHealthy);
    }

    [Fact]
    public async Task The_witness_service_votes()
    {
        var c = StartCluster(["a", "b"], "w", links: 1);
        await WaitFor(() => c.Values.All(AllUp), "everyone up");

        Assert.Equal(MemberRole.Witness, c["a"].View.Member(new("w"))!.Role);
        Assert.Equal(3, c["a"].View.VotersUp);
        Assert.Empty(c["w"].View.Owned);
        Assert.Throws<ArgumentException>(() => new WitnessService(new MembershipOptions
        {
            Self = new("a"),
            Peers = [new PeerOptions(new("b"), [Address(1, 0)])],
            Listen = [Address(0, 0)],
            Secret = SimulatedCluster.Secret,
            Witness = new WitnessOptions(new("w"), Address(2, 0)),
        }));
    }

    private sealed class SwitchProbe : IHealthProbe
    {
        public volatile bool Healthy = true;

        public ValueTask<HealthReport> CheckAsync(CancellationToken cancellationToken) =>
            ValueTask.FromResult(Healthy ? HealthReport.Healthy : HealthReport.Failed("OPTIONS through own stack failed"));
    }
}
