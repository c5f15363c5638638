using Tandem.Cluster.Membership;

namespace Tandem.Cluster.Tests.Membership;

/// <summary>Failure detection, flap damping, quorum and ownership on a simulated network with a manual clock.</summary>
public sealed class MembershipCoreTests
{
    private static readonly ServiceAddress Vip1 = new("198.18.0.100/24", "br-svc", [new("a"), new("b")]);
    private static readonly ServiceAddress Vip2 = new("198.18.0.101/24", "br-svc", [new("b"), new("a")]);

    private static MemberView Peer(SimulatedCluster c, string at, string peer) => c.View(at).Member(new NodeId(peer))!;

    private static SimulatedCluster Settled(SimulatedCluster cluster)
    {
        cluster.RunMs(500);
        return cluster;
    }

    [Fact]
    public void Members_come_up_and_reach_quorum()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w"));

        foreach (var id in new[] { "a", "b", "w" })
        {
            Assert.True(c.View(id).HasQuorum, id);
            Assert.Equal(3, c.View(id).VotersUp);
            Assert.All(c.View(id).Members, m => Assert.Equal(MemberState.Up, m.State));
        }

        Assert.Equal(MemberRole.Witness, Peer(c, "a", "w").Role);
    }

    [Fact]
    public void A_crashed_peer_is_detected_after_misses_times_interval()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w"));

        c.Crash("b");
        var took = c.RunUntil(() => Peer(c, "a", "b").State == MemberState.Down);

        // 4 × 30 ms after the last heartbeat, which left at most one interval before the crash.
        Assert.InRange(took.TotalMilliseconds, 90, 155);
        var down = Assert.Single(c.Events, e => e.Member == "a" && e.Event.Kind == MembershipEventKind.PeerDown);
        Assert.Contains("no heartbeat on any of 1 link(s) for 120 ms", down.Event.Reason);
        Assert.True(c.View("a").HasQuorum); // a and the witness are 2 of 3
    }

    [Fact]
    public void No_false_detection_while_heartbeats_flow()
    {
        var c = new SimulatedCluster(["a", "b", "c"], witness: "w");

        c.RunMs(20_000);

        Assert.DoesNotContain(c.Events, e => e.Event.Kind is MembershipEventKind.PeerDown or MembershipEventKind.QuorumLost or MembershipEventKind.LinkDown);
        Assert.Equal(4, c.Events.Count(e => e.Member == "a" && e.Event.Kind == MembershipEventKind.PeerUp) + 1);
    }

    [Fact]
    public void A_peer_is_down_only_when_all_links_are_silent()
    {
        var c = Settled(new SimulatedCluster(["a", "b", "c"], links: 2));

        c.Cut("a", "b", link: 0);
        c.RunMs(1000);

        var b = Peer(c, "a", "b");
        Assert.Equal(MemberState.Up, b.State);
        Assert.Equal([false, true], b.LinksUp);
        Assert.Contains(c.Events, e => e.Member == "a" && e.Event is { Kind: MembershipEventKind.LinkDown, Link: 0 } && e.Event.Member == new NodeId("b"));
        Assert.DoesNotContain(c.Events, e => e.Event.Kind == MembershipEventKind.PeerDown);

        c.Cut("a", "b", link: 1);
        c.RunUntil(() => Peer(c, "a", "b").State == MemberState.Down);
        Assert.Contains("any of 2 link(s)", c.Events.Single(e => e.Member == "a" && e.Event.Kind == MembershipEventKind.PeerDown).Event.Reason);
    }

    [Fact]
    public void Quorum_needs_a_strict_majority_of_voters_with_witness()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w"));

        c.Crash("w");
        c.RunMs(500);
        Assert.True(c.View("a").HasQuorum);
        Assert.Equal(2, c.View("a").VotersUp);

        c.Crash("b");
        c.RunUntil(() => !c.View("a").HasQuorum);
        Assert.Equal(1, c.View("a").VotersUp);
        Assert.Contains(c.Events, e => e.Member == "a" && e.Event.Kind == MembershipEventKind.QuorumLost && e.Event.Reason.StartsWith("1 of 3 voters up (a)", StringComparison.Ordinal));
    }

    [Fact]
    public void Quorum_without_witness_in_a_three_node_cluster()
    {
        var c = Settled(new SimulatedCluster(["a", "b", "c"]));

        c.Crash("c");
        c.RunMs(500);
        Assert.True(c.View("a").HasQuorum);

        c.Crash("b");
        c.RunUntil(() => !c.View("a").HasQuorum);
    }

    [Fact]
    public void Two_nodes_without_witness_keep_quorum_alone_only_when_allowed()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], addresses: [Vip1], allowTwoNode: true));
        Assert.True(c.View("a").HasQuorum);
        Assert.Equal(["198.18.0.100/24"], c.Owned("a"));

        c.Crash("a");
        c.RunUntil(() => c.Owned("b").Length == 1);
        Assert.True(c.View("b").HasQuorum);
        Assert.Equal(1, c.View("b").VotersUp);

        var options = new MembershipOptions
        {
            Self = new("a"),
            Peers = [new PeerOptions(new("b"), [new(System.Net.IPAddress.Loopback, 1)])],
            Listen = [new(System.Net.IPAddress.Loopback, 2)],
            Secret = SimulatedCluster.Secret,
        };
        Assert.Contains("witness", Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    [Fact]
    public void A_two_node_cluster_that_is_partitioned_without_witness_has_two_holders_which_is_the_documented_risk()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], addresses: [Vip1], allowTwoNode: true));

        c.Cut("a", "b");
        c.RunMs(1000);

        Assert.Equal(["198.18.0.100/24"], c.Owned("a"));
        Assert.Equal(["198.18.0.100/24"], c.Owned("b"));

        // After the partition heals, the claimant first in the preference list keeps it.
        c.Heal("a", "b");
        c.RunMs(1000);
        Assert.Equal(["198.18.0.100/24"], c.Owned("a"));
        Assert.Empty(c.Owned("b"));
    }

    [Fact]
    public void A_flapping_peer_is_held_down_longer_each_time()
    {
        var c = Settled(new SimulatedCluster(["a", "b", "c"]));

        var holdDowns = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            c.Cut("a", "b");
            c.RunUntil(() => Peer(c, "a", "b").State == MemberState.Down);
            c.Heal("a", "b");
            c.RunUntil(() => Peer(c, "a", "b").State == MemberState.HeldDown);
            holdDowns.Add(c.RunUntil(() => Peer(c, "a", "b").State == MemberState.Up).TotalMilliseconds);
        }

        Assert.InRange(holdDowns[0], 115, 130); // detection time
        Assert.InRange(holdDowns[1], 235, 250); // doubled
        Assert.InRange(holdDowns[2], 475, 490);
        Assert.Contains(c.Events, e => e.Member == "a" && e.Event.Kind == MembershipEventKind.PeerUp && e.Event.Reason.Contains("flap damping", StringComparison.Ordinal));
    }

    [Fact]
    public void Addresses_go_to_the_first_node_of_their_preference_list_and_move_on_a_crash()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2]));
        Assert.Equal(["198.18.0.100/24"], c.Owned("a"));
        Assert.Equal(["198.18.0.101/24"], c.Owned("b"));
        Assert.Empty(c.Owned("w"));

        c.Crash("a");
        var took = c.RunUntil(() => c.Owned("b").Length == 2);

        // Detection, plus at most one interval until the witness also reports a as gone.
        Assert.InRange(took.TotalMilliseconds, 90, 190);
        Assert.Contains(c.Events, e => e.Member == "b" && e.Event.Kind == MembershipEventKind.AddressAcquired && e.Event.Address == Vip1);
    }

    [Fact]
    public void A_graceful_stop_hands_over_without_waiting_for_detection()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2]));

        c.Leave("a");
        Assert.Empty(c.Owned("a"));
        Assert.True(c.View("a").Leaving);
        c.Crash("a"); // the process exits right after
        var took = c.RunUntil(() => c.Owned("b").Length == 2);

        Assert.True(took.TotalMilliseconds <= 5, $"took {took.TotalMilliseconds} ms");
        Assert.Equal(MemberState.Leaving, Peer(c, "b", "a").State);
        Assert.Contains(c.Events, e => e.Member == "b" && e.Event is { Kind: MembershipEventKind.PeerDown, Reason: "handover: announced a graceful stop" });
    }

    [Fact]
    public void A_leaving_node_that_still_reports_an_address_held_is_waited_for()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2]));
        c.Core("a").ReportHeld(1); // the address manager has not removed Vip1 yet

        c.Leave("a");
        c.RunMs(100);
        Assert.Equal(["198.18.0.101/24"], c.Owned("b"));

        c.Core("a").ReportHeld(0);
        c.RunUntil(() => c.Owned("b").Length == 2, limitMs: 100);
    }

    [Fact]
    public void An_unhealthy_node_gives_its_addresses_away()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2]));

        c.SetHealth("a", HealthReport.Failed("OPTIONS to self timed out"));
        c.RunMs(5);
        Assert.Empty(c.Owned("a"));
        c.RunUntil(() => c.Owned("b").Length == 2, limitMs: 100);
        Assert.Contains(c.Events, e => e.Member == "a" && e.Event.Kind == MembershipEventKind.AddressReleased && e.Event.Reason.Contains("OPTIONS to self timed out", StringComparison.Ordinal));

        // Healthy again: the default failback (preempt after 30 s) leaves the address with b for now.
        c.SetHealth("a", HealthReport.Healthy);
        c.RunMs(1000);
        Assert.Empty(c.Owned("a"));
        Assert.Equal(2, c.Owned("b").Length);
        c.RunMs(30_000);
        Assert.Equal(["198.18.0.100/24"], c.Owned("a"));
    }

    [Fact]
    public void A_cut_between_the_nodes_while_the_witness_hears_both_moves_nothing()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2]));

        c.Cut("a", "b");
        c.RunMs(2000);

        Assert.Equal(MemberState.Down, Peer(c, "a", "b").State);
        Assert.True(c.View("a").HasQuorum);
        Assert.True(c.View("b").HasQuorum);
        Assert.Equal(["198.18.0.100/24"], c.Owned("a"));
        Assert.Equal(["198.18.0.101/24"], c.Owned("b"));
    }

    [Fact]
    public void An_isolated_node_releases_and_the_majority_takes_over()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2]));

        c.Isolate("a");
        var released = c.RunUntil(() => c.Owned("a").Length == 0);
        var takeover = released + c.RunUntil(() => c.Owned("b").Length == 2);

        Assert.False(c.View("a").HasQuorum);
        Assert.True(takeover >= released, "the minority lets go no later than the majority takes over");
        c.RunMs(2000);
        Assert.Empty(c.Owned("a"));
    }

    [Fact]
    public void A_restarted_node_waits_to_hear_the_holder_before_claiming()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2], failback: new FailbackOptions { Policy = FailbackPolicy.Sticky }));
        c.Crash("a");
        c.RunUntil(() => c.Owned("b").Length == 2);

        c.Restart("a");
        for (var i = 0; i < 400; i += 5)
        {
            c.RunMs(5);
            Assert.Empty(c.Owned("a")); // never a second holder of Vip1, not even while starting
        }

        Assert.Equal(2, c.Owned("b").Length);
    }

    [Fact]
    public void Preempt_gives_the_address_back_after_the_delay()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2],
            failback: new FailbackOptions { Policy = FailbackPolicy.Preempt, Delay = TimeSpan.FromSeconds(2) }));
        c.Crash("a");
        c.RunUntil(() => c.Owned("b").Length == 2);

        c.Restart("a");
        c.RunMs(1500);
        Assert.Empty(c.Owned("a"));
        var back = c.RunUntil(() => c.Owned("a").Length == 1);

        Assert.Equal(["198.18.0.101/24"], c.Owned("b"));
        Assert.InRange(back.TotalMilliseconds, 400, 1200); // 2 s after a came back up (hold-down included)
    }

    [Fact]
    public void A_replayed_packet_is_dropped()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w"));
        var packet = c.Encode("b", 0);

        Assert.Equal(ReplayVerdict.Accepted, c.DeliverBytes(packet, "a").Verdict);
        Assert.Equal(ReplayVerdict.Replayed, c.DeliverBytes(packet, "a").Verdict);
    }

    [Fact]
    public void A_packet_from_an_earlier_run_is_refused_after_a_restart()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w"));
        var old = c.Encode("b", 0);
        c.RunMs(100);
        c.Restart("b");
        c.RunMs(500);

        Assert.Equal(ReplayVerdict.StaleIncarnation, c.DeliverBytes(old, "a").Verdict);
    }

    [Fact]
    public void A_packet_with_a_bad_hmac_is_dropped_before_anything_else()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w"));
        var packet = c.Encode("b", 0);
        var table = new MemberTable(new MembershipOptions
        {
            Self = new("a"),
            Peers = [new PeerOptions(new("b"), [new(System.Net.IPAddress.Loopback, 1)])],
            Listen = [new(System.Net.IPAddress.Loopback, 2)],
            Secret = SimulatedCluster.Secret,
            Witness = new WitnessOptions(new("w"), new(System.Net.IPAddress.Loopback, 3)),
        });
        var frame = new HeartbeatFrame();

        Assert.Equal(HeartbeatError.None, HeartbeatCodec.Decode(packet, table, SimulatedCluster.Secret, frame));
        Assert.Equal(HeartbeatError.BadHmac, HeartbeatCodec.Decode(packet, table, "another-secret-of-16+"u8.ToArray(), frame));
        packet[30] ^= 1;
        Assert.Equal(HeartbeatError.BadHmac, HeartbeatCodec.Decode(packet, table, SimulatedCluster.Secret, frame));
        Assert.Equal(HeartbeatError.TooShort, HeartbeatCodec.Decode(packet.AsSpan(0, 20), table, SimulatedCluster.Secret, frame));
    }

    [Fact]
    public void The_heartbeat_carries_the_senders_view()
    {
        var c = Settled(new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1, Vip2]));
        var packet = c.Encode("b", 0);
        var table = c.Core("a").Table;
        var frame = new HeartbeatFrame();

        Assert.Equal(HeartbeatError.None, HeartbeatCodec.Decode(packet, table, SimulatedCluster.Secret, frame));
        Assert.Equal(table.IndexOf(new("b")), frame.Sender);
        Assert.True(frame.HasQuorum);
        Assert.False(frame.Leaving);
        Assert.Equal(100, frame.HealthScore);
        Assert.Equal(2UL, frame.Holdings); // Vip2
        Assert.Equal(2, frame.SeenCount); // a and w
        Assert.Equal(new[] { 0, table.IndexOf(new("w")) }.Order(), frame.Seen.Take(2).Order());
        Assert.Equal(table.ConfigDigest, frame.ConfigDigest);
    }
}
