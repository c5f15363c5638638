using System.Net;

namespace Tandem.Cluster.Replication;

/// <summary>A peer to replicate with: its node id and the addresses to dial, tried in order.</summary>
public sealed record ReplicationPeerOptions(NodeId NodeId, IReadOnlyList<EndPoint> Endpoints);

/// <summary>Configuration of a <see cref="ReplicationNode"/>.</summary>
public sealed class ReplicationOptions
{
    public required NodeId NodeId { get; init; }

    /// <summary>Both ends must agree; part of the authenticated handshake.</summary>
    public required string ClusterName { get; init; }

    /// <summary>Shared cluster secret (at least 16 bytes; 32 random bytes recommended).</summary>
    public required byte[] Secret { get; init; }

    /// <summary>Where to accept replication connections; null for a node that only dials.</summary>
    public IPEndPoint? ListenEndPoint { get; init; }

    /// <summary>Peers known at start; more can be added with <see cref="ReplicationNode.AddPeer"/>.</summary>
    public IReadOnlyList<ReplicationPeerOptions> Peers { get; init; } = [];

    /// <summary>Largest frame accepted or sent (plaintext bytes). A record must fit in one frame.</summary>
    public int MaxFrameBytes { get; init; } = 1024 * 1024;

    /// <summary>Largest record value accepted.</summary>
    public int MaxValueBytes { get; init; } = 256 * 1024;

    /// <summary>
    /// Unacknowledged records kept per peer. When a peer falls further behind, its queue is dropped
    /// and it gets a full snapshot when it (re)connects.
    /// </summary>
    public int QueueCapacity { get; init; } = 100_000;

    /// <summary>How long a <see cref="Durability.Sync"/> publish waits for a peer's ack before it reports <see cref="PublishResult.TimedOut"/>.</summary>
    public TimeSpan SyncTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often each connection exchanges state digests (also the keep-alive).</summary>
    public TimeSpan DigestInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A connection that receives nothing for this long is closed (must exceed <see cref="DigestInterval"/>).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(3);

    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>First reconnect delay; doubles per failed round up to <see cref="ReconnectMaxDelay"/> (with jitter).</summary>
    public TimeSpan ReconnectInitialDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>See <see cref="ReplicatedStore.TombstoneRetention"/>.</summary>
    public TimeSpan TombstoneRetention { get; init; } = TimeSpan.FromHours(1);

    public TimeSpan PurgeInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// When the digests of this node and a peer differ and neither changes for this many consecutive
    /// exchanges, this node re-sends the records of the differing buckets to the peer (anti-entropy).
    /// 0 disables repair.
    /// </summary>
    public int RepairAfterStableMismatches { get; init; } = 3;

    /// <summary>Unauthenticated connections handled at once; more are closed at accept.</summary>
    public int MaxPendingHandshakes { get; init; } = 32;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    internal void Validate()
    {
        if (string.IsNullOrEmpty(NodeId.Value))
        {
            throw new ArgumentException("NodeId is required.");
        }

        if (string.IsNullOrEmpty(ClusterName))
        {
            throw new ArgumentException("ClusterName is required.");
        }

        if (Secret is null || Secret.Length < 16)
        {
            throw new ArgumentException("The cluster secret must be at least 16 bytes.");
        }

        if (MaxValueBytes + 4096 > MaxFrameBytes)
        {
            throw new ArgumentException("MaxFrameBytes must exceed MaxValueBytes by at least 4096 (record header).");
        }

        if (IdleTimeout <= DigestInterval)
        {
            throw new ArgumentException("IdleTimeout must be longer than DigestInterval.");
        }

        if (QueueCapacity < 1)
        {
            throw new ArgumentException("QueueCapacity must be positive.");
        }
    }
}

/// <summary>How long <see cref="ReplicationNode.PublishAsync"/> waits.</summary>
public enum Durability
{
    /// <summary>Return once the record is applied locally and queued for every peer.</summary>
    Async,

    /// <summary>Also wait until at least one peer has acknowledged it (bounded by <see cref="ReplicationOptions.SyncTimeout"/>).</summary>
    Sync,
}

/// <summary>What a publish achieved. In every case but <see cref="Superseded"/> the record is applied locally and queued.</summary>
public enum PublishResult
{
    /// <summary>Async publish: applied locally and queued for the peers.</summary>
    Queued,

    /// <summary>Sync publish: a peer has applied it.</summary>
    Acknowledged,

    /// <summary>Sync publish, but no peer was connected: it was treated as async (nothing to wait for).</summary>
    Degraded,

    /// <summary>Sync publish: no peer acknowledged within the sync timeout; the record stays queued.</summary>
    TimedOut,

    /// <summary>The store already held this version or a newer one: nothing changed, nothing was sent.</summary>
    Superseded,
}

/// <summary>Replication state towards one peer (lag and convergence).</summary>
public sealed record PeerStatus(
    NodeId Peer,
    bool OutboundConnected,
    bool InboundConnected,
    EndPoint? ConnectedEndPoint,
    long QueuedRecords,
    ulong LastSentSeq,
    ulong LastAckedSeq,
    DateTimeOffset? LastAckAt,
    DateTimeOffset? LastDigestAt,
    bool Converged,
    long Connects,
    long SnapshotsSent,
    long SnapshotsReceived,
    long Overflows,
    long RepairsSent);
