using Microsoft.Extensions.Logging;
using Tandem.Cluster.Replication;
using Tandem.Server.Routing;

namespace Tandem.Server.Cluster;

/// <summary>
/// The routing configuration (docs/routing.md, "In a cluster"): one "routing" record holding the
/// newest routing document. A reload (SIGHUP) on any node publishes its file's routing section
/// with a fresh version; at start a node publishes its file's section versioned by the file's
/// modification time, so whichever is newer — the file or the last reload anywhere — wins on every
/// node. Each node validates the winner against its own configuration and keeps its current
/// tables when it is invalid; the record is persisted with the rest of the replicated state.
/// </summary>
public sealed partial class ReplicationBridge
{
    private const string RoutingSignal = "\u0002routing";

    private RoutingTable? _routing;
    private long _routingApplied;
    private long _routingRejected;

    /// <summary>Routing documents from other nodes put in force here.</summary>
    public long RoutingApplied => Interlocked.Read(ref _routingApplied);

    /// <summary>Replicated routing documents this node refused (invalid here); it kept its tables.</summary>
    public long RoutingRejected => Interlocked.Read(ref _routingRejected);

    /// <summary>
    /// Replicates <paramref name="routing"/>: publishes the startup file's routing section (versioned
    /// by the file's modification time), puts the newest replicated document in force, and from
    /// then on publishes every successful reload and applies other nodes' documents.
    /// </summary>
    public void AttachRouting(RoutingTable routing)
    {
        ArgumentNullException.ThrowIfNull(routing);
        _routing = routing;
        var options = routing.Current.Options;
        if (options.ModifiedAt is { } modified)
        {
            // A node whose file is older than the last reload anywhere loses here (Superseded).
            var version = new RecordVersion(Math.Max(1, modified.ToUnixTimeMilliseconds()), 0, Node.NodeId);
            var value = RoutingCodec.Encode(new RoutingValue(options.Document, Node.NodeId.Value, options.File ?? "", modified));
            _ = PublishRoutingAsync(new ReplicatedRecord(RoutingCodec.Kind, RoutingCodec.Key, value, version, Node.NodeId), options.File ?? "");
        }

        routing.Reloaded += OnRoutingReloaded;

        // On the applier task, which applies every later routing change too: one at a time, in order.
        _remote.Writer.TryWrite(RoutingSignal);
    }

    private void OnRoutingReloaded(RoutingSnapshot snapshot)
    {
        var value = new RoutingValue(snapshot.Options.Document, Node.NodeId.Value, snapshot.Source, _time.GetUtcNow());
        var record = new ReplicatedRecord(RoutingCodec.Kind, RoutingCodec.Key, RoutingCodec.Encode(value), Node.NewVersion(), Node.NodeId);
        _ = PublishRoutingAsync(record, snapshot.Source);
        Log.RoutingPublished(_logger, snapshot.Source);
    }

    private async Task PublishRoutingAsync(ReplicatedRecord record, string source)
    {
        try
        {
            await Node.PublishAsync(record, Durability.Async);
        }
        catch (ArgumentException ex)
        {
            // Over the record size limit (256 KiB): this node uses it, the others keep theirs.
            Log.RoutingNotPublished(_logger, source, ex.Message);
        }
    }

    /// <summary>Puts the replicated routing document in force when it differs from the tables in use and is valid here.</summary>
    private void ApplyReplicatedRouting()
    {
        if (_routing is null || Node.Store.Get(RoutingCodec.Kind, RoutingCodec.Key) is not { Deleted: false } record)
        {
            return;
        }

        if (RoutingCodec.Decode(record.Value.Span) is not { } value)
        {
            Log.RoutingUndecodable(_logger, record.Version.ToString());
            return;
        }

        if (value.Document == _routing.Current.Options.Document)
        {
            return;
        }

        var source = $"routing of {value.File} on node {value.Node} ({value.At:yyyy-MM-dd'T'HH:mm:ss.fff'Z'})";
        var result = _routing.ApplyDocument(value.Document, source);
        if (result.Succeeded)
        {
            Interlocked.Increment(ref _routingApplied);
            Log.RoutingApplied(_logger, source);
            return;
        }

        Interlocked.Increment(ref _routingRejected);
        foreach (var error in result.Errors)
        {
            Log.RoutingRejected(_logger, source, error.ToString());
        }
    }

    private static partial class Log
    {
        [LoggerMessage(420, LogLevel.Information, "Routing reloaded from {Source} published to the cluster")]
        public static partial void RoutingPublished(ILogger logger, string source);

        [LoggerMessage(421, LogLevel.Information, "Routing replaced by the replicated {Source}")]
        public static partial void RoutingApplied(ILogger logger, string source);

        [LoggerMessage(422, LogLevel.Error, "Replicated {Source} is not valid here, keeping the current routing: {Error}")]
        public static partial void RoutingRejected(ILogger logger, string source, string error);

        [LoggerMessage(424, LogLevel.Error, "Routing from {Source} is in force here but not replicated: {Reason}")]
        public static partial void RoutingNotPublished(ILogger logger, string source, string reason);

        [LoggerMessage(423, LogLevel.Error, "Replicated routing record {Version} cannot be decoded; ignored")]
        public static partial void RoutingUndecodable(ILogger logger, string version);
    }
}
