using System.Net;
using Microsoft.Extensions.Logging;
using Tandem.Server.Calls;
using Tandem.Server.Core;
using Tandem.Server.Registrar;
using Tandem.Server.Resolution;
using Tandem.Server.Routing;
using Tandem.Server.Transport;
using Tandem.Sip.Headers;
using Tandem.Sip.Messages;
using Tandem.Sip.Text;
using Tandem.Sip.Timers;
using Tandem.Sip.Transactions;
using Tandem.Sip.Uris;

namespace Tandem.Server.Proxy;

/// <summary>What the proxy depends on, gathered so the constructor stays readable.</summary>
public sealed record ProxyDependencies(
    LocalIdentity Identity,
    LocationService Locations,
    IRequestAuthenticator? Authenticator,
    Func<IRoutePlanner> Planner,
    Func<IPAddress, bool> IsTrustedPeer,
    ISipTargetResolver Resolver,
    ICallEvents Events,
    SipTransportSet Transports,
    TimerWheel Wheel,
    TimeProvider Time,
    string ServerHeader,
    int MaxCalls,
    ILogger Logger);

/// <summary>
/// The stateful proxy (RFC 3261 §16) built so that any node can carry any call: dialog-creating
/// requests are authenticated, routed by the PBX plan and forwarded through client transactions
/// with Record-Route; requests inside a dialog (and ACKs for 2xx) are routed from their Route
/// headers alone, and responses without a transaction go back by Via, with no per-call memory.
/// </summary>
public sealed class ProxyCore
{
    private readonly ProxyDependencies _d;
    private readonly TransactionContext<SipPacket> _context;
    private readonly TransactionTable<Transaction<SipPacket>> _clients;
    private int _activeCalls;

    public ProxyCore(ProxyDependencies dependencies, TransactionContext<SipPacket> context, TransactionTable<Transaction<SipPacket>> clients)
    {
        _d = dependencies;
        _context = context;
        _clients = clients;
    }

    /// <summary>Timer C: the longest a stage rings when the plan sets no ring timeout (RFC 3261 §16.6 step 11).</summary>
    public TimeSpan MaxRingTime { get; init; } = TimeSpan.FromMinutes(3);

    public int ActiveCalls => Volatile.Read(ref _activeCalls);

    internal TimerWheel Wheel => _d.Wheel;

    /// <summary>A dialog-creating or out-of-dialog request, with its server transaction already made.</summary>
    public async ValueTask HandleAsync(SipMessage request, SipFlow flow, ServerTransaction<SipPacket> server, CancellationToken cancellationToken)
    {
        if (request.MaxForwards == 0)
        {
            Reply(server, request, flow, 483, "Too Many Hops");
            return;
        }

        var loopHash = Branches.LoopHash(request);
        if (Branches.IsLoop(request, _d.Identity, loopHash, flow.LocalEndPoint.Address))
        {
            Reply(server, request, flow, 482, "Loop Detected");
            return;
        }

        var (requestUri, routes) = PreprocessRoutes(request);
        string? callerUser = null;
        var trusted = _d.IsTrustedPeer(flow.RemoteEndPoint.Address);
        var fromUri = request.From!.Uri;
        var fromDomain = fromUri.Host.ToLowerInvariant();
        if (!trusted)
        {
            if (!fromUri.IsSip || fromUri.User is null || !_d.Identity.IsLocalDomain(fromDomain))
            {
                Reply(server, request, flow, 403, "Forbidden (not a local user or trusted peer)");
                return;
            }
        }

        if (!trusted && _d.Authenticator is null)
        {
            // Authentication switched off (auth.enabled: false): local users are taken at their word.
            callerUser = Unescape(fromUri.User!);
        }
        else if (!trusted)
        {
            var auth = await _d.Authenticator!.AuthenticateAsync(request, fromDomain, HeaderId.ProxyAuthorization, cancellationToken);
            if (auth.Status == AuthStatus.Challenge)
            {
                var challenge = NewResponse(request, 407, "Proxy Authentication Required");
                foreach (var value in auth.Challenges)
                {
                    challenge.AddHeader("Proxy-Authenticate", value);
                }

                Send(server, challenge, flow);
                return;
            }

            callerUser = auth.Username;
            if (!string.Equals(callerUser, Unescape(fromUri.User!), StringComparison.Ordinal))
            {
                Reply(server, request, flow, 403, "Forbidden (credentials do not match From)");
                return;
            }
        }

        RoutePlan plan;
        if (routes.Count > 0)
        {
            // A pre-loaded route (RFC 3261 §16.12) names the next hop: the Request-URI is not ours to change.
            plan = new RoutePlan([new RouteStage([new UriTarget(requestUri)], null, null, StageOutcome.None)]);
        }
        else
        {
            var target = SipUri.TryParse(requestUri, out _);
            var host = target?.Host.ToLowerInvariant() ?? string.Empty;
            var calleeUser = target?.User is { } user ? Unescape(user) : null;
            var call = new CallContext(callerUser, fromDomain, trusted, requestUri, calleeUser, host, _d.Identity.IsLocalDomain(host));
            plan = _d.Planner().Plan(call);
        }

        var isInvite = request.Method == SipMethod.Invite;
        if (isInvite)
        {
            // Every admitted call attempt gets a record, also the ones routing refuses (404, 403, 503).
            _d.Events.CallStarted(request.CallId!, request.From.Tag ?? string.Empty, request.From.Uri.ToAddressOfRecord(), requestUri, _d.Time.GetUtcNow());
        }

        if (plan.IsRejection || plan.Stages.Count == 0)
        {
            var status = plan.IsRejection ? plan.RejectStatus : 404;
            Reply(server, request, flow, status, plan.RejectReason ?? "Not Found");
            CallRefused(request, status, isInvite);
            return;
        }

        if (isInvite)
        {
            if (Interlocked.Increment(ref _activeCalls) > _d.MaxCalls)
            {
                Interlocked.Decrement(ref _activeCalls);
                var busy = NewResponse(request, 503, "Service Unavailable (call limit reached)");
                busy.AddHeader("Retry-After", "5");
                Send(server, busy, flow);
                CallRefused(request, 503, isInvite);
                return;
            }

            // §16.2: a stateful proxy answers 100 at once so the caller stops retransmitting.
            Send(server, new SipResponse(request, 100, "Trying"), flow);
        }

        var proxyCall = new ProxyCall(this, request, flow, server, plan, routes)
        {
            ConsumedCredentials = !trusted && _d.Authenticator is not null,
        };
        server.UserData = proxyCall;
        await proxyCall.StartAsync();
    }

    /// <summary>Whether <paramref name="invite"/> is an INVITE this proxy is forwarding.</summary>
    public static bool IsCancellable(ServerTransaction<SipPacket> invite) => invite.UserData is ProxyCall;

    private void CallRefused(SipMessage request, int status, bool isInvite)
    {
        if (isInvite)
        {
            _d.Events.CallFailed(request.CallId!, request.From?.Tag ?? string.Empty, status, cancelled: false, _d.Time.GetUtcNow());
        }
    }

    /// <summary>The caller's CANCEL for an INVITE we are forwarding (§16.10).</summary>
    public static bool TryCancel(ServerTransaction<SipPacket> invite)
    {
        if (invite.UserData is not ProxyCall call)
        {
            return false;
        }

        call.Cancel();
        return true;
    }

    /// <summary>
    /// Requests inside a dialog and ACKs for 2xx: forwarded statelessly along their Route set
    /// (§16.11), so a node that never saw the INVITE still carries the ACK, re-INVITE and BYE.
    /// </summary>
    public async ValueTask ForwardStatelesslyAsync(SipMessage request, SipFlow flow, CancellationToken cancellationToken)
    {
        var isAck = request.Method == SipMethod.Ack;
        if (request.MaxForwards == 0)
        {
            if (!isAck)
            {
                await SendStatelessAsync(NewResponse(request, 483, "Too Many Hops"), flow);
            }

            return;
        }

        var loopHash = Branches.LoopHash(request);
        if (Branches.IsLoop(request, _d.Identity, loopHash, flow.LocalEndPoint.Address))
        {
            if (!isAck)
            {
                await SendStatelessAsync(NewResponse(request, 482, "Loop Detected"), flow);
            }

            return;
        }

        var routeCount = request.CountHeaders(HeaderId.Route) == 0 ? 0 : SipRewriter.RouteValues(request).Count;
        var (requestUri, routes) = PreprocessRoutes(request);
        if (routes.Count == routeCount && requestUri == request.RequestUriText)
        {
            // Not routed to us by a Record-Route of ours: relaying it would make us an open relay
            // for anything carrying a To tag (the "Not here" of the usual Kamailio config).
            if (!isAck)
            {
                await SendStatelessAsync(NewResponse(request, 404, "Not Found (not routed here)"), flow);
            }

            return;
        }

        var nextHop = routes.Count > 0 ? RouteUri(routes[0]) : SipUri.TryParse(requestUri, out _);
        if (nextHop is null)
        {
            if (!isAck)
            {
                await SendStatelessAsync(NewResponse(request, 400, "Bad Request (unroutable Route or Request-URI)"), flow);
            }

            return;
        }

        var destinations = await ResolveNextHopAsync(nextHop, cancellationToken);
        foreach (var destination in destinations)
        {
            var outFlow = await _d.Transports.GetFlowAsync(destination.Transport, destination.EndPoint, cancellationToken, flow.LocalEndPoint.Address);
            if (outFlow is null)
            {
                continue;
            }

            var via = OurVia(outFlow, flow, Branches.NewStateless(loopHash, request));
            var forwarded = SipRewriter.ForwardRequest(request, flow.RemoteEndPoint, flow.IsReliable, requestUri, via, routes, []);
            if (await outFlow.SendToAsync(forwarded.Bytes, destination.EndPoint))
            {
                return;
            }
        }

        if (!isAck)
        {
            await SendStatelessAsync(NewResponse(request, 480, "Temporarily Unavailable (next hop unreachable)"), flow);
        }
    }

    /// <summary>A response that matches no client transaction: if a stateless forward of ours made it, pass it back by Via.</summary>
    public async ValueTask ForwardResponseStatelesslyAsync(SipMessage response, CancellationToken cancellationToken)
    {
        if (!Branches.IsStateless(response.TopVia.Branch) || !_d.Identity.IsOurAddress(response.TopVia.Host) || response.ViaCount < 2)
        {
            return;
        }

        ViaHeader? next = null;
        var index = 0;
        foreach (var value in response.GetHeaderValues(HeaderId.Via))
        {
            if (index++ == 1)
            {
                next = ViaHeader.TryParse(value, out _);
                break;
            }
        }

        if (next is null || !TryViaTarget(next, out var protocol, out var target))
        {
            return;
        }

        if (response.CSeq.Method == SipMethod.Bye && response.StatusCode >= 200 && (response.StatusCode < 300 || response.StatusCode == 481))
        {
            _d.Events.CallEnded(response.CallId!, response.From?.Tag ?? string.Empty, response.To?.Tag ?? string.Empty, response.StatusCode, _d.Time.GetUtcNow());
        }

        var flow = await _d.Transports.GetFlowAsync(protocol, target, cancellationToken);
        if (flow is not null)
        {
            await flow.SendToAsync(SipRewriter.StripTopVia(response), target);
        }
    }

    /// <summary>
    /// Route pre-processing (§16.4): drop our own entries from the top of the Route set (two when
    /// we double-record-routed), and undo a strict router's rewrite when the Request-URI is ours.
    /// </summary>
    private (string RequestUri, List<string> Routes) PreprocessRoutes(SipMessage request)
    {
        var routes = SipRewriter.RouteValues(request);
        var requestUri = request.RequestUriText;
        if (request.RequestUri.IsSip && request.RequestUri.User is null && _d.Identity.IsOurs(request.RequestUri) && routes.Count > 0)
        {
            // The previous hop was a strict router: the real target is the last Route.
            requestUri = RouteUri(routes[^1])?.Text ?? requestUri;
            routes.RemoveAt(routes.Count - 1);
        }

        while (routes.Count > 0 && RouteUri(routes[0]) is { } top && _d.Identity.IsOurs(top))
        {
            routes.RemoveAt(0);
        }

        return (requestUri, routes);
    }

    private static SipUri? RouteUri(string route) => NameAddress.TryParse(route, out _)?.Uri;

    /// <summary>Turns a stage's targets into groups of branches: each group rings in parallel, groups in order.</summary>
    internal async ValueTask<List<List<ProxyBranch>>> ExpandAsync(ProxyCall call, RouteStage stage)
    {
        var groups = new List<List<ProxyBranch>>();
        var uriBranches = new List<ProxyBranch>();
        var now = _d.Time.GetUtcNow();
        foreach (var target in stage.Targets)
        {
            switch (target)
            {
                case UserTarget user:
                    // Highest q first; equal q ring together (§16.6, RFC 3261 §20.10).
                    var bindings = _d.Locations.GetAlive(user.Aor, now).OrderByDescending(b => b.QValue).ToList();
                    var groupIndex = 0;
                    for (var i = 0; i < bindings.Count; i++)
                    {
                        if (i > 0 && bindings[i].QValue != bindings[i - 1].QValue)
                        {
                            groupIndex++;
                        }

                        while (groups.Count <= groupIndex)
                        {
                            groups.Add([]);
                        }

                        if (TryContactDestination(bindings[i], out var destination))
                        {
                            groups[groupIndex].Add(new ProxyBranch(call, bindings[i].ContactUri, [destination], natContact: true));
                        }
                    }

                    break;
                case UriTarget uri:
                    var parsed = SipUri.TryParse(uri.Uri, out _);
                    var nextHop = call.Routes is { Count: > 0 } routes ? RouteUri(routes[0]) : parsed;
                    if (parsed is null || nextHop is null)
                    {
                        continue;
                    }

                    var destinations = await ResolveNextHopAsync(nextHop, CancellationToken.None);
                    uriBranches.Add(new ProxyBranch(call, uri.Uri, destinations, natContact: false));
                    break;
            }
        }

        groups.RemoveAll(g => g.Count == 0);
        if (uriBranches.Count > 0)
        {
            if (groups.Count == 0)
            {
                groups.Add(uriBranches);
            }
            else
            {
                groups[0].AddRange(uriBranches);
            }
        }

        return groups;
    }

    private async ValueTask<IReadOnlyList<SipDestination>> ResolveNextHopAsync(SipUri uri, CancellationToken cancellationToken)
    {
        // A registered contact behind NAT is reached where its REGISTER came from, whatever its URI says.
        if (FindBindingByContact(uri) is { } binding && TryContactDestination(binding, out var nat))
        {
            return [nat];
        }

        return await _d.Resolver.ResolveAsync(uri, cancellationToken);
    }

    private Tandem.Storage.Binding? FindBindingByContact(SipUri uri) => uri.User is null ? null : _d.Locations.FindByContact(uri.Text);

    private static bool TryContactDestination(Tandem.Storage.Binding binding, out SipDestination destination)
    {
        destination = default;
        if (!IPEndPoint.TryParse(binding.SourceAddress, out var endPoint))
        {
            return false;
        }

        var protocol = binding.Transport.Equals("TCP", StringComparison.OrdinalIgnoreCase) ? SipTransportProtocol.Tcp : SipTransportProtocol.Udp;
        destination = new SipDestination(protocol, endPoint);
        return true;
    }

    /// <summary>Sends a branch to its next destination through a new client transaction.</summary>
    internal async void SendBranch(ProxyBranch branch, TimeSpan? responseTimeout)
    {
        try
        {
            await SendBranchAsync(branch, responseTimeout);
        }
        catch (Exception ex)
        {
            _d.Logger.LogError(ex, "Forwarding a branch of {CallId} failed", branch.Call.CallId);
            branch.Call.OnBranchResponse(branch, 500, null);
        }
    }

    private async Task SendBranchAsync(ProxyBranch branch, TimeSpan? responseTimeout)
    {
        var call = branch.Call;
        while (branch.DestinationIndex < branch.Destinations.Count)
        {
            var destination = branch.Destinations[branch.DestinationIndex];
            var outFlow = await _d.Transports.GetFlowAsync(destination.Transport, destination.EndPoint, CancellationToken.None, call.Inbound.LocalEndPoint.Address);
            if (outFlow is null)
            {
                branch.DestinationIndex++;
                continue;
            }

            var branchId = Branches.New(call.LoopHash);
            var via = OurVia(outFlow, call.Inbound, branchId);
            var recordRoutes = call.IsInvite ? RecordRoutes(call.Inbound, outFlow) : [];
            if (call.Request is not { } request)
            {
                // The call was answered or finished meanwhile: nothing more is forwarded.
                call.OnBranchResponse(branch, 487, null);
                return;
            }

            var forwarded = SipRewriter.ForwardRequest(request, call.Inbound.RemoteEndPoint, call.Inbound.IsReliable, branch.RequestUri, via, call.Routes, recordRoutes, call.ConsumedCredentials);
            var packet = new SipPacket(null, forwarded.Bytes, outFlow, destination.EndPoint);
            var key = TransactionKey.ForClient(branchId, request.MethodName);
            ClientTransaction<SipPacket> transaction = call.IsInvite
                ? new ClientInviteTransaction<SipPacket>(_context, key, packet, outFlow.IsReliable)
                : new ClientNonInviteTransaction<SipPacket>(_context, key, packet, outFlow.IsReliable);
            transaction.UserData = branch;
            branch.Sent = forwarded;
            branch.Packet = packet;
            branch.Transaction = transaction;
            if (_clients.TryAdd(key, transaction) != TransactionAddResult.Added)
            {
                call.OnBranchResponse(branch, 503, null);
                return;
            }

            if (responseTimeout is { } timeout)
            {
                branch.ResponseTimer = _d.Wheel.Schedule(_ => OnResponseTimeout(branch, transaction), null, timeout);
            }

            transaction.Start();
            return;
        }

        call.OnBranchResponse(branch, branch.IsNatContact ? 480 : 503, null);
    }

    private void OnResponseTimeout(ProxyBranch branch, ClientTransaction<SipPacket> transaction)
    {
        if (branch.GotProvisional || branch.IsFinished || !ReferenceEquals(branch.Transaction, transaction))
        {
            return;
        }

        // Gateway failover: no answer at all in time counts as a failure of this destination.
        transaction.Abort();
        RetryOrFail(branch, 408);
    }

    private void RetryOrFail(ProxyBranch branch, int status)
    {
        if (!branch.GotProvisional && !branch.CancelWanted && branch.DestinationIndex + 1 < branch.Destinations.Count)
        {
            branch.DestinationIndex++;
            SendBranch(branch, null);
            return;
        }

        branch.Call.OnBranchResponse(branch, branch.IsNatContact && status != 503 ? 480 : status, null);
    }

    // Called by the SIP core for client transaction events.
    internal static void OnClientResponse(ClientTransaction<SipPacket> transaction, int status, SipPacket response)
    {
        if (transaction.UserData is ProxyBranch branch && ReferenceEquals(branch.Transaction, transaction))
        {
            branch.Call.OnBranchResponse(branch, status, response.Message);
        }
    }

    internal void OnClientTimeout(Transaction<SipPacket> transaction)
    {
        if (transaction.UserData is ProxyBranch branch && ReferenceEquals(branch.Transaction, transaction) && !branch.IsFinished)
        {
            RetryOrFail(branch, 408);
        }
    }

    internal void OnClientTransportError(Transaction<SipPacket> transaction)
    {
        if (transaction.UserData is ProxyBranch branch && ReferenceEquals(branch.Transaction, transaction) && !branch.IsFinished)
        {
            RetryOrFail(branch, 503);
        }
    }

    internal static void SendClientRequest(SipPacket packet)
    {
        var sending = packet.Flow.SendToAsync(packet.Bytes, packet.Target);
        if (!sending.IsCompleted)
        {
            _ = sending.AsTask();
        }
    }

    internal static void SendAck(ClientInviteTransaction<SipPacket> transaction, SipPacket finalResponse)
    {
        if (transaction.UserData is not ProxyBranch { Sent: { } sent, Packet: { } packet } || finalResponse.Message is null)
        {
            return;
        }

        var ack = SipRewriter.BuildAck(sent, finalResponse.Message);
        SendClientRequest(new SipPacket(null, ack, packet.Flow, packet.Target));
    }

    internal void SendCancel(ProxyBranch branch)
    {
        if (branch.Sent is not { } sent || branch.Packet is not { } packet || branch.Transaction is null)
        {
            return;
        }

        var cancelPacket = new SipPacket(null, SipRewriter.BuildCancel(sent), packet.Flow, packet.Target);
        var key = TransactionKey.ForClient(branch.Transaction.Key.Branch, "CANCEL");
        var cancel = new ClientNonInviteTransaction<SipPacket>(_context, key, cancelPacket, packet.Flow.IsReliable);
        if (_clients.TryAdd(key, cancel) == TransactionAddResult.Added)
        {
            cancel.Start();
        }
    }

    internal void ForwardProvisional(ProxyCall call, SipMessage response)
    {
        var bytes = SipRewriter.StripTopVia(response);
        call.Server.SendResponse(response.StatusCode, new SipPacket(null, bytes, call.Inbound, call.ResponseTarget));
        if (call.IsInvite && response.To?.Tag is { } toTag)
        {
            _d.Events.CallRinging(call.CallId, call.FromTag, toTag, _d.Time.GetUtcNow());
        }
    }

    internal void ForwardSuccess(ProxyCall call, SipMessage response, bool first)
    {
        var bytes = SipRewriter.StripTopVia(response);
        var packet = new SipPacket(null, bytes, call.Inbound, call.ResponseTarget);
        if (!call.Server.SendResponse(response.StatusCode, packet))
        {
            // The INVITE was already answered (e.g. 487 after CANCEL): a late 2xx still must reach the caller.
            SendClientRequest(packet);
        }

        if (first && call.IsInvite)
        {
            Interlocked.Decrement(ref _activeCalls);
            _d.Events.CallAnswered(call.CallId, call.FromTag, response.To?.Tag ?? string.Empty, _d.Time.GetUtcNow());
        }
    }

    internal void SendFinal(ProxyCall call, int status, SipMessage? response, bool noAnswer, bool cancelled)
    {
        byte[] bytes;
        if (response is not null)
        {
            // §16.7 step 6: a 503 from downstream must not make the caller think *we* are overloaded.
            bytes = status == 503 ? SipRewriter.StripTopVia(response, 500, "Server Internal Error") : SipRewriter.StripTopVia(response);
        }
        else
        {
            var reason = noAnswer ? "Temporarily Unavailable (no answer)" : ReasonFor(status);
            bytes = NewResponse(call.Request!, status, reason).ToBytes(call.Inbound.RemoteEndPoint);
        }

        call.Server.SendResponse(status, new SipPacket(null, bytes, call.Inbound, call.ResponseTarget));
        if (call.IsInvite)
        {
            Interlocked.Decrement(ref _activeCalls);
            _d.Events.CallFailed(call.CallId, call.FromTag, noAnswer ? 480 : status, cancelled, _d.Time.GetUtcNow());
        }
    }

    private static string ReasonFor(int status) => status switch
    {
        480 => "Temporarily Unavailable",
        408 => "Request Timeout",
        487 => "Request Terminated",
        503 => "Service Unavailable",
        _ => SipReasonPhrases.For(status),
    };

    private static string OurVia(SipFlow outFlow, SipFlow inbound, string branch)
    {
        var hostPort = LocalIdentity.HostPort(outFlow.LocalEndPoint, inbound.LocalEndPoint.Address);
        return $"SIP/2.0/{SipTransportProtocols.Token(outFlow.Protocol)} {hostPort};branch={branch};rport";
    }

    /// <summary>
    /// Our Record-Route: one entry, or two when the call enters and leaves on different transports
    /// or addresses (RFC 5658), the callee-facing one on top.
    /// </summary>
    private static List<string> RecordRoutes(SipFlow inbound, SipFlow outbound)
    {
        var callerSide = LocalIdentity.RecordRoute(LocalIdentity.HostPort(inbound.LocalEndPoint, inbound.LocalEndPoint.Address), inbound.Protocol);
        var calleeSide = LocalIdentity.RecordRoute(LocalIdentity.HostPort(outbound.LocalEndPoint, inbound.LocalEndPoint.Address), outbound.Protocol);
        return callerSide == calleeSide ? [callerSide] : [calleeSide, callerSide];
    }

    private static bool TryViaTarget(ViaHeader via, out SipTransportProtocol protocol, out IPEndPoint target)
    {
        protocol = via.Transport == "TCP" ? SipTransportProtocol.Tcp : SipTransportProtocol.Udp;
        target = null!;
        var host = via.Received ?? via.Host;
        host = host.StartsWith('[') ? host[1..^1] : host;
        if (!IPAddress.TryParse(host, out var address))
        {
            return false;
        }

        var port = SipParameters.Get(via.Parameters, "rport") is { } rport && int.TryParse(rport, out var p) ? p : via.Port == 0 ? 5060 : via.Port;
        target = new IPEndPoint(address, port);
        return true;
    }

    private SipResponse NewResponse(SipMessage request, int status, string reason)
        => new SipResponse(request, status, reason) { ToTag = Tags.New() }.AddHeader("Server", _d.ServerHeader);

    private void Reply(ServerTransaction<SipPacket> server, SipMessage request, SipFlow flow, int status, string reason)
        => Send(server, NewResponse(request, status, reason), flow);

    private static void Send(ServerTransaction<SipPacket> server, SipResponse response, SipFlow flow)
        => server.SendResponse(response.StatusCode, new SipPacket(null, response.ToBytes(flow.RemoteEndPoint), flow, SipServerCore.ResponseTarget(response.Request, flow)));

    private static async ValueTask SendStatelessAsync(SipResponse response, SipFlow flow)
        => await flow.SendToAsync(response.ToBytes(flow.RemoteEndPoint), SipServerCore.ResponseTarget(response.Request, flow));

    private static string Unescape(string user) => SipChars.TryUnescape(user, out var unescaped) ? unescaped : user;
}
