using System.Text.Json;
using Tandem.Cluster.Replication;
using Tandem.Server.Calls;
using Tandem.Storage;

namespace Tandem.Server.Cluster;

/// <summary>
/// Calls in progress: every <see cref="DialogTracker.Changed"/> version is published as a "dialog"
/// record (key = dialog id, value = the <see cref="DialogRecord"/> as JSON, async); other nodes'
/// records are imported. A <see cref="DialogState.Terminated"/> record also carries the CDR: the
/// receiver appends it to its own CDR store (idempotent by id), so CDRs replicate without a kind of
/// their own. Terminated records are deleted cluster-wide <see cref="TerminatedRetention"/> after the call ended.
/// </summary>
public sealed partial class ReplicationBridge
{
    public const string DialogKind = "dialog";

    /// <summary>How long a terminated call's record (and so its CDR) stays replicated.</summary>
    internal static readonly TimeSpan TerminatedRetention = TimeSpan.FromMinutes(10);

    private readonly Lock _dialogGate = new();
    private readonly Dictionary<string, long> _publishedDialogVersions = new(StringComparer.Ordinal);
    private ICdrStore? _cdrs;
    private long _remoteDialogs;

    /// <summary>The call tracker attached with <see cref="AttachCalls"/>, if any.</summary>
    public DialogTracker? Calls { get; private set; }

    /// <summary>Dialog records from other nodes imported into <see cref="Calls"/>.</summary>
    public long RemoteDialogsApplied => Interlocked.Read(ref _remoteDialogs);

    /// <summary>
    /// Replicates <paramref name="calls"/>: imports the calls the replicated store holds, then
    /// publishes every local change. CDRs of calls ended on other nodes go to <paramref name="cdrs"/>.
    /// </summary>
    public void AttachCalls(DialogTracker calls, ICdrStore cdrs)
    {
        ArgumentNullException.ThrowIfNull(calls);
        _cdrs = cdrs;
        Calls = calls;
        calls.Changed += OnLocalDialogChanged;
        foreach (var record in Node.Store.GetAll(DialogKind))
        {
            _remote.Writer.TryWrite(DialogPrefix + record.Key);
        }
    }

    private const string DialogPrefix = "\u0001";

    private static DialogRecord? DecodeDialog(ReadOnlySpan<byte> value)
    {
        try
        {
            return JsonSerializer.Deserialize(value, BindingJsonContext.Default.DialogRecord);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // Raised on the proxy's thread: publishing async only applies to the store and queues.
    private void OnLocalDialogChanged(DialogRecord record)
    {
        lock (_dialogGate)
        {
            // Two changes of one call raised out of order: the dialog version decides, not the clock.
            if (_publishedDialogVersions.TryGetValue(record.Id, out var published) && published >= record.Version)
            {
                return;
            }

            _publishedDialogVersions[record.Id] = record.Version;
            if (record.State == DialogState.Terminated)
            {
                _publishedDialogVersions.Remove(record.Id);
            }

            var value = JsonSerializer.SerializeToUtf8Bytes(record, BindingJsonContext.Default.DialogRecord);
            _ = Node.PutAsync(DialogKind, record.Id, value, Durability.Async);
        }
    }

    private async Task ApplyDialogAsync(string key, CancellationToken cancellationToken)
    {
        if (Calls is null || Node.Store.Get(DialogKind, key) is not { Deleted: false } stored || DecodeDialog(stored.Value.Span) is not { } record)
        {
            return;
        }

        if (Calls.Import(record))
        {
            Interlocked.Increment(ref _remoteDialogs);
        }

        // The node that ended the call wrote its CDR there; every other node appends a copy.
        if (record.State == DialogState.Terminated && _cdrs is not null && stored.Origin != Node.NodeId)
        {
            await _cdrs.AppendAsync(record.ToCdr(), cancellationToken);
        }
    }

    private void SweepDialogs()
    {
        var limit = _time.GetUtcNow() - TerminatedRetention;
        foreach (var record in Node.Store.GetAll(DialogKind))
        {
            if (DecodeDialog(record.Value.Span) is { State: DialogState.Terminated, EndedAt: { } ended } && ended < limit)
            {
                _ = Node.DeleteAsync(DialogKind, record.Key, Durability.Async);
            }
        }
    }
}
