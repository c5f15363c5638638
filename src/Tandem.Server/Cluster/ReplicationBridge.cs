using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Tandem.Cluster;
using Tandem.Cluster.Replication;
using Tandem.Server.Config;
using Tandem.Server.Registrar;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Cluster;

/// <summary>
/// Plugs the registrar into state replication (docs/cluster.md, "State replication"). Owns the
/// <see cref="ReplicationNode"/> (persisted in the <c>replicated</c> table of tandem.db), publishes
/// the registrar's binding changes as "binding" records, and applies other nodes' changes to the
/// location service and the local binding store from one background task.
/// </summary>
public sealed partial class ReplicationBridge : IBindingReplicator, IAsyncDisposable
{
    /// <summary>Both ends of a replication connection must agree on it (part of the handshake).</summary>
    public const string ClusterName = "tandem";

    /// <summary>A replicated binding that expired this long ago is deleted cluster-wide (tombstone).</summary>
    internal static readonly TimeSpan ExpiredGrace = TimeSpan.FromSeconds(30);

    private readonly LocationService _locations;
    private readonly IBindingStore _bindings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Durability _durability;
    private readonly Channel<string> _remote = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private Task _applier = Task.CompletedTask;
    private ITimer? _sweep;
    private long _acknowledged;
    private long _degraded;
    private long _timedOut;
    private long _remoteApplied;
    private long _skipped;

    private ReplicationBridge(ReplicationNode node, LocationService locations, IBindingStore bindings, ReplicationMode mode, TimeProvider time, ILogger logger)
    {
        Node = node;
        _locations = locations;
        _bindings = bindings;
        _durability = mode == ReplicationMode.Sync ? Durability.Sync : Durability.Async;
        _time = time;
        _logger = logger;
    }

    public ReplicationNode Node { get; }

    /// <summary>Sync-mode REGISTERs whose every change was acknowledged by a peer before the 200 OK.</summary>
    public long RegistersAcknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Sync-mode REGISTERs answered with no peer connected (the change is held locally and queued).</summary>
    public long RegistersDegraded => Interlocked.Read(ref _degraded);

    /// <summary>Sync-mode REGISTERs answered after <c>sync-timeout-ms</c> without a peer ack (the change stays queued).</summary>
    public long RegistersTimedOut => Interlocked.Read(ref _timedOut);

    /// <summary>Binding changes from other nodes applied to the location service.</summary>
    public long RemoteBindingsApplied => Interlocked.Read(ref _remoteApplied);

    /// <summary>Bindings not replicated because the record was invalid (e.g. key over 1024 bytes).</summary>
    public long BindingsSkipped => Interlocked.Read(ref _skipped);

    /// <summary>
    /// Creates and starts the replication node from <c>options.Cluster</c> (which must have
    /// <see cref="ClusterOptions.ReplicationEnabled"/>), then merges the replicated bindings into
    /// <paramref name="locations"/> (the replicated copy wins over the local binding store's).
    /// Call before the SIP listeners start.
    /// </summary>
    public static async Task<ReplicationBridge> StartAsync(TandemOptions options, TandemStorage storage, LocationService locations, TimeProvider time, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var cluster = options.Cluster;
        if (!cluster.ReplicationEnabled)
        {
            throw new InvalidOperationException("state replication is not configured (cluster.replication.listen)");
        }

        var replicationOptions = new ReplicationOptions
        {
            NodeId = new NodeId(cluster.NodeId!),
            ClusterName = ClusterName,
            Secret = cluster.ReadSecret(),
            ListenEndPoint = cluster.ReplicationListen,
            Peers = [.. cluster.Peers.Where(p => p.Replication is not null).Select(p => new ReplicationPeerOptions(new NodeId(p.Id), [p.Replication!]))],
            SyncTimeout = TimeSpan.FromMilliseconds(cluster.ReplicationSyncTimeoutMs),
            TimeProvider = time,
        };
        var node = new ReplicationNode(replicationOptions, new SqliteReplicatedPersistence(storage.Database), loggerFactory.CreateLogger<ReplicationNode>());
        var bridge = new ReplicationBridge(node, locations, storage.Bindings, cluster.ReplicationMode, time, loggerFactory.CreateLogger("Tandem.Replication"));

        // Subscribe first: a remote change that lands between the load below and the applier start
        // is queued, and applying a key twice is harmless (the applier reads the store's winner).
        node.Store.Changed += bridge.OnStoreChanged;
        await node.StartAsync(cancellationToken);
        var merged = await bridge.MergeReplicatedAsync(cancellationToken);
        await bridge.StartSubscribersAsync(storage.Database, cancellationToken);
        Log.Started(bridge._logger, node.NodeId.Value, node.ListenEndPoint?.ToString() ?? "-", cluster.ReplicationMode.ToString().ToLowerInvariant(), merged);

        bridge._applier = Task.Run(() => bridge.ApplyRemoteAsync(bridge._stop.Token), CancellationToken.None);
        bridge._sweep = time.CreateTimer(_ => bridge.Sweep(), null, ExpiredGrace, ExpiredGrace);
        return bridge;
    }

    public Task Publish(IReadOnlyList<Binding> upserts, IReadOnlyList<Binding> deletes, CancellationToken cancellationToken)
    {
        if (upserts.Count + deletes.Count == 0)
        {
            return Task.CompletedTask;
        }

        // PublishAsync applies locally and queues synchronously (the caller holds the AoR lock, so
        // versions follow the REGISTER order); only the wait for the ack is asynchronous.
        var published = new List<Task<PublishResult>>(upserts.Count + deletes.Count);
        foreach (var binding in deletes)
        {
            published.Add(Node.DeleteAsync(BindingCodec.Kind, BindingCodec.Key(binding.Aor, binding.ContactUri), _durability, cancellationToken));
        }

        foreach (var binding in upserts)
        {
            published.Add(Node.PutAsync(BindingCodec.Kind, BindingCodec.Key(binding.Aor, binding.ContactUri), BindingCodec.Encode(binding), _durability, cancellationToken));
        }

        return CompleteAsync(published, upserts.Count > 0 ? upserts[0].Aor : deletes[0].Aor);
    }

    private async Task CompleteAsync(List<Task<PublishResult>> published, string aor)
    {
        var acked = true;
        var degraded = false;
        var timedOut = false;
        foreach (var task in published)
        {
            PublishResult result;
            try
            {
                result = await task;
            }
            catch (ArgumentException ex)
            {
                Interlocked.Increment(ref _skipped);
                Log.Skipped(_logger, aor, ex.Message);
                continue;
            }

            acked &= result is PublishResult.Acknowledged or PublishResult.Superseded;
            degraded |= result == PublishResult.Degraded;
            timedOut |= result == PublishResult.TimedOut;
        }

        if (_durability == Durability.Async)
        {
            return;
        }

        if (timedOut)
        {
            Interlocked.Increment(ref _timedOut);
            Log.SyncTimedOut(_logger, aor);
        }
        else if (degraded)
        {
            Interlocked.Increment(ref _degraded);
            Log.SyncDegraded(_logger, aor);
        }
        else if (acked)
        {
            Interlocked.Increment(ref _acknowledged);
        }
    }

    // Runs under the replicated store's lock: only queue.
    private void OnStoreChanged(RecordChange change)
    {
        if (!change.IsLocal && change.Record.Kind == BindingCodec.Kind)
        {
            _remote.Writer.TryWrite(change.Record.Key);
        }
        else if (!change.IsLocal && change.Record.Kind == DialogKind && Calls is not null)
        {
            _remote.Writer.TryWrite(DialogPrefix + change.Record.Key);
        }
        else if (!change.IsLocal && change.Record.Kind == SubscriberCodec.Kind)
        {
            OnRemoteSubscriber(change.Record.Key);
        }
        else if (!change.IsLocal && change.Record.Kind == RoutingCodec.Kind && _routing is not null)
        {
            _remote.Writer.TryWrite(RoutingSignal);
        }
    }

    private async Task<int> MergeReplicatedAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var merged = 0;
        foreach (var group in Node.Store.Snapshot().Where(r => r.Kind == BindingCodec.Kind).GroupBy(r => SplitKey(r.Key).Aor, StringComparer.Ordinal))
        {
            using (await _locations.LockAsync(group.Key, cancellationToken))
            {
                var current = _locations.Get(group.Key).ToDictionary(b => b.ContactUri, StringComparer.Ordinal);
                foreach (var record in group)
                {
                    var contact = SplitKey(record.Key).Contact;
                    var binding = record.Deleted ? null : BindingCodec.Decode(record.Value.Span);
                    if (binding is not null && binding.ExpiresAt > now)
                    {
                        current[contact] = binding;
                        merged++;
                    }
                    else if (current.Remove(contact))
                    {
                        await _bindings.DeleteAsync(group.Key, contact, cancellationToken);
                    }
                }

                _locations.Set(group.Key, [.. current.Values]);
            }
        }

        // Bindings registered while replication was off have no record yet: publish them once.
        foreach (var (aor, bindings) in _locations.All)
        {
            foreach (var binding in bindings)
            {
                var key = BindingCodec.Key(aor, binding.ContactUri);
                if (binding.ExpiresAt > now && Node.Store.Get(BindingCodec.Kind, key) is null)
                {
                    _ = Node.PutAsync(BindingCodec.Kind, key, BindingCodec.Encode(binding), Durability.Async, cancellationToken);
                }
            }
        }

        return merged;
    }

    private async Task ApplyRemoteAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var key in _remote.Reader.ReadAllAsync(cancellationToken))
            {
                try
                {
                    if (key.StartsWith(DialogPrefix, StringComparison.Ordinal))
                    {
                        await ApplyDialogAsync(key[DialogPrefix.Length..], cancellationToken);
                    }
                    else if (key == RoutingSignal)
                    {
                        ApplyReplicatedRouting();
                    }
                    else
                    {
                        await ApplyAsync(key, cancellationToken);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.ApplyFailed(_logger, ex, key);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Makes the location service (and the local binding store) match the replicated store's current record for <paramref name="key"/>.</summary>
    private async Task ApplyAsync(string key, CancellationToken cancellationToken)
    {
        var (aor, contact) = SplitKey(key);
        if (aor.Length == 0)
        {
            return;
        }

        using (await _locations.LockAsync(aor, cancellationToken))
        {
            // Read under the AoR lock: a local REGISTER publishes under the same lock, so this is
            // the winner of every change so far, never an older remote copy overtaking a local one.
            var record = Node.Store.Get(BindingCodec.Kind, key);
            var binding = record is { Deleted: false } ? BindingCodec.Decode(record.Value.Span) : null;
            var current = _locations.Get(aor);
            var others = current.Where(b => !string.Equals(b.ContactUri, contact, StringComparison.Ordinal));
            if (binding is not null && binding.ExpiresAt > _time.GetUtcNow())
            {
                _locations.Set(aor, [.. others, binding]);
                await _bindings.UpsertAsync(binding, cancellationToken);
            }
            else if (current.Any(b => string.Equals(b.ContactUri, contact, StringComparison.Ordinal)))
            {
                _locations.Set(aor, [.. others]);
                await _bindings.DeleteAsync(aor, contact, cancellationToken);
            }
        }

        Interlocked.Increment(ref _remoteApplied);
    }

    /// <summary>
    /// Each node purges expired bindings from its own location service; this deletes replicated
    /// records that expired more than <see cref="ExpiredGrace"/> ago so the table does not grow.
    /// The grace leaves a refresh made on another node just before expiry time to arrive first.
    /// </summary>
    private void Sweep()
    {
        SweepExpired();
        SweepDialogs();
    }

    private void SweepExpired()
    {
        var limit = _time.GetUtcNow() - ExpiredGrace;
        foreach (var record in Node.Store.GetAll(BindingCodec.Kind))
        {
            if (BindingCodec.Decode(record.Value.Span) is { } binding && binding.ExpiresAt < limit)
            {
                _ = Node.DeleteAsync(BindingCodec.Kind, record.Key, Durability.Async);
            }
        }
    }

    private static (string Aor, string Contact) SplitKey(string key)
    {
        var newline = key.IndexOf('\n', StringComparison.Ordinal);
        return newline < 0 ? (string.Empty, key) : (key[..newline], key[(newline + 1)..]);
    }

    public async ValueTask DisposeAsync()
    {
        if (_sweep is not null)
        {
            await _sweep.DisposeAsync();
            _sweep = null;
        }

        Node.Store.Changed -= OnStoreChanged;
        if (Calls is not null)
        {
            Calls.Changed -= OnLocalDialogChanged;
        }

        if (_routing is not null)
        {
            _routing.Reloaded -= OnRoutingReloaded;
        }

        _remote.Writer.TryComplete();
        try
        {
            await _applier;
        }
        finally
        {
            await _stop.CancelAsync();
            await _subscriberLoop;
            await Node.DisposeAsync();
            _stop.Dispose();
            _subscriberSignal.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(401, LogLevel.Information, "Replication node {Node} listening on {EndPoint}, mode {Mode}; {Bindings} replicated bindings loaded")]
        public static partial void Started(ILogger logger, string node, string endPoint, string mode, int bindings);

        [LoggerMessage(402, LogLevel.Warning, "REGISTER for {Aor} answered without replication: no peer connected (sync mode degraded)")]
        public static partial void SyncDegraded(ILogger logger, string aor);

        [LoggerMessage(403, LogLevel.Warning, "REGISTER for {Aor} answered before a peer acknowledged it (sync timeout); the change stays queued")]
        public static partial void SyncTimedOut(ILogger logger, string aor);

        [LoggerMessage(404, LogLevel.Warning, "Binding of {Aor} not replicated: {Reason}")]
        public static partial void Skipped(ILogger logger, string aor, string reason);

        [LoggerMessage(405, LogLevel.Error, "Applying replicated record {Key} failed")]
        public static partial void ApplyFailed(ILogger logger, Exception exception, string key);
    }
}
