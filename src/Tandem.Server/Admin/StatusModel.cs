using System.Text.Json.Serialization;

namespace Tandem.Server.Admin;

// The JSON of GET /v1/status and `tandem cluster status --json` (docs/cluster.md, "Status JSON").
// Field names are camelCase and stable: add fields, never rename or remove them.

/// <summary>One node's view of itself and the cluster.</summary>
/// <param name="Mode"><c>standalone</c>, <c>cluster</c> (a node) or <c>witness</c>.</param>
public sealed record AdminStatus(
    string Version,
    string Node,
    string Mode,
    DateTimeOffset At,
    double UptimeSeconds,
    string DataDir,
    SipStatus Sip,
    ClusterStatus? Cluster,
    ReplicationStatus? Replication,
    IReadOnlyList<HistoryEntry> History);

public sealed record SipStatus(
    IReadOnlyList<string> Listening,
    int Aors,
    long Bindings,
    int ActiveDialogs,
    long RequestsReceived,
    long ResponsesSent,
    long PacketsDropped);

public sealed record ClusterStatus(
    string Self,
    long Epoch,
    bool Healthy,
    int HealthScore,
    bool Leaving,
    QuorumStatus Quorum,
    IReadOnlyList<MemberStatus> Members,
    IReadOnlyList<AddressStatus> Addresses,
    bool FencingConfigured);

/// <param name="VotesSeen">Voters counted as up, this node included.</param>
/// <param name="Needed">Strict majority of <paramref name="Voters"/> (a two-node cluster allowed to run alone has quorum with 1).</param>
public sealed record QuorumStatus(bool Has, int VotesSeen, int Voters, int Needed);

/// <param name="State"><c>unknown</c>, <c>up</c>, <c>held-down</c>, <c>down</c> or <c>leaving</c>.</param>
/// <param name="Claims">The service addresses it says it holds (heard in its heartbeats; empty when not heard).</param>
/// <param name="Fence"><c>none</c>, <c>running</c>, <c>fenced</c> or <c>failed</c>.</param>
public sealed record MemberStatus(
    string Id,
    string Role,
    string State,
    int HealthScore,
    bool ReportsQuorum,
    long? LastHeardMsAgo,
    IReadOnlyList<LinkStatus> Links,
    IReadOnlyList<string> Claims,
    string Fence,
    string? FenceDetail);

public sealed record LinkStatus(int Index, bool Up);

/// <param name="OwnedHere">This node's membership engine decided to hold it.</param>
/// <param name="HeldHere">It is on this node's interface now.</param>
/// <param name="ClaimedBy">Peers whose heartbeats claim it.</param>
/// <param name="Holder">Who holds it as this node sees it: this node if held here, else the first claimant; null when nobody.</param>
public sealed record AddressStatus(
    string Address,
    string? Interface,
    IReadOnlyList<string> Preference,
    bool OwnedHere,
    bool HeldHere,
    IReadOnlyList<string> ClaimedBy,
    string? Holder);

public sealed record ReplicationStatus(
    string? Listen,
    string Mode,
    bool Converged,
    DigestStatus Digest,
    IReadOnlyList<ReplicationPeerStatus> Peers,
    long ProtocolErrors,
    long AuthenticationFailures,
    long RegistersAcknowledged,
    long RegistersDegraded,
    long RegistersTimedOut);

/// <param name="Connected">This node's stream to the peer is connected (it dials every peer).</param>
/// <param name="InboundConnected">The peer's stream to this node is connected.</param>
/// <param name="RecordsSent">Sequence number of the last record sent on the stream (per sender epoch).</param>
/// <param name="RecordsAcked">Sequence number the peer acknowledged up to.</param>
/// <param name="Lag">Records queued for the peer and not acknowledged yet.</param>
public sealed record ReplicationPeerStatus(
    string Peer,
    bool Connected,
    bool InboundConnected,
    string? EndPoint,
    ulong RecordsSent,
    ulong RecordsAcked,
    long Lag,
    long? LastAckMsAgo,
    long? LastDigestMsAgo,
    bool Converged,
    long Connects,
    long SnapshotsSent,
    long SnapshotsReceived,
    long Overflows,
    long RepairsSent);

/// <param name="Combined">16 hex digits; equal on two nodes holding the same live records.</param>
public sealed record DigestStatus(string Combined, IReadOnlyList<KindDigestStatus> Kinds);

/// <param name="Kind">Record kind: <c>binding</c>, <c>dialog</c>, …</param>
/// <param name="Count">Live records of the kind here.</param>
/// <param name="Hash">16 hex digits over the kind's live records.</param>
public sealed record KindDigestStatus(string Kind, long Count, string Hash, IReadOnlyList<PeerDigestStatus> Peers);

/// <param name="Count">Live records the peer reported in its last digest; null before its first digest.</param>
public sealed record PeerDigestStatus(string Peer, long? Count, string? Hash, bool Matches);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(AdminStatus))]
public sealed partial class AdminJsonContext : JsonSerializerContext;
