using Tandem.Server.Routing;

namespace Tandem.Server.Config;

/// <summary>
/// The <c>routing:</c> section: who is trusted without a challenge, per-user call forwarding, ring
/// groups, gateways and outbound routes. Unlike the rest of the file it is re-read on reload
/// (<see cref="RoutingTable.ReloadAsync"/>). See docs/routing.md.
/// </summary>
public sealed record RoutingOptions
{
    /// <summary>Addresses and networks whose requests are routed without a digest challenge; key <c>routing.trusted-peers</c>.</summary>
    public IReadOnlyList<CidrBlock> TrustedPeers { get; init; } = [];

    /// <summary>Per-user call forwarding; key <c>routing.users</c>.</summary>
    public IReadOnlyList<UserRouting> Users { get; init; } = [];

    /// <summary>Key <c>routing.ring-groups</c>.</summary>
    public IReadOnlyList<RingGroup> RingGroups { get; init; } = [];

    /// <summary>Key <c>routing.gateways</c>.</summary>
    public IReadOnlyList<Gateway> Gateways { get; init; } = [];

    /// <summary>Tried in order, the first whose pattern matches wins; key <c>routing.outbound-routes</c>.</summary>
    public IReadOnlyList<OutboundRoute> OutboundRoutes { get; init; } = [];

    /// <summary>
    /// The section these options were read from, as one YAML document (<c>routing:</c> and the keys
    /// that were set, file and environment merged); empty when no routing key was set. This is what
    /// a cluster replicates (<see cref="Config.ConfigLoader.LoadRouting"/> reads it back).
    /// </summary>
    public string Document { get; init; } = "";

    /// <summary>The file the section came from; null when no routing key was set there.</summary>
    public string? File { get; init; }

    /// <summary>Last change of <see cref="File"/>; null when the section did not come from a file.</summary>
    public DateTimeOffset? ModifiedAt { get; init; }
}

/// <summary>Call forwarding of one local user (<c>routing.users.&lt;user@domain&gt;</c>).</summary>
public sealed record UserRouting(string User, string Domain)
{
    public const int DefaultNoAnswerTimeoutS = 20;

    /// <summary>Every call goes here instead; the user's phones do not ring.</summary>
    public RouteDestination? ForwardAlways { get; init; }

    /// <summary>Where calls go when the user is busy (486/600).</summary>
    public RouteDestination? ForwardBusy { get; init; }

    /// <summary>Where calls go when nobody answers within <see cref="NoAnswerTimeoutS"/>, or the user has no reachable phone.</summary>
    public RouteDestination? ForwardNoAnswer { get; init; }

    public int NoAnswerTimeoutS { get; init; } = DefaultNoAnswerTimeoutS;

    public string Aor => $"{User}@{Domain}";
}

public enum RingStrategy
{
    /// <summary>Every member rings at once; the first to answer gets the call.</summary>
    Simultaneous,

    /// <summary>Members ring one after another, each for the ring timeout.</summary>
    Sequential,
}

/// <summary>A ring group (<c>routing.ring-groups.&lt;user@domain&gt;</c>): calls to its address ring its members.</summary>
public sealed record RingGroup(string User, string Domain, RingStrategy Strategy, IReadOnlyList<RouteDestination> Members)
{
    public const int DefaultRingTimeoutS = 20;

    public int RingTimeoutS { get; init; } = DefaultRingTimeoutS;

    public string Aor => $"{User}@{Domain}";
}

/// <summary>A gateway or trunk (<c>routing.gateways.&lt;name&gt;</c>).</summary>
public sealed record Gateway(string Name, string Uri)
{
    public const int DefaultResponseTimeoutMs = 2000;

    /// <summary>With no response at all (not even 100 Trying) after this long, the next gateway is tried.</summary>
    public int ResponseTimeoutMs { get; init; } = DefaultResponseTimeoutMs;
}

/// <summary>An outbound route (one item of <c>routing.outbound-routes</c>).</summary>
public sealed record OutboundRoute(string Name, DialPattern Pattern, IReadOnlyList<string> Gateways)
{
    /// <summary>Digits removed from the front of the dialled number before it is sent.</summary>
    public int Strip { get; init; }

    /// <summary>Text put in front of the (stripped) number.</summary>
    public string Prepend { get; init; } = "";

    /// <summary>Whether calls from trusted peers (not only authenticated local users) may use this route.</summary>
    public bool AllowTrustedPeers { get; init; }
}
