using System.Text;
using Tandem.Server.Config;

namespace Tandem.Server.Routing;

/// <summary>
/// The PBX routing decision, built once from the <c>routing:</c> section (and replaced as a whole on
/// reload). For a request to a local domain: ring group → known user (with call forwarding) →
/// outbound route by dialled number → 404. For another domain: outbound route → relay for
/// authenticated local users → 403. See docs/routing.md for the full order and examples.
/// </summary>
/// <remarks>
/// Immutable and safe to share between threads. A call straight to a ring group returns a plan built
/// at load (no allocation); other plans are a few small objects.
/// </remarks>
public sealed class PbxRoutePlanner : IRoutePlanner
{
    /// <summary>Forwards followed from one call at most (alice → bob → carol ...); past it the target just rings.</summary>
    public const int MaxForwardHops = 5;

    private const StageOutcome NoAnswerOrUnavailable = StageOutcome.NoAnswer | StageOutcome.Unavailable;

    private static readonly RoutePlan NotFound = RoutePlan.Reject(404, "Not Found");
    private static readonly RoutePlan RelayingDenied = RoutePlan.Reject(403, "Relaying denied");

    private readonly Func<string, string, bool> _subscriberExists;
    private readonly HashSet<string> _domains;
    private readonly Dictionary<(string User, string Domain), RoutePlan> _groups;
    private readonly Dictionary<(string User, string Domain), UserRouting> _users;
    private readonly CompiledRoute[] _routes;

    /// <param name="routing">The validated routing section.</param>
    /// <param name="localDomains">sip.domains; empty means every domain is local.</param>
    /// <param name="subscriberExists">
    /// Whether <c>user</c>@<c>domain</c> (user unescaped, domain lower case) is a subscriber. Called on
    /// the routing path: it must answer from memory without blocking.
    /// </param>
    public PbxRoutePlanner(RoutingOptions routing, IReadOnlyList<string> localDomains, Func<string, string, bool> subscriberExists)
    {
        ArgumentNullException.ThrowIfNull(routing);
        _subscriberExists = subscriberExists ?? throw new ArgumentNullException(nameof(subscriberExists));
        _domains = new HashSet<string>(localDomains, StringComparer.OrdinalIgnoreCase);
        _users = routing.Users.ToDictionary(u => (u.User, u.Domain.ToLowerInvariant()));
        _groups = routing.RingGroups.ToDictionary(g => (g.User, g.Domain.ToLowerInvariant()), BuildGroupPlan);
        var gateways = routing.Gateways.ToDictionary(g => g.Name, CompiledGateway.Create, StringComparer.Ordinal);
        _routes = [.. routing.OutboundRoutes.Select(r => new CompiledRoute(
            r.Pattern, [.. r.Gateways.Select(name => gateways[name])], r.Strip, r.Prepend, r.AllowTrustedPeers))];
    }

    public PbxRoutePlanner(TandemOptions options, Func<string, string, bool> subscriberExists)
        : this(options.Routing, options.Sip.Domains, subscriberExists)
    {
    }

    /// <summary>Who may use outbound routes on this call.</summary>
    private enum RouteAccess
    {
        /// <summary>No outbound routes (unauthenticated caller, or a sip: URI that is not a local user).</summary>
        None,

        /// <summary>Only routes with allow-trusted-peers.</summary>
        TrustedPeer,

        /// <summary>Every route: an authenticated local user, or a forward the operator configured.</summary>
        All,
    }

    public RoutePlan Plan(CallContext call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var user = call.CalleeUser;
        var access = call.CallerUser is not null ? RouteAccess.All : call.FromTrustedPeer ? RouteAccess.TrustedPeer : RouteAccess.None;
        if (call.IsLocalDomain)
        {
            if (string.IsNullOrEmpty(user))
            {
                return NotFound;
            }

            if (_groups.TryGetValue((user, call.CalleeDomain), out var groupPlan))
            {
                return groupPlan;
            }

            var stages = new List<RouteStage>(2);
            return AppendLocal(stages, user, call.CalleeDomain, 0, access) ? new RoutePlan(stages) : NotFound;
        }

        if (!string.IsNullOrEmpty(user) && FindRoute(user, access) is { } route)
        {
            var stages = new List<RouteStage>(route.Gateways.Length);
            AppendGateways(stages, route, user);
            return new RoutePlan(stages);
        }

        // Only our own authenticated users may send calls to other domains through us: never an open relay.
        return call.CallerUser is not null ? new RoutePlan([UriStage(call.RequestUri)]) : RelayingDenied;
    }

    /// <summary>Appends the stages for calling user@domain in a local domain; false when nothing by that name exists.</summary>
    private bool AppendLocal(List<RouteStage> stages, string user, string domain, int hops, RouteAccess access)
    {
        if (_groups.TryGetValue((user, domain), out var group))
        {
            stages.AddRange(group.Stages);
            return true;
        }

        var hasRules = _users.TryGetValue((user, domain), out var rules);
        if (hasRules || _subscriberExists(user, domain))
        {
            AppendUser(stages, user, domain, rules, hops);
            return true;
        }

        // A number dialled "to" our own domain (sip:+4930123@example.com) is an outbound call.
        if (FindRoute(user, access) is { } route)
        {
            AppendGateways(stages, route, user);
            return true;
        }

        return false;
    }

    private void AppendUser(List<RouteStage> stages, string user, string domain, UserRouting? rules, int hops)
    {
        var aor = Aor(user, domain);
        if (rules is null || hops >= MaxForwardHops)
        {
            stages.Add(new RouteStage([new UserTarget(aor)], null, null, StageOutcome.None));
            return;
        }

        if (rules.ForwardAlways is { } always)
        {
            AppendDestination(stages, always, hops + 1);
            return;
        }

        var busy = rules.ForwardBusy;
        var noAnswer = rules.ForwardNoAnswer;
        var continueOn = (busy is null ? StageOutcome.None : StageOutcome.Busy) | (noAnswer is null ? StageOutcome.None : NoAnswerOrUnavailable);
        var ringTimeout = noAnswer is null ? (TimeSpan?)null : TimeSpan.FromSeconds(rules.NoAnswerTimeoutS);
        var first = stages.Count;
        stages.Add(new RouteStage([new UserTarget(aor)], ringTimeout, null, continueOn));
        if (busy is null || noAnswer is null || SameTarget(busy, noAnswer))
        {
            if ((busy ?? noAnswer) is { } target)
            {
                AppendDestination(stages, target, hops + 1);
            }

            return;
        }

        // Different targets: busy continues with the next stage, no answer jumps past the busy block.
        AppendDestination(stages, busy, hops + 1);
        EndBlock(stages);
        var noAnswerStart = stages.Count;
        AppendDestination(stages, noAnswer, hops + 1);
        stages[first] = stages[first] with { Jumps = [new StageJump(NoAnswerOrUnavailable, noAnswerStart)] };
    }

    /// <summary>Appends at least one stage for a forward target or a ring-group member.</summary>
    private void AppendDestination(List<RouteStage> stages, RouteDestination target, int hops)
    {
        switch (target.Kind)
        {
            case DestinationKind.Local:
                if (!AppendLocal(stages, target.User, target.Domain!, hops, RouteAccess.All))
                {
                    // Nobody by that name (yet): ring it anyway, which ends as 480 Temporarily Unavailable.
                    stages.Add(new RouteStage([new UserTarget(Aor(target.User, target.Domain!))], null, null, StageOutcome.None));
                }

                break;
            case DestinationKind.SipUri:
                if (!(target.User.Length > 0 && IsServed(target.Domain!) && AppendLocal(stages, target.User, target.Domain!, hops, RouteAccess.None)))
                {
                    stages.Add(UriStage(target.Text));
                }

                break;
            default:
                if (FindRoute(target.User, RouteAccess.All) is { } route)
                {
                    AppendGateways(stages, route, target.User);
                }
                else
                {
                    stages.Add(UriStage(target.Text)); // config validation rules this out; fails cleanly if it happens
                }

                break;
        }
    }

    private CompiledRoute? FindRoute(string number, RouteAccess access)
    {
        if (access == RouteAccess.None)
        {
            return null;
        }

        foreach (var route in _routes)
        {
            if ((access == RouteAccess.All || route.AllowTrustedPeers) && route.Pattern.Matches(number))
            {
                return route;
            }
        }

        return null;
    }

    private static void AppendGateways(List<RouteStage> stages, CompiledRoute route, string number)
    {
        var strip = Math.Min(route.Strip, number.Length);
        var user = EscapeUser(route.Prepend.Length == 0 && strip == 0 ? number : string.Concat(route.Prepend, number.AsSpan(strip)));
        foreach (var gateway in route.Gateways)
        {
            stages.Add(new RouteStage([new UriTarget(gateway.Target(user))], null, gateway.ResponseTimeout, StageOutcome.Failure));
        }
    }

    private RoutePlan BuildGroupPlan(RingGroup group)
    {
        var timeout = TimeSpan.FromSeconds(group.RingTimeoutS);
        var targets = group.Members.Select(MemberTarget).ToArray();
        return group.Strategy == RingStrategy.Simultaneous
            ? new RoutePlan([new RouteStage(targets, timeout, null, StageOutcome.None)])
            : new RoutePlan([.. targets.Select(t => new RouteStage([t], timeout, null, StageOutcome.Any))]);
    }

    private RouteTarget MemberTarget(RouteDestination member) =>
        member.Kind == DestinationKind.Local || (member.User.Length > 0 && _domains.Count > 0 && _domains.Contains(member.Domain!))
            ? new UserTarget(Aor(member.User, member.Domain!))
            : new UriTarget(member.Text);

    private bool IsServed(string domain) => _domains.Count == 0 || _domains.Contains(domain);

    /// <summary>The stage that ended a block, followed by another block, must not run into it.</summary>
    private static void EndBlock(List<RouteStage> stages) => stages[^1] = stages[^1] with { ContinueOn = StageOutcome.None };

    private static bool SameTarget(RouteDestination a, RouteDestination b) =>
        a.Kind == b.Kind && a.User == b.User && a.Domain == b.Domain && (a.Kind != DestinationKind.SipUri || a.Text == b.Text);

    private static RouteStage UriStage(string uri) => new([new UriTarget(uri)], null, null, StageOutcome.None);

    private static string Aor(string user, string domain) => string.Concat("sip:", user, "@", domain);

    /// <summary>Escapes a user part for a SIP URI (RFC 3261 §25.1: unreserved / user-unreserved stay as they are).</summary>
    internal static string EscapeUser(string user)
    {
        if (user.All(IsUserChar))
        {
            return user;
        }

        var builder = new StringBuilder(user.Length + 8);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in user.EnumerateRunes())
        {
            if (rune.IsAscii && IsUserChar((char)rune.Value))
            {
                builder.Append((char)rune.Value);
                continue;
            }

            var length = rune.EncodeToUtf8(utf8);
            foreach (var b in utf8[..length])
            {
                builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    private static bool IsUserChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '!' or '~' or '*' or '\'' or '(' or ')'
            or '&' or '=' or '+' or '$' or ',' or ';' or '?' or '/';

    private sealed record CompiledRoute(DialPattern Pattern, CompiledGateway[] Gateways, int Strip, string Prepend, bool AllowTrustedPeers);

    /// <summary>A gateway URI split around where the user part goes: "sip:" + user + "@gw1.example.net;transport=udp".</summary>
    private sealed record CompiledGateway(string Scheme, string HostAndParameters, TimeSpan ResponseTimeout)
    {
        public static CompiledGateway Create(Gateway gateway)
        {
            var colon = gateway.Uri.IndexOf(':', StringComparison.Ordinal);
            return new CompiledGateway(
                gateway.Uri[..(colon + 1)].ToLowerInvariant(), gateway.Uri[(colon + 1)..], TimeSpan.FromMilliseconds(gateway.ResponseTimeoutMs));
        }

        public string Target(string user) => string.Concat(Scheme, user, "@", HostAndParameters);
    }
}
