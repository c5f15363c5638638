using Tandem.Cluster.Membership;

namespace Tandem.Cluster.Tests.Membership;

/// <summary>The ownership function, as tables: who holds what given what a node knows.</summary>
public sealed class OwnershipTests
{
    private static readonly ServiceAddress[] Addresses =
    [
        new("198.18.0.100/24", "br-svc", [new("a"), new("b"), new("c")]),
        new("198.18.0.101/24", "br-svc", [new("b"), new("c"), new("a")]),
        new("198.18.0.102/24", null, [new("c")]),
    ];

    private static readonly TimeSpan Now = TimeSpan.FromSeconds(100);

    private static OwnershipMember M(bool eligible = true, ulong claims = 0, double eligibleForS = 1000, bool known = true) =>
        new(known, eligible, Now - TimeSpan.FromSeconds(eligibleForS), claims);

    private static ulong Decide(string self, Dictionary<string, OwnershipMember> members, FailbackPolicy policy = FailbackPolicy.Preempt, double delayS = 30) =>
        Ownership.Decide(new OwnershipInput
        {
            Self = new NodeId(self),
            Members = members.ToDictionary(kv => new NodeId(kv.Key), kv => kv.Value),
            Addresses = Addresses,
            Failback = new FailbackOptions { Policy = policy, Delay = TimeSpan.FromSeconds(delayS) },
            Now = Now,
        });

    /// <summary>Every node decides on the same knowledge; the results never overlap and cover what can be held.</summary>
    private static Dictionary<string, ulong> DecideAll(Dictionary<string, OwnershipMember> members, FailbackPolicy policy = FailbackPolicy.Preempt, double delayS = 30)
    {
        var result = members.Keys.ToDictionary(id => id, id => Decide(id, members, policy, delayS));
        var all = result.Values.ToList();
        for (var i = 0; i < all.Count; i++)
        {
            for (var j = i + 1; j < all.Count; j++)
            {
                Assert.Equal(0UL, all[i] & all[j]);
            }
        }

        return result;
    }

    [Fact]
    public void Fresh_cluster_follows_the_preference_lists()
    {
        var owned = DecideAll(new() { ["a"] = M(), ["b"] = M(), ["c"] = M() });

        Assert.Equal(0b001UL, owned["a"]);
        Assert.Equal(0b010UL, owned["b"]);
        Assert.Equal(0b100UL, owned["c"]);
    }

    [Theory]
    // eligible a b c       → owner of address 0 (pref a, b, c), address 1 (pref b, c, a)
    [InlineData(true, true, true, "a", "b")]
    [InlineData(false, true, true, "b", "b")]
    [InlineData(false, false, true, "c", "c")]
    [InlineData(true, false, false, "a", "a")]
    [InlineData(false, true, false, "b", "b")]
    [InlineData(false, false, false, null, null)]
    public void First_eligible_node_in_preference_order_takes_a_free_address(bool a, bool b, bool c, string? owner0, string? owner1)
    {
        var owned = DecideAll(new() { ["a"] = M(a), ["b"] = M(b), ["c"] = M(c) });

        Assert.Equal(owner0, owned.Where(kv => (kv.Value & 1) != 0).Select(kv => kv.Key).SingleOrDefault());
        Assert.Equal(owner1, owned.Where(kv => (kv.Value & 2) != 0).Select(kv => kv.Key).SingleOrDefault());
    }

    [Fact]
    public void Without_quorum_or_health_nothing_is_held_not_even_what_was()
    {
        // Self not eligible (no quorum, unhealthy, leaving or settling all look the same here).
        Assert.Equal(0UL, Decide("a", new() { ["a"] = M(eligible: false, claims: 0b001), ["b"] = M(), ["c"] = M() }));
    }

    [Fact]
    public void A_node_not_in_the_preference_list_never_holds_the_address()
    {
        var owned = DecideAll(new() { ["a"] = M(), ["b"] = M(), ["c"] = M(eligible: false) });

        Assert.Equal(0UL, owned["a"] & 0b100);
        Assert.Equal(0UL, owned["b"] & 0b100);
    }

    [Fact]
    public void A_new_holder_waits_until_the_old_one_lets_go()
    {
        // c still claims address 1 (it held it while b was away); b is back and preferred but waits.
        var members = new Dictionary<string, OwnershipMember> { ["a"] = M(), ["b"] = M(), ["c"] = M(claims: 0b110, eligibleForS: 1000) };
        Assert.Equal(0UL, Decide("b", members) & 0b010);

        // Even a claimant that is not eligible (held down by flap damping, unhealthy) is waited for while it is heard.
        members["c"] = M(eligible: false, claims: 0b010);
        Assert.Equal(0UL, Decide("b", members) & 0b010);

        // Once it no longer claims it, b takes it.
        members["c"] = M(claims: 0b100);
        Assert.Equal(0b010UL, Decide("b", members) & 0b010);
    }

    [Fact]
    public void A_dead_nodes_claims_are_ignored()
    {
        var members = new Dictionary<string, OwnershipMember> { ["a"] = M(eligible: false, known: false, claims: 0b001), ["b"] = M(), ["c"] = M() };

        Assert.Equal(0b011UL, Decide("b", members));
    }

    [Fact]
    public void Two_claimants_resolve_to_the_one_first_in_the_preference_list()
    {
        // After a healed two-node partition both hold address 0.
        var members = new Dictionary<string, OwnershipMember> { ["a"] = M(claims: 0b001), ["b"] = M(claims: 0b011), ["c"] = M(claims: 0b100) };
        var owned = DecideAll(members);

        Assert.Equal(0b001UL, owned["a"]);
        Assert.Equal(0b010UL, owned["b"]);
    }

    [Theory]
    [InlineData(FailbackPolicy.Sticky, 1000, false)]
    [InlineData(FailbackPolicy.Preempt, 10, false)] // a is back but not for long enough
    [InlineData(FailbackPolicy.Preempt, 30, true)]
    [InlineData(FailbackPolicy.Preempt, 1000, true)]
    public void Failback_policy_decides_whether_the_preferred_node_gets_its_address_back(FailbackPolicy policy, double aEligibleForS, bool givenBack)
    {
        // b took address 0 while a was away; a is back.
        var members = new Dictionary<string, OwnershipMember> { ["a"] = M(eligibleForS: aEligibleForS), ["b"] = M(claims: 0b011), ["c"] = M(claims: 0b100) };

        var b = Decide("b", members, policy, delayS: 30);
        Assert.Equal(givenBack ? 0b010UL : 0b011UL, b);

        // a never claims while b still does.
        Assert.Equal(0UL, Decide("a", members, policy, delayS: 30));

        // When b has let go (its next heartbeat says so), a takes it.
        if (givenBack)
        {
            members["b"] = M(claims: 0b010);
            Assert.Equal(0b001UL, Decide("a", members, policy, delayS: 30));
        }
    }

    [Fact]
    public void Sticky_holder_keeps_the_address_until_it_is_no_longer_eligible()
    {
        var members = new Dictionary<string, OwnershipMember> { ["a"] = M(), ["b"] = M(claims: 0b011), ["c"] = M(claims: 0b100) };
        Assert.Equal(0b011UL, Decide("b", members, FailbackPolicy.Sticky));

        members["b"] = M(eligible: false, claims: 0b011);
        Assert.Equal(0UL, Decide("b", members, FailbackPolicy.Sticky));
    }

    [Fact]
    public void Handover_a_leaving_node_that_let_go_is_replaced_at_once()
    {
        // a announced leaving (not eligible) and its heartbeat holds nothing.
        var members = new Dictionary<string, OwnershipMember> { ["a"] = M(eligible: false, claims: 0), ["b"] = M(claims: 0b010), ["c"] = M(claims: 0b100) };

        Assert.Equal(0b011UL, Decide("b", members));
        Assert.Equal(0b100UL, Decide("c", members));
    }

    [Fact]
    public void An_unhealthy_nodes_addresses_go_to_the_next_in_line_once_it_let_go()
    {
        var members = new Dictionary<string, OwnershipMember> { ["a"] = M(eligible: false, claims: 0b001), ["b"] = M(claims: 0b010), ["c"] = M(claims: 0b100) };
        Assert.Equal(0UL, Decide("a", members));
        Assert.Equal(0b010UL, Decide("b", members)); // a still announces it: wait

        members["a"] = M(eligible: false, claims: 0);
        Assert.Equal(0b011UL, Decide("b", members));
    }

    [Fact]
    public void Decisions_do_not_depend_on_the_order_members_are_listed()
    {
        var forward = new Dictionary<string, OwnershipMember> { ["a"] = M(claims: 0b001), ["b"] = M(claims: 0b001), ["c"] = M() };
        var backward = new Dictionary<string, OwnershipMember> { ["c"] = M(), ["b"] = M(claims: 0b001), ["a"] = M(claims: 0b001) };

        Assert.Equal(Decide("a", forward), Decide("a", backward));
        Assert.Equal(Decide("b", forward), Decide("b", backward));
    }
}
