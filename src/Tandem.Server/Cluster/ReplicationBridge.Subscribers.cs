using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tandem.Cluster;
using Tandem.Cluster.Replication;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Cluster;

/// <summary>
/// Subscribers (docs/cluster.md, "Subscribers"). The `tandem user` commands write this node's
/// SQLite directly and journal each change in the same transaction (<see cref="SqliteSubscriberStore"/>);
/// this side tails the journal every <see cref="JournalPollInterval"/> and at start, publishes each
/// change as a "subscriber" record versioned by the change's own time, and writes other nodes'
/// records to SQLite. The subscribers table is always made equal to the replicated winner, by one
/// task, so a CLI write and a remote write racing on one account end as the newer of the two.
/// </summary>
public sealed partial class ReplicationBridge
{
    /// <summary>How often the change journal is read: a CLI change reaches the peers within about this.</summary>
    internal static readonly TimeSpan JournalPollInterval = TimeSpan.FromMilliseconds(200);

    private const int JournalBatch = 1000;
    private const int ApplyBatch = 5000;

    private readonly ConcurrentQueue<string> _remoteSubscribers = new();
    private readonly SemaphoreSlim _subscriberSignal = new(0);
    private SqliteSubscriberStore? _accounts;
    private Task _subscriberLoop = Task.CompletedTask;
    private int _subscriberSignalled;
    private long _subscriberChangesPublished;
    private long _remoteSubscribersApplied;

    /// <summary>Raised (from the subscriber task) after an account was written from replication or the journal: drop cached copies.</summary>
    public event Action<string, string>? SubscriberChanged;

    /// <summary>Journalled account changes of this node published to the cluster.</summary>
    public long SubscriberChangesPublished => Interlocked.Read(ref _subscriberChangesPublished);

    /// <summary>Account records from other nodes written to this node's subscribers table.</summary>
    public long RemoteSubscribersApplied => Interlocked.Read(ref _remoteSubscribersApplied);

    /// <summary>
    /// At start, before SIP is served: publishes the journal (changes made while the node was
    /// stopped), publishes accounts that have no record yet (made before the node was clustered),
    /// then makes the subscribers table equal to the replicated state. Then tails the journal.
    /// </summary>
    private async Task StartSubscribersAsync(SqliteDatabase database, CancellationToken cancellationToken)
    {
        _accounts = new SqliteSubscriberStore(database, _time);
        var published = 0;
        while (await PublishJournalAsync(cancellationToken) is var batch and > 0)
        {
            published += batch;
        }

        var local = (await _accounts.ListAsync(cancellationToken)).ToDictionary(s => ReplicatedSubscriber.Key(s.Username, s.Domain), StringComparer.Ordinal);
        var imported = 0;
        foreach (var (key, subscriber) in local)
        {
            if (Node.Store.Get(SubscriberCodec.Kind, key) is null)
            {
                try
                {
                    await Node.PutAsync(SubscriberCodec.Kind, key, SubscriberCodec.Encode(key, subscriber), Durability.Async, cancellationToken);
                    imported++;
                }
                catch (ArgumentException ex)
                {
                    Log.SubscriberChangeSkipped(_logger, key, ex.Message);
                }
            }
        }

        var repairs = new List<(string Key, Subscriber? State)>();
        var accounts = 0;
        foreach (var record in Node.Store.GetAll(SubscriberCodec.Kind))
        {
            var (valid, state) = SubscriberCodec.Decode(record.Value.Span);
            accounts += state is null ? 0 : 1;
            if (valid && (state is null ? local.ContainsKey(record.Key) : local.GetValueOrDefault(record.Key) != state))
            {
                repairs.Add((record.Key, state));
            }
        }

        await _accounts.ApplyReplicatedAsync(repairs, 0, cancellationToken);
        Log.SubscribersStarted(_logger, published, imported, repairs.Count, accounts);
        _subscriberLoop = Task.Run(() => RunSubscribersAsync(_stop.Token), CancellationToken.None);
    }

    // Under the store lock: only queue.
    private void OnRemoteSubscriber(string key)
    {
        _remoteSubscribers.Enqueue(key);
        SignalSubscribers();
    }

    private void SignalSubscribers()
    {
        if (Interlocked.Exchange(ref _subscriberSignalled, 1) == 0)
        {
            _subscriberSignal.Release();
        }
    }

    private async Task RunSubscribersAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await _subscriberSignal.WaitAsync(JournalPollInterval, cancellationToken);
                Volatile.Write(ref _subscriberSignalled, 0);
                await SyncSubscribersAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A locked or broken database: log and retry at the next poll; nothing is lost
                // (the journal rows and the replicated records stay until written).
                Log.SubscriberSyncFailed(_logger, ex);
            }
        }
    }

    /// <summary>One round: publish journalled changes, then write every touched account's winner to SQLite.</summary>
    private async Task SyncSubscribersAsync(CancellationToken cancellationToken)
    {
        var changes = await _accounts!.ReadChangesAsync(JournalBatch, cancellationToken);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var change in changes)
        {
            await PublishChangeAsync(change, cancellationToken);
            keys.Add(change.Key);
        }

        var remote = 0;
        while (keys.Count < ApplyBatch && _remoteSubscribers.TryDequeue(out var key))
        {
            keys.Add(key);
            remote++;
        }

        if (keys.Count == 0)
        {
            return;
        }

        var states = new List<(string Key, Subscriber? State)>(keys.Count);
        foreach (var key in keys)
        {
            if (Node.Store.Get(SubscriberCodec.Kind, key) is { Deleted: false } record && SubscriberCodec.Decode(record.Value.Span) is (true, var state))
            {
                states.Add((key, state));
            }
        }

        try
        {
            await _accounts.ApplyReplicatedAsync(states, changes.Count > 0 ? changes[^1].Seq : 0, cancellationToken);
        }
        catch
        {
            // Retried next round: the journal rows are still there, the remote keys go back in the queue.
            foreach (var key in keys)
            {
                _remoteSubscribers.Enqueue(key);
            }

            throw;
        }

        Interlocked.Add(ref _subscriberChangesPublished, changes.Count);
        Interlocked.Add(ref _remoteSubscribersApplied, remote);
        foreach (var (key, _) in states)
        {
            var (username, domain) = ReplicatedSubscriber.Split(key);
            SubscriberChanged?.Invoke(username, domain);
        }

        if (changes.Count == JournalBatch || !_remoteSubscribers.IsEmpty)
        {
            SignalSubscribers();
        }
    }

    /// <summary>Publishes one batch of the journal and drops it; returns how many changes it held.</summary>
    private async Task<int> PublishJournalAsync(CancellationToken cancellationToken)
    {
        var changes = await _accounts!.ReadChangesAsync(JournalBatch, cancellationToken);
        foreach (var change in changes)
        {
            await PublishChangeAsync(change, cancellationToken);
        }

        if (changes.Count > 0)
        {
            await _accounts.ApplyReplicatedAsync([], changes[^1].Seq, cancellationToken);
            Interlocked.Add(ref _subscriberChangesPublished, changes.Count);
        }

        return changes.Count;
    }

    /// <summary>
    /// Publishes a journalled change with the version (its time, 0, this node). A change made in the
    /// same millisecond as this node's own record of the account came after it: it gets the next
    /// counter. Publishing the same change twice (a crash before the journal row was dropped) is a
    /// no-op: same version.
    /// </summary>
    private async Task PublishChangeAsync(SubscriberChange change, CancellationToken cancellationToken)
    {
        var value = SubscriberCodec.Encode(change.Key, change.Subscriber);
        var version = new RecordVersion(change.AtMs, 0, Node.NodeId);
        if (Node.Store.Get(SubscriberCodec.Kind, change.Key) is { } current && current.Version.WallMs == change.AtMs && current.Version.Node == Node.NodeId)
        {
            if (current.Value.Span.SequenceEqual(value))
            {
                return;
            }

            version = new RecordVersion(change.AtMs, current.Version.Counter + 1, Node.NodeId);
        }

        PublishResult result;
        try
        {
            result = await Node.PublishAsync(new ReplicatedRecord(SubscriberCodec.Kind, change.Key, value, version, Node.NodeId), Durability.Async, cancellationToken);
        }
        catch (ArgumentException ex)
        {
            // A record the engine refuses (a key over 1 KiB): skip it rather than block the journal.
            Log.SubscriberChangeSkipped(_logger, change.Key, ex.Message);
            return;
        }

        if (result == PublishResult.Superseded)
        {
            Log.SubscriberChangeSuperseded(_logger, change.Key);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(410, LogLevel.Information, "Subscribers: {Published} journalled change(s) published, {Imported} account(s) without a record published, {Repaired} account(s) written from the replicated state; {Accounts} accounts")]
        public static partial void SubscribersStarted(ILogger logger, int published, int imported, int repaired, int accounts);

        [LoggerMessage(411, LogLevel.Error, "Replicating subscribers failed; retrying")]
        public static partial void SubscriberSyncFailed(ILogger logger, Exception exception);

        [LoggerMessage(413, LogLevel.Warning, "Subscriber change of {Key} not replicated: {Reason}")]
        public static partial void SubscriberChangeSkipped(ILogger logger, string key, string reason);

        [LoggerMessage(412, LogLevel.Information, "Subscriber change of {Key} made here lost to a newer change made elsewhere")]
        public static partial void SubscriberChangeSuperseded(ILogger logger, string key);
    }
}
