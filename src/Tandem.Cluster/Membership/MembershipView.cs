namespace Tandem.Cluster.Membership;

/// <summary>
/// An immutable snapshot of what this node knows about the cluster, published atomically by
/// <see cref="MembershipService"/>; <see cref="Epoch"/> grows by one with every change.
/// </summary>
public sealed record MembershipView
{
    public required long Epoch { get; init; }

    public required NodeId Self { get; init; }

    /// <summary>When this view was computed (UTC).</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>This node sees a strict majority of the voters (see docs/cluster.md).</summary>
    public required bool HasQuorum { get; init; }

    /// <summary>Voters counted as up, this node included.</summary>
    public required int VotersUp { get; init; }

    public required int Voters { get; init; }

    /// <summary>This node's own health as it announces it.</summary>
    public required bool Healthy { get; init; }

    public required byte HealthScore { get; init; }

    /// <summary>This node is stopping and has handed its addresses over.</summary>
    public required bool Leaving { get; init; }

    /// <summary>The other members (nodes and witness), in configuration order.</summary>
    public required IReadOnlyList<MemberView> Members { get; init; }

    /// <summary>The service addresses this node should hold now. Empty without quorum.</summary>
    public required IReadOnlyList<ServiceAddress> Owned { get; init; }

    public MemberView? Member(NodeId id) => Members.FirstOrDefault(m => m.Id == id);

    public bool Owns(string address) => Owned.Any(a => a.Address == address);
}

public enum MemberRole
{
    Node,
    Witness,
}

public enum MemberState
{
    /// <summary>Never heard since this process started.</summary>
    Unknown,

    /// <summary>Heard on at least one link within the detection time, and not held down.</summary>
    Up,

    /// <summary>Heard again after being down, but not yet for long enough (flap damping); does not count.</summary>
    HeldDown,

    /// <summary>Silent on every link for the detection time.</summary>
    Down,

    /// <summary>Announced a graceful stop (handover); does not count.</summary>
    Leaving,
}

/// <summary>One other member as this node sees it.</summary>
public sealed record MemberView(
    NodeId Id,
    MemberRole Role,
    MemberState State,
    IReadOnlyList<bool> LinksUp,
    byte HealthScore,
    bool ReportsQuorum,
    IReadOnlyList<string> Holds,
    DateTimeOffset? LastHeard)
{
    public bool IsUp => State == MemberState.Up;

    /// <summary>Fencing of this member (a node that died holding addresses); <see cref="FenceStatus.None"/> when not needed or not configured.</summary>
    public FenceStatus Fence { get; init; }

    /// <summary>What the last fence command said (exit status, timeout, error), if one ran.</summary>
    public string? FenceDetail { get; init; }

    /// <summary>The addresses it claimed when it was last known alive (what a fence must cover once it is dead).</summary>
    public IReadOnlyList<string> LastKnownClaims { get; init; } = [];

    public bool IsHealthy => HealthScore >= HealthReport.HealthyThreshold;
}

public enum MembershipEventKind
{
    PeerUp,
    PeerDown,
    LinkUp,
    LinkDown,
    QuorumGained,
    QuorumLost,

    /// <summary>This node should now hold <see cref="MembershipEvent.Address"/>.</summary>
    AddressAcquired,

    /// <summary>This node should no longer hold <see cref="MembershipEvent.Address"/>.</summary>
    AddressReleased,

    HealthChanged,

    /// <summary>This node started the fencing command against <see cref="MembershipEvent.Member"/> before taking its addresses.</summary>
    FenceStarted,

    /// <summary>The fencing command exited 0: the member's addresses may be taken.</summary>
    FenceSucceeded,

    /// <summary>The fencing command failed or timed out: its addresses stay untaken; retried later.</summary>
    FenceFailed,
}

public enum FenceStatus
{
    /// <summary>No fence needed (alive, held nothing, left gracefully) or fencing not configured.</summary>
    None,

    /// <summary>The fencing command is running.</summary>
    Running,

    /// <summary>The last fence succeeded: its addresses may be taken until it is heard again.</summary>
    Fenced,

    /// <summary>The last fence failed or timed out; it is retried.</summary>
    Failed,
}

/// <summary>A cluster state transition, with when and why; each is also logged as one line.</summary>
public sealed record MembershipEvent(
    MembershipEventKind Kind,
    DateTimeOffset At,
    string Reason,
    NodeId? Member = null,
    int? Link = null,
    ServiceAddress? Address = null)
{
    public override string ToString()
    {
        var subject = Address is not null ? $" {Address.Address}" : Member is { } m ? $" {m}" + (Link is { } l ? $" link {l}" : "") : "";
        return $"{At:yyyy-MM-dd'T'HH:mm:ss.fff'Z'} {Kind}{subject}: {Reason}";
    }
}
