using Tandem.Server.Routing;

namespace Tandem.Server.Tests.Routing;

public sealed class PbxRoutePlannerTests : IDisposable
{
    private const StageOutcome NoAnswerOrUnavailable = StageOutcome.NoAnswer | StageOutcome.Unavailable;

    private static readonly HashSet<string> Subscribers =
        ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com", "voicemail@example.com", "200@example.com"];

    private readonly TempDirectory _dir = new();
    private readonly PbxRoutePlanner _planner;

    public PbxRoutePlannerTests()
    {
        _planner = Planner(RoutingTestConfig.Pbx);
    }

    public void Dispose() => _dir.Dispose();

    private PbxRoutePlanner Planner(string yaml, ISet<string>? subscribers = null)
    {
        var known = subscribers ?? Subscribers;
        return new PbxRoutePlanner(RoutingTestConfig.Options(_dir, yaml), (user, domain) => known.Contains($"{user}@{domain}"));
    }

    /// <summary>An INVITE from authenticated local user carol@example.com.</summary>
    private static CallContext FromLocalUser(string user, string domain = "example.com") =>
        new("carol", "example.com", false, $"sip:{user}@{domain}", user, domain, domain == "example.com");

    private static CallContext FromTrustedPeer(string user, string domain = "example.com") =>
        new(null, "carrier.example.net", true, $"sip:{user}@{domain}", user, domain, domain == "example.com");

    private static string Describe(RouteTarget target) => target switch
    {
        UserTarget u => "user " + u.Aor,
        UriTarget u => "uri " + u.Uri,
        _ => throw new InvalidOperationException(),
    };

    private static List<string> Targets(RouteStage stage) => [.. stage.Targets.Select(Describe)];

    [Fact]
    public void Unknown_local_user_is_404()
    {
        var plan = _planner.Plan(FromLocalUser("nobody"));

        Assert.True(plan.IsRejection);
        Assert.Equal((404, "Not Found"), (plan.RejectStatus, plan.RejectReason));
        Assert.True(_planner.Plan(FromLocalUser("")).IsRejection);
    }

    [Fact]
    public void Subscriber_without_forwarding_rings_its_contacts_in_one_stage()
    {
        var plan = _planner.Plan(FromLocalUser("voicemail"));

        var stage = Assert.Single(plan.Stages);
        Assert.False(plan.IsRejection);
        Assert.Equal(["user sip:voicemail@example.com"], Targets(stage));
        Assert.Equal((null, null, StageOutcome.None), (stage.RingTimeout, stage.ResponseTimeout, stage.ContinueOn));
        Assert.Empty(stage.Jumps);
    }

    [Fact]
    public void Simultaneous_ring_group_is_one_stage_with_every_member()
    {
        var plan = _planner.Plan(FromLocalUser("sales"));

        var stage = Assert.Single(plan.Stages);
        Assert.Equal(["user sip:alice@example.com", "user sip:bob@example.com", "uri sip:partner@other.example.net"], Targets(stage));
        Assert.Equal(TimeSpan.FromSeconds(30), stage.RingTimeout);
        Assert.Equal(StageOutcome.None, stage.ContinueOn);
        Assert.Same(plan, _planner.Plan(FromTrustedPeer("sales"))); // built once at load
    }

    [Fact]
    public void Sequential_ring_group_is_one_stage_per_member_continuing_on_anything()
    {
        var plan = _planner.Plan(FromLocalUser("support"));

        Assert.Equal([["user sip:carol@example.com"], ["user sip:dave@example.com"]], plan.Stages.Select(Targets));
        Assert.All(plan.Stages, s => Assert.Equal((TimeSpan.FromSeconds(15), StageOutcome.Any), (s.RingTimeout!.Value, s.ContinueOn)));
    }

    [Fact]
    public void Forward_always_skips_the_user_and_routes_the_target_as_if_dialled()
    {
        var plan = _planner.Plan(FromLocalUser("bob"));

        // bob → carol (always); carol's own no-answer forward to voicemail applies.
        Assert.Equal([["user sip:carol@example.com"], ["user sip:voicemail@example.com"]], plan.Stages.Select(Targets));
        Assert.Equal(TimeSpan.FromSeconds(20), plan.Stages[0].RingTimeout);
        Assert.Equal(NoAnswerOrUnavailable, plan.Stages[0].ContinueOn);
    }

    [Fact]
    public void Forward_busy_only_continues_on_busy_and_rings_until_timer_c()
    {
        var plan = _planner.Plan(FromLocalUser("erin"));

        Assert.Equal([["user sip:erin@example.com"], ["uri sip:erin@mobile.example.net"]], plan.Stages.Select(Targets));
        Assert.Equal((null, StageOutcome.Busy), (plan.Stages[0].RingTimeout, plan.Stages[0].ContinueOn));
    }

    [Fact]
    public void Forward_no_answer_sets_the_ring_timeout_and_also_takes_unreachable()
    {
        var plan = _planner.Plan(FromLocalUser("carol"));

        Assert.Equal(2, plan.Stages.Count);
        Assert.Equal(TimeSpan.FromSeconds(20), plan.Stages[0].RingTimeout);
        Assert.Equal(StageOutcome.NoAnswer | StageOutcome.Unavailable, plan.Stages[0].ContinueOn);
        Assert.Equal(StageOutcome.None, plan.Stages[1].ContinueOn);
    }

    [Fact]
    public void Same_target_for_busy_and_no_answer_is_one_linear_plan()
    {
        var plan = _planner.Plan(FromLocalUser("dave"));

        Assert.Equal([["user sip:dave@example.com"], ["user sip:voicemail@example.com"]], plan.Stages.Select(Targets));
        Assert.Equal(StageOutcome.Busy | NoAnswerOrUnavailable, plan.Stages[0].ContinueOn);
        Assert.Empty(plan.Stages[0].Jumps);
    }

    [Fact]
    public void Different_busy_and_no_answer_targets_use_a_jump()
    {
        var plan = _planner.Plan(FromLocalUser("alice"));

        Assert.Equal(
            [
                ["user sip:alice@example.com"],
                ["user sip:200@example.com"],
                ["uri sip:+4917012345@gw1.example.net;transport=udp"],
                ["uri sip:+4917012345@203.0.113.10:5080"],
            ],
            plan.Stages.Select(Targets));
        var first = plan.Stages[0];
        Assert.Equal((TimeSpan.FromSeconds(15), StageOutcome.Busy | NoAnswerOrUnavailable), (first.RingTimeout!.Value, first.ContinueOn));
        Assert.Equal([new StageJump(NoAnswerOrUnavailable, 2)], first.Jumps);
        Assert.Equal(StageOutcome.None, plan.Stages[1].ContinueOn); // the busy target does not run into the no-answer one
        Assert.Equal(StageOutcome.Failure, plan.Stages[2].ContinueOn);
    }

    [Fact]
    public void Number_dialled_to_the_own_domain_takes_the_outbound_route_with_strip_and_prepend()
    {
        var plan = _planner.Plan(FromLocalUser("030123456"));

        var stage = Assert.Single(plan.Stages);
        Assert.Equal(["uri sip:+4930123456@gw1.example.net;transport=udp"], Targets(stage));
        Assert.Equal((TimeSpan.FromMilliseconds(1500), StageOutcome.Failure), (stage.ResponseTimeout!.Value, stage.ContinueOn));
        Assert.Null(stage.RingTimeout);
    }

    [Fact]
    public void Gateways_of_a_route_are_failover_stages_in_order_and_the_first_matching_route_wins()
    {
        // "+4930123" matches both "_+X." and the later, more specific "_+49X.": list order decides.
        var plan = _planner.Plan(FromLocalUser("+4930123", "carrier.example"));

        Assert.Equal([["uri sip:+4930123@gw1.example.net;transport=udp"], ["uri sip:+4930123@203.0.113.10:5080"]], plan.Stages.Select(Targets));
        Assert.Equal([TimeSpan.FromMilliseconds(1500), TimeSpan.FromMilliseconds(2000)], plan.Stages.Select(s => s.ResponseTimeout!.Value));
        Assert.All(plan.Stages, s => Assert.Equal(StageOutcome.Failure, s.ContinueOn));
    }

    [Fact]
    public void Local_user_calling_another_domain_is_relayed_to_the_uri()
    {
        var plan = _planner.Plan(FromLocalUser("bob", "partner.example.org"));

        Assert.Equal(["uri sip:bob@partner.example.org"], Targets(Assert.Single(plan.Stages)));
    }

    [Fact]
    public void Nobody_but_local_users_may_relay()
    {
        var fromPeer = _planner.Plan(FromTrustedPeer("bob", "partner.example.org"));
        var anonymous = _planner.Plan(new CallContext(null, "evil.example", false, "sip:+4930123@partner.example.org", "+4930123", "partner.example.org", false));

        Assert.Equal((403, "Relaying denied"), (fromPeer.RejectStatus, fromPeer.RejectReason));
        Assert.Equal((403, "Relaying denied"), (anonymous.RejectStatus, anonymous.RejectReason));
    }

    [Fact]
    public void Trusted_peer_reaches_local_users_with_their_forwarding()
    {
        var fromPeer = _planner.Plan(FromTrustedPeer("alice"));

        Assert.Equal(_planner.Plan(FromLocalUser("alice")).Stages.Select(Targets), fromPeer.Stages.Select(Targets));
        // The configured forward may use the international route even though the peer itself may not.
        Assert.Equal("uri sip:+4917012345@gw1.example.net;transport=udp", Targets(fromPeer.Stages[2])[0]);
        Assert.Equal(404, _planner.Plan(FromTrustedPeer("+4917012345")).RejectStatus);
    }

    [Fact]
    public void Trusted_peer_uses_only_routes_that_allow_it()
    {
        var toll = _planner.Plan(FromTrustedPeer("030123456"));
        var emergency = _planner.Plan(FromTrustedPeer("112"));

        Assert.Equal(404, toll.RejectStatus);
        Assert.Equal([["uri sip:112@203.0.113.10:5080"], ["uri sip:112@gw1.example.net;transport=udp"]], emergency.Stages.Select(Targets));
    }

    [Fact]
    public void Local_users_win_over_dial_patterns_and_numbers_are_escaped()
    {
        var planner = Planner("""
            routing:
              gateways:
                gw: { uri: "sips:gw.example.net" }
              outbound-routes:
                - { name: all, pattern: "_X!", gateways: [gw] }
            """);

        Assert.Equal(["user sip:200@example.com"], Targets(Assert.Single(planner.Plan(FromLocalUser("200")).Stages)));
        Assert.Equal(["uri sips:201@gw.example.net"], Targets(Assert.Single(planner.Plan(FromLocalUser("201")).Stages)));
        Assert.Equal(["uri sips:12%23@gw.example.net"], Targets(Assert.Single(planner.Plan(FromLocalUser("12#")).Stages)));
    }

    [Fact]
    public void Forward_chains_stop_after_the_hop_limit()
    {
        // u0 → u1 → ... → u9 on no answer: each hop adds one stage until the limit.
        var users = string.Join("\n", Enumerable.Range(0, 9).Select(i => $"    u{i}@example.com: {{ forward-no-answer: u{i + 1} }}"));
        var planner = Planner("routing:\n  users:\n" + users + "\n", new HashSet<string>());

        var plan = planner.Plan(FromLocalUser("u0"));

        Assert.Equal(PbxRoutePlanner.MaxForwardHops + 1, plan.Stages.Count);
        Assert.Equal($"user sip:u{PbxRoutePlanner.MaxForwardHops}@example.com", Targets(plan.Stages[^1])[0]);
        Assert.Equal(StageOutcome.None, plan.Stages[^1].ContinueOn);
    }

    [Fact]
    public void Forward_to_a_ring_group_expands_the_group()
    {
        var planner = Planner("""
            routing:
              users:
                frank@example.com: { forward-no-answer: support }
              ring-groups:
                support@example.com: { strategy: sequential, members: [carol, dave] }
            """);

        var plan = planner.Plan(FromLocalUser("frank"));

        Assert.Equal([["user sip:frank@example.com"], ["user sip:carol@example.com"], ["user sip:dave@example.com"]], plan.Stages.Select(Targets));
        Assert.Equal(StageOutcome.Any, plan.Stages[1].ContinueOn);
    }

    [Fact]
    public void A_busy_block_that_could_continue_is_closed_before_the_no_answer_block()
    {
        var planner = Planner("""
            routing:
              users:
                frank@example.com: { forward-busy: support, forward-no-answer: voicemail }
              ring-groups:
                support@example.com: { strategy: sequential, members: [carol, dave] }
            """);

        var plan = planner.Plan(FromLocalUser("frank"));

        Assert.Equal(
            [["user sip:frank@example.com"], ["user sip:carol@example.com"], ["user sip:dave@example.com"], ["user sip:voicemail@example.com"]],
            plan.Stages.Select(Targets));
        Assert.Equal([new StageJump(NoAnswerOrUnavailable, 3)], plan.Stages[0].Jumps);
        Assert.Equal(StageOutcome.Any, plan.Stages[1].ContinueOn);
        Assert.Equal(StageOutcome.None, plan.Stages[2].ContinueOn); // dave not answering must not reach voicemail
        Assert.Equal(StageOutcome.Any, planner.Plan(FromLocalUser("support")).Stages[1].ContinueOn); // the cached group plan is untouched
    }
}
