namespace Tandem.Cluster.Membership;

/// <summary>What one node knows about one member (itself included) when deciding ownership.</summary>
/// <param name="Known">
/// The member's claims are known: it is heard directly (even while held down by flap damping), or
/// another member that is up reports hearing it. Claims of members not known are ignored (they are dead).
/// </param>
/// <param name="Eligible">It may hold addresses: up (after flap damping), healthy, not leaving; for this node also quorum and past the start-up settling time.</param>
/// <param name="EligibleSince">Since when it has been eligible (for the preempt delay).</param>
/// <param name="Claims">The addresses it says it holds: bit i = service address i.</param>
public readonly record struct OwnershipMember(bool Known, bool Eligible, TimeSpan EligibleSince, ulong Claims);

/// <summary>The inputs of <see cref="Ownership.Decide"/>.</summary>
public sealed record OwnershipInput
{
    public required NodeId Self { get; init; }

    /// <summary>Every node, this one included (the witness holds nothing and need not be here).</summary>
    public required IReadOnlyDictionary<NodeId, OwnershipMember> Members { get; init; }

    public required IReadOnlyList<ServiceAddress> Addresses { get; init; }

    public required FailbackOptions Failback { get; init; }

    public required TimeSpan Now { get; init; }
}

/// <summary>
/// Which service addresses this node should hold: a pure function of what it knows, the same on
/// every node that knows the same (docs/cluster.md, "Ownership"). Per address:
/// <list type="number">
/// <item>Not eligible (no quorum, unhealthy, leaving, still settling, not in the address's preference list) → do not hold.</item>
/// <item>Another known member claims it too → the claimant first in the preference list keeps it (ties by id); the others let go.
///   A new holder therefore waits until the old one's heartbeat says it let go: never two holders that know of each other.</item>
/// <item>This node holds it → keeps it, unless the policy is preempt and a node earlier in the list has been eligible for the failback delay.</item>
/// <item>Nobody holds it → the first eligible node of the preference list takes it.</item>
/// </list>
/// </summary>
public static class Ownership
{
    public static ulong Decide(OwnershipInput input)
    {
        if (!input.Members.TryGetValue(input.Self, out var self) || !self.Eligible)
        {
            return 0;
        }

        ulong result = 0;
        for (var i = 0; i < input.Addresses.Count && i < MembershipOptions.MaxServiceAddresses; i++)
        {
            if (ShouldHold(input, self, i))
            {
                result |= 1UL << i;
            }
        }

        return result;
    }

    /// <summary>The addresses of a mask, in configuration order.</summary>
    public static IReadOnlyList<ServiceAddress> Select(IReadOnlyList<ServiceAddress> addresses, ulong mask)
    {
        var result = new List<ServiceAddress>();
        for (var i = 0; i < addresses.Count && i < MembershipOptions.MaxServiceAddresses; i++)
        {
            if ((mask & (1UL << i)) != 0)
            {
                result.Add(addresses[i]);
            }
        }

        return result;
    }

    private static bool ShouldHold(OwnershipInput input, OwnershipMember self, int index)
    {
        var address = input.Addresses[index];
        var bit = 1UL << index;
        var selfRank = Rank(address, input.Self);
        if (selfRank == int.MaxValue)
        {
            return false;
        }

        var selfHolds = (self.Claims & bit) != 0;
        NodeId? incumbent = selfHolds ? input.Self : null;
        var othersClaim = false;
        foreach (var (id, member) in input.Members)
        {
            if (id == input.Self || !member.Known || (member.Claims & bit) == 0)
            {
                continue;
            }

            othersClaim = true;
            if (incumbent is not { } current || Before(address, id, current))
            {
                incumbent = id;
            }
        }

        if (othersClaim && incumbent != input.Self)
        {
            return false; // someone else holds it (or wins the tie): wait for it to let go
        }

        NodeId? preferred = null;
        foreach (var id in address.Preference)
        {
            if (input.Members.TryGetValue(id, out var member) && member.Eligible)
            {
                preferred = id;
                break;
            }
        }

        if (!selfHolds && !othersClaim)
        {
            return preferred == input.Self;
        }

        // This node holds it (alone, or as the winner among claimants).
        if (input.Failback.Policy == FailbackPolicy.Sticky || preferred is not { } better || better == input.Self)
        {
            return true;
        }

        return input.Now - input.Members[better].EligibleSince < input.Failback.Delay;
    }

    private static int Rank(ServiceAddress address, NodeId id)
    {
        for (var i = 0; i < address.Preference.Count; i++)
        {
            if (address.Preference[i] == id)
            {
                return i;
            }
        }

        return int.MaxValue;
    }

    private static bool Before(ServiceAddress address, NodeId a, NodeId b)
    {
        var (ra, rb) = (Rank(address, a), Rank(address, b));
        return ra != rb ? ra < rb : string.CompareOrdinal(a.Value, b.Value) < 0;
    }
}
