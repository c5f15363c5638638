using System.Globalization;
using System.Net;
using System.Text;
using Tandem.Cluster;
using Tandem.Cluster.Membership;

namespace Tandem.Server.Config;

/// <summary>
/// The <c>cluster:</c> section. Absent (no <c>node-id</c>): a standalone node, the default. See
/// docs/cluster.md for the design and docs/configuration.md for the keys.
/// </summary>
public sealed record ClusterOptions
{
    public const int DefaultPort = 7946;

    /// <summary>This node's id; null = standalone. When it equals <see cref="Witness"/>'s id this file configures the witness.</summary>
    public string? NodeId { get; init; }

    /// <summary>Heartbeat HMAC key (≥ 16 characters); or <see cref="SecretFile"/>.</summary>
    public string? Secret { get; init; }

    /// <summary>File holding the secret (surrounding whitespace trimmed), relative to the working directory.</summary>
    public string? SecretFile { get; init; }

    /// <summary>Local heartbeat endpoints, one per link.</summary>
    public IReadOnlyList<IPEndPoint> Listen { get; init; } = [];

    /// <summary>The other nodes.</summary>
    public IReadOnlyList<ClusterPeer> Peers { get; init; } = [];

    public ClusterWitness? Witness { get; init; }

    public int HeartbeatIntervalMs { get; init; } = MembershipOptions.DefaultHeartbeatIntervalMs;

    public int HeartbeatMisses { get; init; } = MembershipOptions.DefaultHeartbeatMisses;

    public bool AllowTwoNodeWithoutWitness { get; init; }

    public IReadOnlyList<ClusterServiceAddress> ServiceAddresses { get; init; } = [];

    public FailbackPolicy FailbackPolicy { get; init; } = FailbackPolicy.Preempt;

    public int FailbackDelayMs { get; init; } = 30_000;

    /// <summary>Run (through <c>/bin/sh -c</c>) before taking over a dead node's addresses; null = no fencing.</summary>
    public string? FencingCommand { get; init; }

    /// <summary>A fencing command still running after this is killed and counts as failed.</summary>
    public int FencingTimeoutMs { get; init; } = FencingOptions.DefaultTimeoutMs;

    public int HealthIntervalMs { get; init; } = 100;

    public int HealthTimeoutMs { get; init; } = 250;

    public ReplicationMode ReplicationMode { get; init; } = ReplicationMode.Sync;

    /// <summary>Where the replication engine listens; null = not configured (no state replication).</summary>
    public IPEndPoint? ReplicationListen { get; init; }

    public const int DefaultReplicationSyncTimeoutMs = 1000;

    /// <summary>How long a sync-mode change waits for a peer's ack (<c>cluster.replication.sync-timeout-ms</c>).</summary>
    public int ReplicationSyncTimeoutMs { get; init; } = DefaultReplicationSyncTimeoutMs;

    /// <summary>State replication runs on a node (not the witness) whose <c>cluster.replication.listen</c> is set.</summary>
    public bool ReplicationEnabled => Enabled && !IsWitness && ReplicationListen is not null;

    public bool Enabled => NodeId is not null;

    public bool IsWitness => Enabled && Witness?.Id == NodeId;

    /// <summary>The secret's bytes: <see cref="Secret"/>, or the trimmed content of <see cref="SecretFile"/>.</summary>
    public byte[] ReadSecret()
    {
        var text = Secret ?? File.ReadAllText(SecretFile ?? throw new InvalidOperationException("cluster.secret or cluster.secret-file is required")).Trim();
        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>
    /// The options of the membership engine (<see cref="MembershipService"/>, or <see cref="WitnessService"/>
    /// when <see cref="IsWitness"/>). Reads the secret file. Only for a validated, enabled section.
    /// </summary>
    public MembershipOptions ToMembershipOptions()
    {
        if (NodeId is null)
        {
            throw new InvalidOperationException("the cluster section is not configured (cluster.node-id)");
        }

        var witness = Witness is { } w ? new WitnessOptions(new NodeId(w.Id), w.Address) : null;
        return new MembershipOptions
        {
            Self = new NodeId(NodeId),
            Peers = [.. Peers.Select(p => new PeerOptions(new NodeId(p.Id), p.Addresses))],
            Listen = IsWitness && Listen.Count == 0 ? [Witness!.Address] : Listen,
            Secret = ReadSecret(),
            Witness = witness,
            HeartbeatInterval = TimeSpan.FromMilliseconds(HeartbeatIntervalMs),
            HeartbeatMisses = HeartbeatMisses,
            AllowTwoNodeWithoutWitness = AllowTwoNodeWithoutWitness,
            ServiceAddresses = [.. ServiceAddresses.Select(a => new ServiceAddress(a.ToString(), a.Interface, [.. a.Preference.Select(p => new NodeId(p))]))],
            Failback = new FailbackOptions { Policy = FailbackPolicy, Delay = TimeSpan.FromMilliseconds(FailbackDelayMs) },
            HealthInterval = TimeSpan.FromMilliseconds(HealthIntervalMs),
            HealthTimeout = TimeSpan.FromMilliseconds(HealthTimeoutMs),
            Fencing = FencingCommand is { } command ? new FencingOptions(command, TimeSpan.FromMilliseconds(FencingTimeoutMs)) : null,
        };
    }
}

/// <summary>Another node (<c>cluster.peers[i]</c>) and its heartbeat addresses, one per link.</summary>
public sealed record ClusterPeer(string Id, IReadOnlyList<IPEndPoint> Addresses)
{
    /// <summary>The peer's replication endpoint (<c>cluster.peers[i].replication</c>); required when replication is on.</summary>
    public IPEndPoint? Replication { get; init; }

    public override string ToString() => $"{Id} ({string.Join(", ", Addresses)}{(Replication is null ? "" : $"; replication {Replication}")})";
}

/// <summary><c>cluster.witness</c>: the vote-only member.</summary>
public sealed record ClusterWitness(string Id, IPEndPoint Address)
{
    public override string ToString() => $"{Id} ({Address})";
}

/// <summary>A service address (<c>cluster.service-addresses[i]</c>): <c>198.18.0.100/24</c> on an interface, with its node preference.</summary>
public sealed record ClusterServiceAddress(IPAddress Address, int PrefixLength, string Interface, IReadOnlyList<string> Preference)
{
    public override string ToString() => $"{Address}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";
}

public enum ReplicationMode
{
    /// <summary>Acknowledge at once, replicate in the background (a crash can lose the last changes).</summary>
    Async,

    /// <summary>Acknowledge a change only once a peer holds it.</summary>
    Sync,
}
