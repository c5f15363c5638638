namespace Tandem.Server.Routing;

/// <summary>
/// The plan without PBX configuration: a user of a local domain rings their registered contacts
/// (404 when the user is unknown); a call to another domain goes there directly for an
/// authenticated local user or a trusted peer, and is refused otherwise (no open relay).
/// </summary>
public sealed class DirectRoutePlanner(Func<string, string, bool> subscriberExists) : IRoutePlanner
{
    public RoutePlan Plan(CallContext call)
    {
        if (call.IsLocalDomain)
        {
            if (call.CalleeUser is null || !subscriberExists(call.CalleeUser, call.CalleeDomain))
            {
                return RoutePlan.Reject(404, "Not Found");
            }

            return new RoutePlan([new RouteStage([new UserTarget($"sip:{call.CalleeUser}@{call.CalleeDomain}")], null, null, StageOutcome.None)]);
        }

        if (call.CallerUser is null && !call.FromTrustedPeer)
        {
            return RoutePlan.Reject(403, "Forbidden (relaying denied)");
        }

        return new RoutePlan([new RouteStage([new UriTarget(call.RequestUri)], null, null, StageOutcome.None)]);
    }
}
