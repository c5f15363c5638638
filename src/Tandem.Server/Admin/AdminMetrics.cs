using System.Globalization;
using System.Text;

namespace Tandem.Server.Admin;

/// <summary>
/// <c>GET /metrics</c> in the Prometheus text exposition format (version 0.0.4). Names are
/// <c>tandem_*</c>; counters end in <c>_total</c>. Built from the same snapshot as <c>/v1/status</c>
/// plus the server's counters, per scrape.
/// </summary>
public static class AdminMetrics
{
    public static string Render(TandemServer server, AdminStatus status)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(status);
        var text = new StringBuilder(4096);
        var core = server.Core?.Counters;
        var transport = server.TransportCounters;
        Gauge(text, "tandem_up", "1 while the node runs.", 1);
        Gauge(text, "tandem_uptime_seconds", "Seconds since the node started.", status.UptimeSeconds);
        Counter(text, "tandem_sip_requests_received_total", "SIP requests received (retransmissions included).", core?.Requests ?? 0);
        Counter(text, "tandem_sip_responses_sent_total", "SIP responses sent by the server core.", core?.ResponsesSent ?? 0);
        Counter(text, "tandem_sip_retransmissions_absorbed_total", "Request retransmissions answered from the transaction layer.", core?.RetransmissionsAbsorbed ?? 0);
        Counter(text, "tandem_sip_overload_rejected_total", "Requests answered 503 because of the transaction or call limits.", core?.OverloadRejected ?? 0);
        Counter(text, "tandem_sip_stray_responses_total", "Responses matching no transaction.", core?.StrayResponses ?? 0);
        Counter(text, "tandem_sip_malformed_answered_total", "Malformed requests answered 400.", core?.MalformedAnswered ?? 0);
        text.Append("# HELP tandem_packets_dropped_total Packets dropped: malformed SIP, TCP framing errors.\n# TYPE tandem_packets_dropped_total counter\n");
        Sample(text, "tandem_packets_dropped_total", "reason=\"malformed\"", core?.MalformedDropped ?? 0);
        Sample(text, "tandem_packets_dropped_total", "reason=\"framing\"", transport.FramingErrors);
        Counter(text, "tandem_transport_datagrams_received_total", "UDP datagrams received.", transport.DatagramsReceived);
        Counter(text, "tandem_transport_stream_messages_received_total", "SIP messages received over TCP.", transport.StreamMessagesReceived);
        Counter(text, "tandem_transport_send_failures_total", "Sends that failed.", transport.SendFailures);
        Gauge(text, "tandem_registrar_aors", "Addresses of record with at least one binding.", status.Sip.Aors);
        Gauge(text, "tandem_registrar_bindings", "Registrar bindings (contacts) held.", status.Sip.Bindings);
        Gauge(text, "tandem_dialogs_active", "Calls being set up or established.", status.Sip.ActiveDialogs);

        if (status.Cluster is { } cluster && server.ClusterHost is { } host)
        {
            Gauge(text, "tandem_cluster_healthy", "1 when this node's own SIP health check passes.", cluster.Healthy ? 1 : 0);
            Membership(text, cluster);
            Gauge(text, "tandem_cluster_addresses_held", "Service addresses on this node's interfaces.", cluster.Addresses.Count(a => a.HeldHere));
            Gauge(text, "tandem_cluster_addresses_owned", "Service addresses this node decided to hold.", cluster.Addresses.Count(a => a.OwnedHere));
            Counter(text, "tandem_cluster_failovers_total", "Service addresses this node took (after a failure, a handover or at start).", host.Acquisitions);
            Counter(text, "tandem_cluster_peer_down_total", "Peers declared down.", host.PeerDowns);
            text.Append("# HELP tandem_cluster_fences_total Fencing commands run, by result.\n# TYPE tandem_cluster_fences_total counter\n");
            Sample(text, "tandem_cluster_fences_total", "result=\"succeeded\"", host.FencesSucceeded);
            Sample(text, "tandem_cluster_fences_total", "result=\"failed\"", host.FencesFailed);
        }

        if (status.Replication is { } replication)
        {
            Gauge(text, "tandem_replication_converged", "1 when every peer's last digest equals this node's.", replication.Converged ? 1 : 0);
            Counter(text, "tandem_replication_protocol_errors_total", "Replication connections closed for a protocol error.", replication.ProtocolErrors);
            Counter(text, "tandem_replication_auth_failures_total", "Replication handshakes refused.", replication.AuthenticationFailures);
            Counter(text, "tandem_replication_sync_degraded_total", "Sync-mode REGISTERs answered with no peer connected.", replication.RegistersDegraded);
            Counter(text, "tandem_replication_sync_timed_out_total", "Sync-mode REGISTERs answered after the sync timeout.", replication.RegistersTimedOut);
            PerPeer(text, "tandem_replication_peer_connected", "gauge", "1 while this node's stream to the peer is connected.", replication, p => p.Connected ? 1 : 0);
            PerPeer(text, "tandem_replication_lag_records", "gauge", "Records queued for the peer and not acknowledged.", replication, p => p.Lag);
            PerPeer(text, "tandem_replication_records_sent", "gauge", "Sequence number of the last record sent to the peer (restarts with a new stream epoch).", replication, p => (double)p.RecordsSent);
            PerPeer(text, "tandem_replication_records_acked", "gauge", "Sequence number the peer acknowledged up to.", replication, p => (double)p.RecordsAcked);
            PerPeer(text, "tandem_replication_last_ack_age_seconds", "gauge", "Seconds since the peer's last ack (absent before the first).", replication,
                p => p.LastAckMsAgo is { } ms ? ms / 1000.0 : double.NaN);
            PerPeer(text, "tandem_replication_peer_converged", "gauge", "1 when the peer's last digest equals this node's.", replication, p => p.Converged ? 1 : 0);
            PerPeer(text, "tandem_replication_snapshots_sent_total", "counter", "Full snapshots sent to the peer.", replication, p => p.SnapshotsSent);
            text.Append("# HELP tandem_replication_records Live replicated records, by kind.\n# TYPE tandem_replication_records gauge\n");
            foreach (var kind in replication.Digest.Kinds)
            {
                Sample(text, "tandem_replication_records", $"kind=\"{Escape(kind.Kind)}\"", kind.Count);
            }
        }

        return text.ToString();
    }

    /// <summary>The metrics of <c>tandem witness</c>: membership only.</summary>
    public static string RenderWitness(AdminStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var text = new StringBuilder(1024);
        Gauge(text, "tandem_up", "1 while the node runs.", 1);
        Gauge(text, "tandem_uptime_seconds", "Seconds since the node started.", status.UptimeSeconds);
        if (status.Cluster is { } cluster)
        {
            Membership(text, cluster);
        }

        return text.ToString();
    }

    private static void Membership(StringBuilder text, ClusterStatus cluster)
    {
        Gauge(text, "tandem_cluster_has_quorum", "1 while this member sees a majority of the voters.", cluster.Quorum.Has ? 1 : 0);
        Gauge(text, "tandem_cluster_voters_up", "Voters seen up, this member included.", cluster.Quorum.VotesSeen);
        Gauge(text, "tandem_cluster_voters", "Voters configured (nodes and witness).", cluster.Quorum.Voters);
        Gauge(text, "tandem_cluster_peers_up", "Other members (nodes and witness) up.", cluster.Members.Count(m => m.State == "up"));
        text.Append("# HELP tandem_cluster_member_up 1 when the member is up.\n# TYPE tandem_cluster_member_up gauge\n");
        foreach (var m in cluster.Members)
        {
            Sample(text, "tandem_cluster_member_up", $"member=\"{Escape(m.Id)}\",role=\"{m.Role}\"", m.State == "up" ? 1 : 0);
        }

        text.Append("# HELP tandem_cluster_link_up 1 when heartbeats arrive on the link.\n# TYPE tandem_cluster_link_up gauge\n");
        foreach (var m in cluster.Members)
        {
            foreach (var link in m.Links)
            {
                Sample(text, "tandem_cluster_link_up", $"member=\"{Escape(m.Id)}\",link=\"{link.Index}\"", link.Up ? 1 : 0);
            }
        }
    }

    private static void PerPeer(StringBuilder text, string name, string type, string help, ReplicationStatus replication, Func<ReplicationPeerStatus, double> value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        foreach (var peer in replication.Peers)
        {
            var v = value(peer);
            if (!double.IsNaN(v))
            {
                Sample(text, name, $"peer=\"{Escape(peer.Peer)}\"", v);
            }
        }
    }

    private static void Counter(StringBuilder text, string name, string help, double value) => Single(text, name, "counter", help, value);

    private static void Gauge(StringBuilder text, string name, string help, double value) => Single(text, name, "gauge", help, value);

    private static void Single(StringBuilder text, string name, string type, string help, double value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        Sample(text, name, null, value);
    }

    private static void Sample(StringBuilder text, string name, string? labels, double value)
    {
        text.Append(name);
        if (labels is not null)
        {
            text.Append('{').Append(labels).Append('}');
        }

        text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
