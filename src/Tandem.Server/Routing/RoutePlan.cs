namespace Tandem.Server.Routing;

/// <summary>Who is calling whom, as the routing engine sees a new INVITE (or other dialog-creating request).</summary>
/// <param name="CallerUser">Authenticated local user (user part), or null for a trusted peer / unauthenticated.</param>
/// <param name="CallerDomain">Domain of the caller's From URI.</param>
/// <param name="FromTrustedPeer">True when the request came from a configured trusted peer (trunk, gateway).</param>
/// <param name="RequestUri">The Request-URI text.</param>
/// <param name="CalleeUser">User part of the Request-URI (unescaped), or null.</param>
/// <param name="CalleeDomain">Host of the Request-URI (lower case).</param>
/// <param name="IsLocalDomain">True when the Request-URI host is a domain this server serves.</param>
public sealed record CallContext(
    string? CallerUser,
    string CallerDomain,
    bool FromTrustedPeer,
    string RequestUri,
    string? CalleeUser,
    string CalleeDomain,
    bool IsLocalDomain);

/// <summary>One target of a stage.</summary>
public abstract record RouteTarget;

/// <summary>Ring the registered contacts of a local AoR ("sip:alice@example.com"); the proxy forks them by q-value.</summary>
public sealed record UserTarget(string Aor) : RouteTarget;

/// <summary>Send to a SIP URI (a gateway, trunk or external address), resolved with RFC 3263.</summary>
public sealed record UriTarget(string Uri) : RouteTarget;

/// <summary>Outcomes of a stage, used to decide whether the next stage runs.</summary>
[Flags]
public enum StageOutcome
{
    None = 0,

    /// <summary>The ring timeout fired before anyone answered (the proxy CANCELs the stage's branches).</summary>
    NoAnswer = 1,

    /// <summary>Best response 486 Busy Here or 600 Busy Everywhere.</summary>
    Busy = 2,

    /// <summary>No registered contact, or best response 404/480.</summary>
    Unavailable = 4,

    /// <summary>No response in time (408, response timeout), any 5xx, or a transport error.</summary>
    Failure = 8,

    /// <summary>Any other 3xx–6xx final response.</summary>
    Rejected = 16,

    Any = NoAnswer | Busy | Unavailable | Failure | Rejected,
}

/// <summary>
/// A set of targets rung in parallel. <paramref name="RingTimeout"/>: give up after this long without
/// a 2xx (null: until the proxy's Timer C). <paramref name="ResponseTimeout"/>: a branch with no
/// response at all (not even 100) after this long counts as a failure (gateway failover; null: the
/// transaction's own Timer B/F). <paramref name="ContinueOn"/>: which outcomes move on to the next stage.
/// </summary>
public sealed record RouteStage(
    IReadOnlyList<RouteTarget> Targets,
    TimeSpan? RingTimeout,
    TimeSpan? ResponseTimeout,
    StageOutcome ContinueOn)
{
    /// <summary>
    /// Where to continue for particular outcomes, when not at the next stage: after an outcome in
    /// <see cref="ContinueOn"/>, the first jump whose <see cref="StageJump.On"/> includes it names the
    /// index (in <see cref="RoutePlan.Stages"/>, always later than this stage) of the stage to run
    /// next; with no such jump the next stage in the list runs. Used when busy and no-answer forward
    /// to different targets. Empty for almost every stage.
    /// </summary>
    public IReadOnlyList<StageJump> Jumps { get; init; } = [];
}

/// <summary>After an outcome in <paramref name="On"/>, continue with stage number <paramref name="Stage"/>.</summary>
public sealed record StageJump(StageOutcome On, int Stage);

/// <summary>
/// What to do with a call: either reject it, or run the stages in order until one answers or one
/// ends with an outcome not in its ContinueOn. An empty plan with no rejection means 404.
/// </summary>
public sealed record RoutePlan(IReadOnlyList<RouteStage> Stages, int RejectStatus = 0, string? RejectReason = null)
{
    public static RoutePlan Reject(int status, string reason) => new([], status, reason);

    public bool IsRejection => RejectStatus != 0;
}

/// <summary>Turns a call into a plan. Implementations are immutable; a config reload swaps in a new one.</summary>
public interface IRoutePlanner
{
    RoutePlan Plan(CallContext call);
}
