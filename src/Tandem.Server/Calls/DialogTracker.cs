using System.Collections.Concurrent;
using Tandem.Storage;

namespace Tandem.Server.Calls;

public sealed class DialogTrackerOptions
{
    /// <summary>This node's name, recorded in every dialog version it makes and in the CDRs it writes.</summary>
    public string NodeName { get; init; } = Environment.MachineName;

    /// <summary>
    /// An answered call that has seen no BYE after this long is closed (disposition Answered,
    /// <see cref="CallDetailRecord.TimedOut"/> set, duration exactly this long). Default 12 h.
    /// </summary>
    public TimeSpan MaxCallDuration { get; init; } = TimeSpan.FromHours(12);

    /// <summary>
    /// A call without a final response after this long is closed as NoAnswer with status 408 and
    /// <see cref="CallDetailRecord.TimedOut"/> set. The proxy's own ring timeout (Timer C, ≥ 3 min)
    /// normally ends it long before. Default 10 min.
    /// </summary>
    public TimeSpan MaxSetupDuration { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Calls tracked at most. Calls started beyond it are routed by the proxy as usual but get no CDR
    /// (counted in <see cref="DialogTracker.Rejected"/>). Default 500,000.
    /// </summary>
    public int MaxDialogs { get; init; } = 500_000;

    /// <summary>How often dialogs are checked against the maximum durations. Default 5 s.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long an ended call is remembered so that a replicated, older copy of it arriving late
    /// (<see cref="DialogTracker.Import"/>) cannot bring it back. Default 1 min.
    /// </summary>
    public TimeSpan TombstoneLifetime { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Called when a <see cref="DialogTracker.Changed"/> handler or the CDR store throws.</summary>
    public Action<Exception>? OnError { get; init; }
}

/// <summary>
/// Tracks calls for accounting from the proxy's <see cref="ICallEvents"/> and writes exactly one
/// call detail record per call to an <see cref="ICdrStore"/>. See docs/calls.md.
/// </summary>
/// <remarks>
/// <para>A call is keyed by Call-ID + the caller's From tag from CallStarted on; its early dialogs
/// (one per To tag, several when the INVITE forked) are listed on it, and the first 2xx's To tag
/// becomes the confirmed dialog's. A BYE matches on the unordered pair of tags, so either party may
/// hang up; a BYE for a fork that answered second does not end the call.</para>
/// <para>Every method is thread-safe and lock-free apart from the dictionary's short bucket locks:
/// each call's state is an immutable <see cref="DialogRecord"/> swapped by compare-and-set, and the
/// swap that removes a call is the one that writes its CDR, so a call gets one CDR even when events
/// race (a BYE and the maximum-duration sweep, say). CDRs go to the store's queue; the tracker never
/// waits for the disk.</para>
/// <para>Bounded: at most <see cref="DialogTrackerOptions.MaxDialogs"/> calls, each closed by the
/// maximum setup or call duration if signalling never ends it.</para>
/// </remarks>
public sealed class DialogTracker : ICallEvents, IDisposable
{
    private const int MaxEarlyDialogs = 16;

    private readonly ConcurrentDictionary<DialogKey, DialogRecord> _dialogs = new();
    private readonly ConcurrentDictionary<DialogKey, (string Id, long Version)> _tombstones = new();
    private readonly ConcurrentQueue<(DialogKey Key, string Id, DateTimeOffset At)> _tombstoneOrder = new();
    private readonly ICdrStore _cdrs;
    private readonly TimeProvider _time;
    private readonly DialogTrackerOptions _options;
    private readonly ITimer _sweepTimer;
    private int _count;
    private int _tombstoneCount;
    private int _sweeping;
    private long _cdrsWritten;
    private long _rejected;
    private long _unmatched;
    private long _timedOut;

    /// <param name="cdrs">Where CDRs go; its <c>AppendAsync</c> must return at once (e.g. <c>WriteBehindCdrStore</c>). Not disposed by the tracker.</param>
    /// <param name="time">Clock for the duration limits and the sweep timer; event times come from the events.</param>
    /// <param name="options">Limits and node name; defaults when null.</param>
    public DialogTracker(ICdrStore cdrs, TimeProvider? time = null, DialogTrackerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(cdrs);
        options ??= new DialogTrackerOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.MaxCallDuration, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.MaxSetupDuration, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.SweepInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.TombstoneLifetime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxDialogs, 1);
        ArgumentNullException.ThrowIfNull(options.NodeName);
        _cdrs = cdrs;
        _time = time ?? TimeProvider.System;
        _options = options;
        _sweepTimer = _time.CreateTimer(_ => Sweep(), null, options.SweepInterval, options.SweepInterval);
    }

    /// <summary>
    /// Every new version of a call this tracker makes (not imported ones), including the final
    /// <see cref="DialogState.Terminated"/> one: what the cluster layer replicates. Raised on the
    /// proxy's thread, so handlers must only queue. Two changes of one call racing on two threads
    /// may be raised out of order; <see cref="DialogRecord.Version"/> orders them.
    /// </summary>
    public event Action<DialogRecord>? Changed;

    /// <summary>Calls being tracked (early or confirmed).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>CDRs handed to the store.</summary>
    public long CdrsWritten => Interlocked.Read(ref _cdrsWritten);

    /// <summary>Calls not tracked (and given no CDR) because <see cref="DialogTrackerOptions.MaxDialogs"/> calls were tracked.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Events that matched no call in a state they apply to (unknown call, BYE with other tags, duplicate start...).</summary>
    public long Unmatched => Interlocked.Read(ref _unmatched);

    /// <summary>Calls closed by the maximum call or setup duration.</summary>
    public long TimedOut => Interlocked.Read(ref _timedOut);

    /// <summary>
    /// The disposition of an INVITE that ended without a 2xx: Cancelled when the caller cancelled;
    /// else 486 and 600 are Busy, 408, 480 and 487 NoAnswer (the proxy reports its ring timeout as
    /// 408 or 480), anything else Failed.
    /// </summary>
    public static CallDisposition Classify(int finalStatus, bool cancelled) => cancelled
        ? CallDisposition.Cancelled
        : finalStatus switch
        {
            486 or 600 => CallDisposition.Busy,
            408 or 480 or 487 => CallDisposition.NoAnswer,
            _ => CallDisposition.Failed,
        };

    public void CallStarted(string callId, string fromTag, string caller, string callee, DateTimeOffset at)
    {
        var key = new DialogKey(callId, fromTag);
        if (_dialogs.ContainsKey(key))
        {
            // A spiral or a repeated report: the call is already tracked.
            Interlocked.Increment(ref _unmatched);
            return;
        }

        if (!ReserveSlot())
        {
            return;
        }

        var record = new DialogRecord
        {
            Id = Guid.CreateVersion7(at).ToString("N"),
            Version = 1,
            State = DialogState.Early,
            CallId = callId,
            FromTag = fromTag,
            Caller = caller,
            Callee = callee,
            StartedAt = at,
            Node = _options.NodeName,
        };
        if (!_dialogs.TryAdd(key, record))
        {
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _unmatched);
            return;
        }

        Publish(record);
    }

    public void CallRinging(string callId, string fromTag, string toTag, DateTimeOffset at)
    {
        Update(new DialogKey(callId, fromTag), current =>
        {
            if (current.State != DialogState.Early)
            {
                return null;
            }

            var known = current.EarlyToTags.Contains(toTag, StringComparer.Ordinal);
            var addTag = !known && current.EarlyToTags.Count < MaxEarlyDialogs;
            if (!addTag && current.RingingAt is not null)
            {
                return current; // nothing new: no version
            }

            return Next(current) with
            {
                EarlyToTags = addTag ? [.. current.EarlyToTags, toTag] : current.EarlyToTags,
                RingingAt = current.RingingAt ?? at,
            };
        });
    }

    public void CallAnswered(string callId, string fromTag, string toTag, DateTimeOffset at)
    {
        // Only the first 2xx confirms the call; a 2xx from another fork (which the caller will
        // BYE) or a retransmission changes nothing.
        Update(new DialogKey(callId, fromTag), current => current.State != DialogState.Early
            ? null
            : Next(current) with { State = DialogState.Confirmed, ToTag = toTag, AnsweredAt = at });
    }

    public void CallFailed(string callId, string fromTag, int finalStatus, bool cancelled, DateTimeOffset at)
    {
        var ended = Terminate(new DialogKey(callId, fromTag), current => current.State != DialogState.Early
            ? null
            : Ended(current, at, finalStatus, Classify(finalStatus, cancelled), timedOut: false));
        if (!ended)
        {
            Interlocked.Increment(ref _unmatched);
        }
    }

    public void CallEnded(string callId, string fromTag, string toTag, int byeStatus, DateTimeOffset at)
    {
        // The caller's BYE carries (caller tag, callee tag); the callee's the other way round.
        if (EndConfirmed(new DialogKey(callId, fromTag), toTag, at) || EndConfirmed(new DialogKey(callId, toTag), fromTag, at))
        {
            return;
        }

        Interlocked.Increment(ref _unmatched);
    }

    /// <summary>The call with this Call-ID and caller's tag, or null.</summary>
    public DialogRecord? Find(string callId, string fromTag) =>
        _dialogs.TryGetValue(new DialogKey(callId, fromTag), out var record) ? record : null;

    /// <summary>
    /// A snapshot of every tracked call (each record consistent; calls changing meanwhile may appear
    /// in either version). For a full state transfer, subscribe to <see cref="Changed"/> first, then
    /// export: the receiver keeps the highest version of each call.
    /// </summary>
    public IReadOnlyList<DialogRecord> Export()
    {
        var result = new List<DialogRecord>();
        foreach (var (_, record) in _dialogs)
        {
            result.Add(record);
        }

        return result;
    }

    /// <summary>
    /// Applies a record replicated from another node; returns whether it changed anything. A newer
    /// version of a known call replaces it; an unknown call is added (within the limit); a
    /// <see cref="DialogState.Terminated"/> record removes the call without writing a CDR (the node
    /// that ended the call wrote it) and is remembered for <see cref="DialogTrackerOptions.TombstoneLifetime"/>
    /// so that an older copy arriving late is ignored. Imports do not raise <see cref="Changed"/>.
    /// If the same Call-ID and From tag belong to two different calls (a retried INVITE), the one
    /// that started later wins.
    /// </summary>
    public bool Import(DialogRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var key = new DialogKey(record.CallId, record.FromTag);
        if (record.State == DialogState.Terminated)
        {
            var removed = false;
            while (_dialogs.TryGetValue(key, out var local) && local.Id == record.Id)
            {
                if (_dialogs.TryRemove(KeyValuePair.Create(key, local)))
                {
                    Interlocked.Decrement(ref _count);
                    removed = true;
                    break;
                }
            }

            AddTombstone(key, record);
            return removed;
        }

        if (_tombstones.TryGetValue(key, out var dead) && dead.Id == record.Id)
        {
            return false;
        }

        while (true)
        {
            if (_dialogs.TryGetValue(key, out var local))
            {
                var newer = local.Id == record.Id ? record.Version > local.Version : record.StartedAt > local.StartedAt;
                if (!newer)
                {
                    return false;
                }

                if (_dialogs.TryUpdate(key, record, local))
                {
                    return true;
                }
            }
            else
            {
                if (!ReserveSlot())
                {
                    return false;
                }

                if (_dialogs.TryAdd(key, record))
                {
                    return true;
                }

                Interlocked.Decrement(ref _count);
            }
        }
    }

    /// <summary>
    /// Closes the calls past their maximum setup or call duration and forgets old tombstones. Runs
    /// every <see cref="DialogTrackerOptions.SweepInterval"/> on the tracker's timer; public for tests
    /// and for a caller that wants it now.
    /// </summary>
    public void Sweep()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) != 0)
        {
            return;
        }

        try
        {
            var now = _time.GetUtcNow();
            foreach (var (key, record) in _dialogs)
            {
                if (Deadline(record) <= now)
                {
                    Terminate(key, current => Deadline(current) is { } deadline && deadline <= now ? TimedOutEnd(current, deadline) : null);
                }
            }

            while (_tombstoneOrder.TryPeek(out var oldest) && oldest.At + _options.TombstoneLifetime <= now && _tombstoneOrder.TryDequeue(out oldest))
            {
                Interlocked.Decrement(ref _tombstoneCount);
                if (_tombstones.TryGetValue(oldest.Key, out var entry) && entry.Id == oldest.Id)
                {
                    _tombstones.TryRemove(KeyValuePair.Create(oldest.Key, entry));
                }
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    /// <summary>Stops the sweep timer. Calls still tracked are not closed (see docs/calls.md); the CDR store is not disposed.</summary>
    public void Dispose() => _sweepTimer.Dispose();

    private DateTimeOffset? Deadline(DialogRecord record) => record.State switch
    {
        DialogState.Early => record.StartedAt + _options.MaxSetupDuration,
        DialogState.Confirmed when record.AnsweredAt is { } answered => answered + _options.MaxCallDuration,
        _ => null,
    };

    private DialogRecord TimedOutEnd(DialogRecord current, DateTimeOffset deadline) => current.State == DialogState.Confirmed
        ? Ended(current, deadline, 200, CallDisposition.Answered, timedOut: true)
        : Ended(current, deadline, 408, CallDisposition.NoAnswer, timedOut: true);

    private bool EndConfirmed(DialogKey key, string otherTag, DateTimeOffset at) =>
        Terminate(key, current => current.State == DialogState.Confirmed && string.Equals(current.ToTag, otherTag, StringComparison.Ordinal)
            ? Ended(current, at, 200, CallDisposition.Answered, timedOut: false)
            : null);

    private DialogRecord Next(DialogRecord current) => current with { Version = current.Version + 1, Node = _options.NodeName };

    private DialogRecord Ended(DialogRecord current, DateTimeOffset at, int status, CallDisposition disposition, bool timedOut) =>
        Next(current) with
        {
            State = DialogState.Terminated,
            EndedAt = at,
            FinalStatus = status,
            Disposition = disposition,
            TimedOut = timedOut,
        };

    private bool ReserveSlot()
    {
        if (Interlocked.Increment(ref _count) <= _options.MaxDialogs)
        {
            return true;
        }

        Interlocked.Decrement(ref _count);
        Interlocked.Increment(ref _rejected);
        return false;
    }

    /// <summary>
    /// Compare-and-set loop: <paramref name="change"/> returns the next version, the same record for
    /// "nothing to do", or null when the event does not apply to the call's state.
    /// </summary>
    private void Update(DialogKey key, Func<DialogRecord, DialogRecord?> change)
    {
        while (_dialogs.TryGetValue(key, out var current))
        {
            var next = change(current);
            if (next is null)
            {
                break;
            }

            if (ReferenceEquals(next, current))
            {
                return;
            }

            if (_dialogs.TryUpdate(key, next, current))
            {
                Publish(next);
                return;
            }
        }

        Interlocked.Increment(ref _unmatched);
    }

    /// <summary>Removes the call if <paramref name="end"/> gives its terminated version; the remover writes the CDR.</summary>
    private bool Terminate(DialogKey key, Func<DialogRecord, DialogRecord?> end)
    {
        while (_dialogs.TryGetValue(key, out var current))
        {
            if (end(current) is not { } ended)
            {
                return false;
            }

            if (!_dialogs.TryRemove(KeyValuePair.Create(key, current)))
            {
                continue; // changed meanwhile: look again
            }

            Interlocked.Decrement(ref _count);
            if (ended.TimedOut)
            {
                Interlocked.Increment(ref _timedOut);
            }

            AddTombstone(key, ended);
            Publish(ended);
            WriteCdr(ended);
            return true;
        }

        return false;
    }

    private void AddTombstone(DialogKey key, DialogRecord record)
    {
        if (_options.TombstoneLifetime == TimeSpan.Zero)
        {
            return;
        }

        if (Interlocked.Increment(ref _tombstoneCount) > _options.MaxDialogs)
        {
            Interlocked.Decrement(ref _tombstoneCount);
            return;
        }

        _tombstones[key] = (record.Id, record.Version);
        _tombstoneOrder.Enqueue((key, record.Id, _time.GetUtcNow()));
    }

    private void Publish(DialogRecord record)
    {
        try
        {
            Changed?.Invoke(record);
        }
        catch (Exception ex)
        {
            _options.OnError?.Invoke(ex);
        }
    }

    private void WriteCdr(DialogRecord ended)
    {
        try
        {
            var pending = _cdrs.AppendAsync(ended.ToCdr());
            if (pending.IsCompletedSuccessfully)
            {
                pending.GetAwaiter().GetResult();
            }
            else
            {
                _ = ObserveAsync(pending);
            }

            Interlocked.Increment(ref _cdrsWritten);
        }
        catch (Exception ex)
        {
            _options.OnError?.Invoke(ex);
        }
    }

    private async Task ObserveAsync(ValueTask pending)
    {
        try
        {
            await pending;
        }
        catch (Exception ex)
        {
            _options.OnError?.Invoke(ex);
        }
    }

    private readonly record struct DialogKey(string CallId, string FromTag);
}
