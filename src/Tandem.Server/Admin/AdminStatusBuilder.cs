using System.Globalization;
using Tandem.Cluster;
using Tandem.Cluster.Membership;
using Tandem.Cluster.Replication;
using Tandem.Server.Config;

namespace Tandem.Server.Admin;

/// <summary>
/// Builds <see cref="AdminStatus"/> from a running server: reads counters, the published membership
/// view and the replication engine's status. Runs per admin request, never on the SIP path.
/// </summary>
public static class AdminStatusBuilder
{
    public static AdminStatus Build(TandemServer server, string version, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(server);
        var options = server.Options;
        var host = server.ClusterHost;
        var core = server.Core?.Counters;
        var sip = new SipStatus(
            [.. server.ListeningOn.Select(l => $"{l.Protocol.ToString().ToLowerInvariant()}:{l.EndPoint}")],
            server.Locations.AorCount,
            server.Locations.BindingCount,
            server.ActiveDialogs,
            core?.Requests ?? 0,
            core?.ResponsesSent ?? 0,
            (core?.MalformedDropped ?? 0) + server.TransportCounters.FramingErrors);

        var cluster = host is null ? null : Cluster(host, options, now);
        var replication = server.Replication is { } bridge ? Replication(bridge, options, now) : null;
        return new AdminStatus(
            version,
            options.Cluster.NodeId ?? Environment.MachineName,
            options.Cluster.Enabled ? "cluster" : "standalone",
            now,
            Math.Round((now - server.StartedAt).TotalSeconds, 3),
            Path.GetFullPath(options.DataDir),
            sip,
            cluster,
            replication,
            host?.History.Snapshot() ?? []);
    }

    /// <summary>The membership part, also used by <c>tandem witness</c> (no addresses, no replication there).</summary>
    public static ClusterStatus Cluster(MembershipView view, IReadOnlyList<Tandem.Cluster.Membership.ServiceAddress> configured, IReadOnlyCollection<string> held,
        bool fencing, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(configured);
        ArgumentNullException.ThrowIfNull(held);
        var members = view.Members.Select(m => new MemberStatus(
            m.Id.Value,
            m.Role == MemberRole.Witness ? "witness" : "node",
            StateName(m.State),
            m.HealthScore,
            m.ReportsQuorum,
            m.LastHeard is { } heard ? (long)Math.Max(0, (now - heard).TotalMilliseconds) : null,
            [.. m.LinksUp.Select((up, i) => new LinkStatus(i, up))],
            m.Holds,
            ClusterHistory.KebabCase(m.Fence.ToString()),
            m.FenceDetail)).ToList();

        var addresses = configured.Select(a =>
        {
            var claimedBy = view.Members.Where(m => m.Holds.Contains(a.Address)).Select(m => m.Id.Value).ToList();
            var heldHere = held.Contains(a.Address);
            return new AddressStatus(a.Address, a.Interface, [.. a.Preference.Select(p => p.Value)], view.Owns(a.Address), heldHere, claimedBy,
                heldHere ? view.Self.Value : claimedBy.FirstOrDefault());
        }).ToList();

        var needed = view.Voters / 2 + 1;
        return new ClusterStatus(view.Self.Value, view.Epoch, view.Healthy, view.HealthScore, view.Leaving,
            new QuorumStatus(view.HasQuorum, view.VotersUp, view.Voters, needed), members, addresses, fencing);
    }

    private static ClusterStatus Cluster(Cluster.ClusterHost host, TandemOptions options, DateTimeOffset now)
    {
        var configured = options.Cluster.ServiceAddresses
            .Select(a => new Tandem.Cluster.Membership.ServiceAddress(a.ToString(), a.Interface, [.. a.Preference.Select(p => new NodeId(p))]))
            .ToList();
        return Cluster(host.Membership.View, configured, host.Held, options.Cluster.FencingCommand is not null, now);
    }

    private static ReplicationStatus Replication(Cluster.ReplicationBridge bridge, TandemOptions options, DateTimeOffset now)
    {
        var node = bridge.Node;
        var peers = node.GetPeerStatus();
        var local = node.Store.StateDigest();
        var remote = peers.ToDictionary(p => p.Peer.Value, p => node.RemoteDigest(p.Peer), StringComparer.Ordinal);
        var kinds = local.Kinds.Keys.Concat(remote.Values.SelectMany(d => d?.Kinds.Keys ?? [])).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var kindStatus = kinds.Select(kind =>
        {
            local.Kinds.TryGetValue(kind, out var mine);
            var perPeer = peers.Select(p =>
            {
                var digest = remote[p.Peer.Value];
                if (digest is null)
                {
                    return new PeerDigestStatus(p.Peer.Value, null, null, false);
                }

                digest.Kinds.TryGetValue(kind, out var theirs);
                var matches = (mine?.Value ?? 0) == (theirs?.Value ?? 0) && (mine?.Count ?? 0) == (theirs?.Count ?? 0);
                return new PeerDigestStatus(p.Peer.Value, theirs?.Count ?? 0, Hex(theirs?.Value ?? 0), matches);
            }).ToList();
            return new KindDigestStatus(kind, mine?.Count ?? 0, Hex(mine?.Value ?? 0), perPeer);
        }).ToList();

        return new ReplicationStatus(
            node.ListenEndPoint?.ToString(),
            options.Cluster.ReplicationMode == ReplicationMode.Sync ? "sync" : "async",
            node.IsConvergedWithAll,
            new DigestStatus(Hex(local.Combined), kindStatus),
            [.. peers.Select(p => new ReplicationPeerStatus(
                p.Peer.Value,
                p.OutboundConnected,
                p.InboundConnected,
                p.ConnectedEndPoint?.ToString(),
                p.LastSentSeq,
                p.LastAckedSeq,
                p.QueuedRecords,
                AgeMs(p.LastAckAt, now),
                AgeMs(p.LastDigestAt, now),
                p.Converged,
                p.Connects,
                p.SnapshotsSent,
                p.SnapshotsReceived,
                p.Overflows,
                p.RepairsSent))],
            node.ProtocolErrors,
            node.AuthenticationFailures,
            bridge.RegistersAcknowledged,
            bridge.RegistersDegraded,
            bridge.RegistersTimedOut);
    }

    private static long? AgeMs(DateTimeOffset? at, DateTimeOffset now) => at is { } t ? (long)Math.Max(0, (now - t).TotalMilliseconds) : null;

    private static string Hex(ulong value) => value.ToString("x16", CultureInfo.InvariantCulture);

    private static string StateName(MemberState state) => state switch
    {
        MemberState.Up => "up",
        MemberState.Down => "down",
        MemberState.HeldDown => "held-down",
        MemberState.Leaving => "leaving",
        _ => "unknown",
    };
}
