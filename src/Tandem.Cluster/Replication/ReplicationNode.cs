using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tandem.Cluster.Replication;

/// <summary>
/// Replicates a <see cref="ReplicatedStore"/> with the other cluster nodes over authenticated TCP.
/// Each node dials every peer and streams its changes on that connection (the peer acks them);
/// the peer's changes arrive on the connection the peer dialled. See PROTOCOL.md.
/// </summary>
public sealed partial class ReplicationNode : IAsyncDisposable
{
    private const int SendBatch = 256;

    [ThreadStatic]
    private static List<(PeerQueue Queue, ulong Seq)>? t_capture;

    private readonly ReplicationOptions _options;
    private readonly IReplicatedPersistence? _persistence;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<NodeId, PeerState> _peers = new();
    private readonly NonceCache _nonces;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, bool> _tasks = new();
    private readonly ConcurrentDictionary<ReplicationChannel, bool> _channels = new();
    private readonly Channel<object> _persistQueue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private TcpListener? _listener;
    private int _pendingHandshakes;
    private int _started;
    private long _protocolErrors;
    private long _authFailures;
    private long _syncAcknowledged;
    private long _syncDegraded;
    private long _syncTimedOut;
    private long _persistErrors;

    public ReplicationNode(ReplicationOptions options, IReplicatedPersistence? persistence = null, ILogger<ReplicationNode>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _persistence = persistence;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = options.TimeProvider;
        _nonces = new NonceCache(time: _time);
        Clock = new HybridLogicalClock(options.NodeId, _time);
        Store = new ReplicatedStore(options.TombstoneRetention, _time);
        foreach (ReplicationPeerOptions peer in options.Peers)
        {
            AddPeer(peer);
        }
    }

    public NodeId NodeId => _options.NodeId;

    public HybridLogicalClock Clock { get; }

    /// <summary>
    /// The replicated state. Read it freely and subscribe to <see cref="ReplicatedStore.Changed"/>;
    /// write through <see cref="PublishAsync"/> (a direct <c>Store.Apply</c> is replicated too, but
    /// does not advance the clock and cannot wait for a peer).
    /// </summary>
    public ReplicatedStore Store { get; }

    /// <summary>The bound listening address (port resolved) once started; null when not listening.</summary>
    public IPEndPoint? ListenEndPoint { get; private set; }

    /// <summary>Connections closed because the peer broke the protocol (bad frame, bad length, garbage, failed frame authentication).</summary>
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);

    /// <summary>Handshakes refused: wrong secret, wrong cluster, unknown node, replayed nonce (either side).</summary>
    public long AuthenticationFailures => Interlocked.Read(ref _authFailures);

    public long SyncAcknowledged => Interlocked.Read(ref _syncAcknowledged);

    /// <summary>Sync publishes treated as async because no peer was connected.</summary>
    public long SyncDegraded => Interlocked.Read(ref _syncDegraded);

    public long SyncTimedOut => Interlocked.Read(ref _syncTimedOut);

    public long PersistenceErrors => Interlocked.Read(ref _persistErrors);

    /// <summary>True when every known peer's last digest equals this node's current digest.</summary>
    public bool IsConvergedWithAll => !_peers.IsEmpty && _peers.Keys.All(IsConverged);

    /// <summary>Adds a peer (before or after start). Its connections are accepted and it is dialled.</summary>
    public void AddPeer(ReplicationPeerOptions peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (peer.NodeId == NodeId || string.IsNullOrEmpty(peer.NodeId.Value))
        {
            throw new ArgumentException("A peer needs its own node id.", nameof(peer));
        }

        var state = new PeerState(peer, _options.QueueCapacity);
        if (!_peers.TryAdd(peer.NodeId, state))
        {
            throw new InvalidOperationException($"Peer {peer.NodeId} is already configured.");
        }

        if (Volatile.Read(ref _started) == 1)
        {
            Track(RunOutboundAsync(state, _stop.Token));
        }
    }

    /// <summary>Loads persisted state, starts listening, dialling the peers and the background timers.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            throw new InvalidOperationException("Already started.");
        }

        if (_persistence is not null)
        {
            IReadOnlyList<ReplicatedRecord> records = await _persistence.LoadAllAsync(cancellationToken).ConfigureAwait(false);
            foreach (ReplicatedRecord r in records)
            {
                Store.Apply(r);
            }

            RecordVersion max = Store.MaxVersion();
            if (!max.IsZero)
            {
                Clock.Update(max);
            }

            LogLoaded(records.Count);
            Track(RunPersistenceAsync(_stop.Token));
        }

        Store.Changed += OnStoreChanged;
        if (_options.ListenEndPoint is not null)
        {
            _listener = new TcpListener(_options.ListenEndPoint);
            _listener.Start(128);
            ListenEndPoint = (IPEndPoint)_listener.LocalEndpoint;
            Track(AcceptLoopAsync(_listener, _stop.Token));
        }

        foreach (PeerState peer in _peers.Values)
        {
            Track(RunOutboundAsync(peer, _stop.Token));
        }

        Track(PurgeLoopAsync(_stop.Token));
    }

    /// <summary>A fresh version from this node's clock.</summary>
    public RecordVersion NewVersion() => Clock.Now();

    /// <summary>Stamps a new version on <paramref name="value"/> for kind/key and publishes it.</summary>
    public Task<PublishResult> PutAsync(string kind, string key, ReadOnlyMemory<byte> value, Durability durability, CancellationToken cancellationToken = default) =>
        PublishAsync(new ReplicatedRecord(kind, key, value, Clock.Now(), NodeId), durability, cancellationToken);

    /// <summary>Publishes a tombstone for kind/key.</summary>
    public Task<PublishResult> DeleteAsync(string kind, string key, Durability durability, CancellationToken cancellationToken = default) =>
        PublishAsync(ReplicatedRecord.Tombstone(kind, key, Clock.Now(), NodeId), durability, cancellationToken);

    /// <summary>
    /// Applies a locally made record and replicates it. Never throws because peers are missing or
    /// slow: <see cref="Durability.Sync"/> waits at most <see cref="ReplicationOptions.SyncTimeout"/>
    /// for the first peer ack and otherwise reports <see cref="PublishResult.TimedOut"/> (the record
    /// stays queued and is delivered later); with no peer connected it returns
    /// <see cref="PublishResult.Degraded"/> at once. Only cancellation throws.
    /// </summary>
    public async Task<PublishResult> PublishAsync(ReplicatedRecord record, Durability durability, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        record.Validate(_options.MaxValueBytes);
        if (Volatile.Read(ref _started) == 0)
        {
            throw new InvalidOperationException("Start the node before publishing.");
        }

        Clock.Update(record.Version);
        var captured = new List<(PeerQueue Queue, ulong Seq)>();
        bool changed;
        t_capture = captured;
        try
        {
            changed = Store.Apply(record);
        }
        finally
        {
            t_capture = null;
        }

        if (!changed)
        {
            return PublishResult.Superseded;
        }

        if (durability == Durability.Async)
        {
            return PublishResult.Queued;
        }

        var waiter = new SyncWaiter();
        bool any = false;
        foreach ((PeerQueue queue, ulong seq) in captured)
        {
            PeerState? peer = _peers.Values.FirstOrDefault(p => ReferenceEquals(p.Queue, queue));
            if (peer is { OutboundConnected: true })
            {
                queue.AddWaiter(seq, waiter);
                any = true;
            }
        }

        if (!any)
        {
            Interlocked.Increment(ref _syncDegraded);
            return PublishResult.Degraded;
        }

        try
        {
            await waiter.Acked.WaitAsync(_options.SyncTimeout, _time, cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _syncAcknowledged);
            return PublishResult.Acknowledged;
        }
        catch (TimeoutException)
        {
            waiter.Abandon();
            Interlocked.Increment(ref _syncTimedOut);
            return PublishResult.TimedOut;
        }
    }

    /// <summary>True when the last digest received from <paramref name="peer"/> equals this node's current digest.</summary>
    public bool IsConverged(NodeId peer)
    {
        if (!_peers.TryGetValue(peer, out PeerState? state))
        {
            return false;
        }

        StateDigest? remote = state.RemoteDigest;
        return remote is not null && remote.Combined == Store.StateDigest().Combined;
    }

    /// <summary>The last digest received from <paramref name="peer"/>, if any.</summary>
    public StateDigest? RemoteDigest(NodeId peer) => _peers.TryGetValue(peer, out PeerState? s) ? s.RemoteDigest : null;

    public IReadOnlyList<PeerStatus> GetPeerStatus() => _peers.Values.Select(Status).OrderBy(s => s.Peer.Value, StringComparer.Ordinal).ToList();

    public PeerStatus GetPeerStatus(NodeId peer) => Status(_peers[peer]);

    /// <summary>Completes when every change applied so far has been handed to the persistence.</summary>
    public async Task FlushPersistenceAsync(CancellationToken cancellationToken = default)
    {
        if (_persistence is null)
        {
            return;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _persistQueue.Writer.WriteAsync(done, cancellationToken).ConfigureAwait(false);
        await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops listening and dialling, closes every connection and flushes the persistence.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        if (_persistence is not null && Volatile.Read(ref _started) == 1)
        {
            try
            {
                await FlushPersistenceAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                LogPersistenceError(e);
            }
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Stop();
        AbortConnections();
        try
        {
            await Task.WhenAll(_tasks.Keys).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Every loop handles its own failures; anything left here is a bug worth a log line, not a throw from Dispose.
            LogStopError(e);
        }

        Store.Changed -= OnStoreChanged;
        _stop.Dispose();
    }

    /// <summary>Closes every open connection now (tests: a connection dying mid-stream). Peers reconnect.</summary>
    internal void AbortConnections()
    {
        foreach (ReplicationChannel c in _channels.Keys)
        {
            _ = c.DisposeAsync().AsTask();
        }
    }

    private void OnStoreChanged(RecordChange change)
    {
        foreach (PeerState peer in _peers.Values)
        {
            if (change.Source is { } source && source == peer.Options.NodeId)
            {
                continue;
            }

            ulong seq = peer.Queue.Enqueue(change.Record);
            t_capture?.Add((peer.Queue, seq));
        }

        if (_persistence is not null)
        {
            _persistQueue.Writer.TryWrite(change.Record);
        }
    }

    private PeerStatus Status(PeerState p) => new(
        p.Options.NodeId,
        p.OutboundConnected,
        p.InboundConnections > 0,
        p.ConnectedEndPoint,
        p.Queue.Queued,
        p.LastSentSeq,
        p.Queue.AckedSeq,
        p.Queue.LastAckAt,
        p.RemoteDigestAt,
        IsConverged(p.Options.NodeId),
        Interlocked.Read(ref p.Connects),
        Interlocked.Read(ref p.SnapshotsSent),
        Interlocked.Read(ref p.SnapshotsReceived),
        p.Queue.Overflows,
        Interlocked.Read(ref p.RepairsSent));

    private void Track(Task task)
    {
        _tasks.TryAdd(task, true);
        _ = task.ContinueWith(t => _tasks.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void OnDigest(PeerState peer, StateDigest remote)
    {
        StateDigest local = Store.StateDigest();
        peer.RemoteDigest = remote;
        peer.RemoteDigestAt = _time.GetUtcNow();
        if (local.Combined == remote.Combined)
        {
            peer.StableMismatches = 0;
            // Once per agreed state (and again after a reconnect), not on every digest exchange: a digest
            // can arrive late (buffered while the link was cut), so a later agreement on newer state is news.
            if (Interlocked.Exchange(ref peer.LoggedConvergedDigest, (long)local.Combined) != (long)local.Combined)
            {
                LogConverged(peer.Options.NodeId, local);
            }

            return;
        }

        if (local.Combined == peer.LastLocalCombined && remote.Combined == peer.LastRemoteCombined)
        {
            peer.StableMismatches++;
        }
        else
        {
            peer.StableMismatches = 1;
        }

        peer.LastLocalCombined = local.Combined;
        peer.LastRemoteCombined = remote.Combined;
        int threshold = _options.RepairAfterStableMismatches;
        if (threshold > 0 && peer.StableMismatches >= threshold)
        {
            peer.StableMismatches = 0;
            int sent = 0;
            foreach ((string kind, int bucket) in local.Differences(remote))
            {
                foreach (ReplicatedRecord r in Store.GetBucket(kind, bucket))
                {
                    peer.Queue.Enqueue(r);
                    sent++;
                }
            }

            Interlocked.Increment(ref peer.RepairsSent);
            LogRepair(peer.Options.NodeId, sent);
        }
    }

    private async Task PurgeLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.PurgeInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                IReadOnlyList<ReplicatedRecord> purged = Store.PurgeTombstones();
                if (purged.Count > 0 && _persistence is not null)
                {
                    await _persistQueue.Writer.WriteAsync(new PurgeBatch(purged), ct).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RunPersistenceAsync(CancellationToken ct)
    {
        var batch = new List<ReplicatedRecord>();
        var flushes = new List<TaskCompletionSource>();
        try
        {
            while (await _persistQueue.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                PurgeBatch? purge = null;
                while (batch.Count < 5000 && purge is null && _persistQueue.Reader.TryRead(out object? item))
                {
                    switch (item)
                    {
                        case ReplicatedRecord r:
                            batch.Add(r);
                            break;
                        case TaskCompletionSource tcs:
                            flushes.Add(tcs);
                            break;
                        case PurgeBatch p:
                            purge = p;
                            break;
                    }
                }

                while (true)
                {
                    try
                    {
                        if (batch.Count > 0)
                        {
                            await _persistence!.SaveAsync(batch, ct).ConfigureAwait(false);
                            batch.Clear();
                        }

                        if (purge is not null)
                        {
                            await _persistence!.RemoveAsync(purge.Records, ct).ConfigureAwait(false);
                        }

                        break;
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        Interlocked.Increment(ref _persistErrors);
                        LogPersistenceError(e);
                        await Task.Delay(TimeSpan.FromSeconds(1), _time, ct).ConfigureAwait(false);
                    }
                }

                foreach (TaskCompletionSource f in flushes)
                {
                    f.TrySetResult();
                }

                flushes.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            foreach (TaskCompletionSource f in flushes)
            {
                f.TrySetCanceled(CancellationToken.None);
            }
        }
    }

    private sealed record PurgeBatch(IReadOnlyList<ReplicatedRecord> Records);

    private sealed class PeerState(ReplicationPeerOptions options, int capacity)
    {
        public long Connects;
        public long SnapshotsSent;
        public long SnapshotsReceived;
        public long RepairsSent;

        /// <summary>The agreed digest last logged as "converged" (0: none since the last connection).</summary>
        public long LoggedConvergedDigest;

        public ReplicationPeerOptions Options { get; } = options;

        public PeerQueue Queue { get; } = new(capacity);

        public object InboundGate { get; } = new();

        /// <summary>Epoch of the peer's stream that this node follows (0: none yet).</summary>
        public ulong InboundEpoch { get; set; }

        /// <summary>Last sequence of <see cref="InboundEpoch"/> applied.</summary>
        public ulong InboundLastSeq { get; set; }

        /// <summary>Incremented per inbound connection; only the newest may apply records.</summary>
        public long InboundGeneration { get; set; }

        public int InboundConnections;

        public volatile bool OutboundConnected;

        public EndPoint? ConnectedEndPoint { get; set; }

        public ulong LastSentSeq { get; set; }

        public StateDigest? RemoteDigest { get; set; }

        public DateTimeOffset? RemoteDigestAt { get; set; }

        public int StableMismatches { get; set; }

        public ulong LastLocalCombined { get; set; }

        public ulong LastRemoteCombined { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Replication: a background task failed")]
    private partial void LogStopError(Exception e);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replication: loaded {Count} records from persistence")]
    private partial void LogLoaded(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replication: persistence failed; retrying")]
    private partial void LogPersistenceError(Exception e);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replication: converged with {Peer}, digest {Digest}")]
    private partial void LogConverged(NodeId peer, StateDigest digest);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replication: digest mismatch with {Peer} is stable; re-sent {Count} records of the differing buckets")]
    private partial void LogRepair(NodeId peer, int count);
}
