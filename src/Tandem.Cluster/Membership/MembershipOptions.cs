using System.Net;

namespace Tandem.Cluster.Membership;

/// <summary>
/// What the membership engine of one node (or of the witness) needs to know. The server maps its
/// <c>cluster:</c> configuration section to this; Tandem.Cluster knows nothing of the config file.
/// </summary>
/// <remarks>
/// Link <c>i</c> pairs local socket <see cref="Listen"/>[i] with each peer's <see cref="PeerOptions.Addresses"/>[i];
/// with a single listen socket every link is sent from it. The witness is reached on link 0.
/// </remarks>
public sealed record MembershipOptions
{
    public const int DefaultHeartbeatIntervalMs = 30;
    public const int DefaultHeartbeatMisses = 4;

    /// <summary>The most members (nodes and witness) a cluster can have; holdings travel as a 64-bit mask, ids are short.</summary>
    public const int MaxMembers = 16;

    /// <summary>The most service addresses (bits of the holdings mask).</summary>
    public const int MaxServiceAddresses = 64;

    /// <summary>Longest node id in bytes (UTF-8); ids are sent in every heartbeat.</summary>
    public const int MaxNodeIdLength = 32;

    public required NodeId Self { get; init; }

    /// <summary>The other nodes (never this node, never the witness).</summary>
    public required IReadOnlyList<PeerOptions> Peers { get; init; }

    /// <summary>Local UDP endpoints to bind, one per link (port 0 lets the OS choose; tests).</summary>
    public required IReadOnlyList<IPEndPoint> Listen { get; init; }

    /// <summary>Shared secret for HMAC-SHA256; every member must have the same bytes.</summary>
    public required byte[] Secret { get; init; }

    /// <summary>The vote-only witness, if any. When <see cref="Self"/> is its id, this process is the witness.</summary>
    public WitnessOptions? Witness { get; init; }

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(DefaultHeartbeatIntervalMs);

    /// <summary>A link is down after this many intervals without a heartbeat; a peer is down when all its links are.</summary>
    public int HeartbeatMisses { get; init; } = DefaultHeartbeatMisses;

    /// <summary>A two-node cluster without a witness keeps quorum alone when its peer is dead (risk: split brain on a partition).</summary>
    public bool AllowTwoNodeWithoutWitness { get; init; }

    public IReadOnlyList<ServiceAddress> ServiceAddresses { get; init; } = [];

    public FailbackOptions Failback { get; init; } = new();

    /// <summary>Fence a node that died holding addresses before taking them over; null = no fencing.</summary>
    public FencingOptions? Fencing { get; init; }

    /// <summary>How often the <see cref="IHealthProbe"/> runs.</summary>
    public TimeSpan HealthInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A probe that has not answered in this time counts as failed.</summary>
    public TimeSpan HealthTimeout { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Consecutive failed probes before this node says it is unhealthy (and gives up its addresses).</summary>
    public int HealthFailures { get; init; } = 2;

    /// <summary>Consecutive good probes before an unhealthy node says it is healthy again.</summary>
    public int HealthRecoveries { get; init; } = 3;

    /// <summary>Time after which a silent link is down: <see cref="HeartbeatMisses"/> × <see cref="HeartbeatInterval"/>.</summary>
    public TimeSpan DetectionTime => HeartbeatInterval * HeartbeatMisses;

    public bool IsWitness => Witness is { } w && w.Id == Self;

    /// <summary>Members that vote: every node (this one included) and the witness.</summary>
    public int VoterCount => 1 + Peers.Count + (Witness is not null && !IsWitness ? 1 : 0);

    /// <summary>Throws <see cref="ArgumentException"/> when the options cannot work (the config loader reports the same problems with lines).</summary>
    public void Validate()
    {
        var ids = new HashSet<NodeId> { Self };
        foreach (var peer in Peers)
        {
            if (!ids.Add(peer.Id))
            {
                throw new ArgumentException($"node id '{peer.Id}' is used twice");
            }

            if (peer.Addresses.Count == 0)
            {
                throw new ArgumentException($"peer '{peer.Id}' has no address");
            }

            if (Listen.Count > 1 && peer.Addresses.Count > Listen.Count)
            {
                throw new ArgumentException($"peer '{peer.Id}' has {peer.Addresses.Count} addresses but there are only {Listen.Count} listen sockets");
            }
        }

        if (Witness is { } witness && !IsWitness && !ids.Add(witness.Id))
        {
            throw new ArgumentException($"witness id '{witness.Id}' is also a node id");
        }

        foreach (var id in ids)
        {
            if (id.Value.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(id.Value) > MaxNodeIdLength)
            {
                throw new ArgumentException($"node id '{id}' must be 1..{MaxNodeIdLength} bytes");
            }
        }

        if (ids.Count > MaxMembers)
        {
            throw new ArgumentException($"at most {MaxMembers} members");
        }

        if (Listen.Count == 0)
        {
            throw new ArgumentException("at least one listen endpoint is needed");
        }

        if (Secret.Length < 16)
        {
            throw new ArgumentException("the secret must be at least 16 bytes");
        }

        if (HeartbeatInterval <= TimeSpan.Zero || HeartbeatMisses < 1)
        {
            throw new ArgumentException("heartbeat interval and misses must be positive");
        }

        if (ServiceAddresses.Count > MaxServiceAddresses)
        {
            throw new ArgumentException($"at most {MaxServiceAddresses} service addresses");
        }

        if (!IsWitness && Witness is null && Peers.Count == 1 && !AllowTwoNodeWithoutWitness)
        {
            throw new ArgumentException("a two-node cluster needs a witness or AllowTwoNodeWithoutWitness");
        }
    }
}

/// <summary>Another node and its heartbeat addresses, one per link.</summary>
public sealed record PeerOptions(NodeId Id, IReadOnlyList<IPEndPoint> Addresses);

/// <summary>The vote-only witness and the address it listens on.</summary>
public sealed record WitnessOptions(NodeId Id, IPEndPoint Address);

/// <summary>
/// A service address (virtual IP) as configured: <c>198.18.0.100/24</c> on interface <c>br-svc</c>,
/// held by the first healthy node of <see cref="Preference"/> (subject to the failback policy).
/// Nodes not in the list never hold it.
/// </summary>
public sealed record ServiceAddress(string Address, string? Interface, IReadOnlyList<NodeId> Preference)
{
    public override string ToString() => Interface is null ? Address : $"{Address} on {Interface}";
}

public enum FailbackPolicy
{
    /// <summary>A more preferred node takes its address back once it has been up and healthy for the delay.</summary>
    Preempt,

    /// <summary>An address stays where it is while its holder is up and healthy.</summary>
    Sticky,
}

public sealed record FailbackOptions
{
    public FailbackPolicy Policy { get; init; } = FailbackPolicy.Preempt;

    public TimeSpan Delay { get; init; } = TimeSpan.FromSeconds(30);
}
