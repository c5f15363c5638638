using Tandem.Server.Calls;
using Tandem.Sip.Tests;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Calls;

/// <summary>In-memory CDR store: records what the tracker appended.</summary>
internal sealed class MemoryCdrStore : ICdrStore
{
    private readonly Lock _gate = new();
    private readonly List<CallDetailRecord> _records = [];

    public IReadOnlyList<CallDetailRecord> Records
    {
        get
        {
            lock (_gate)
            {
                return [.. _records];
            }
        }
    }

    public ValueTask AppendAsync(CallDetailRecord record, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _records.Add(record);
        }

        return ValueTask.CompletedTask;
    }

    public Task<IReadOnlyList<CallDetailRecord>> ListAsync(CdrQuery query, CancellationToken cancellationToken = default) =>
        Task.FromResult(Records);

    public Task FlushAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

public sealed class DialogTrackerTests : IDisposable
{
    private const string Caller = "sip:alice@example.com";
    private const string Callee = "sip:bob@example.com";

    // The fake clock's epoch.
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _clock = new();
    private readonly MemoryCdrStore _cdrs = new();
    private readonly DialogTracker _tracker;

    public DialogTrackerTests()
    {
        _tracker = NewTracker(_cdrs, "node-a");
    }

    public void Dispose() => _tracker.Dispose();

    private DialogTracker NewTracker(ICdrStore store, string node, int maxDialogs = 10_000) => new(store, _clock, new DialogTrackerOptions
    {
        NodeName = node,
        MaxCallDuration = TimeSpan.FromHours(1),
        MaxSetupDuration = TimeSpan.FromMinutes(5),
        SweepInterval = TimeSpan.FromSeconds(10),
        MaxDialogs = maxDialogs,
    });

    private static void Answer(DialogTracker tracker, string callId = "call-1", string fromTag = "ft", string toTag = "tt")
    {
        tracker.CallStarted(callId, fromTag, Caller, Callee, T0);
        tracker.CallRinging(callId, fromTag, toTag, T0.AddSeconds(1));
        tracker.CallAnswered(callId, fromTag, toTag, T0.AddSeconds(5));
    }

    [Fact]
    public void Answered_call_ended_by_the_caller_gets_one_cdr_with_talk_time()
    {
        Answer(_tracker);
        Assert.Equal(DialogState.Confirmed, _tracker.Find("call-1", "ft")!.State);
        Assert.Empty(_cdrs.Records);

        _tracker.CallEnded("call-1", "ft", "tt", 200, T0.AddSeconds(65));

        var cdr = Assert.Single(_cdrs.Records);
        Assert.Equal(CdrDisposition.Answered, cdr.Disposition);
        Assert.Equal(200, cdr.FinalStatus);
        Assert.Equal(("call-1", "ft", "tt"), (cdr.CallId, cdr.FromTag, cdr.ToTag));
        Assert.Equal((Caller, Callee), (cdr.Caller, cdr.Callee));
        Assert.Equal(T0, cdr.StartedAt);
        Assert.Equal(T0.AddSeconds(5), cdr.AnsweredAt);
        Assert.Equal(T0.AddSeconds(65), cdr.EndedAt);
        Assert.Equal(TimeSpan.FromSeconds(60), cdr.Duration);
        Assert.False(cdr.TimedOut);
        Assert.Equal("node-a", cdr.Node);
        Assert.Equal(0, _tracker.Count);
        Assert.Null(_tracker.Find("call-1", "ft"));
    }

    [Fact]
    public void Bye_from_the_callee_carries_the_tags_the_other_way_round()
    {
        Answer(_tracker);

        _tracker.CallEnded("call-1", "tt", "ft", 200, T0.AddSeconds(35));

        var cdr = Assert.Single(_cdrs.Records);
        Assert.Equal(CdrDisposition.Answered, cdr.Disposition);
        Assert.Equal(TimeSpan.FromSeconds(30), cdr.Duration);
    }

    [Fact]
    public void A_bye_with_other_tags_or_another_call_id_ends_nothing()
    {
        Answer(_tracker);

        _tracker.CallEnded("call-1", "ft", "someone-else", 200, T0.AddSeconds(10));
        _tracker.CallEnded("call-2", "ft", "tt", 200, T0.AddSeconds(10));

        Assert.Empty(_cdrs.Records);
        Assert.Equal(1, _tracker.Count);
        Assert.Equal(2, _tracker.Unmatched);
    }

    [Theory]
    [InlineData(486, false, CdrDisposition.Busy)]
    [InlineData(600, false, CdrDisposition.Busy)]
    [InlineData(408, false, CdrDisposition.NoAnswer)]
    [InlineData(480, false, CdrDisposition.NoAnswer)]
    [InlineData(487, false, CdrDisposition.NoAnswer)]
    [InlineData(487, true, CdrDisposition.Cancelled)]
    [InlineData(404, false, CdrDisposition.Failed)]
    [InlineData(503, false, CdrDisposition.Failed)]
    [InlineData(603, false, CdrDisposition.Failed)]
    public void Unanswered_calls_get_their_disposition_and_no_talk_time(int status, bool cancelled, CdrDisposition expected)
    {
        _tracker.CallStarted("call-1", "ft", Caller, Callee, T0);
        _tracker.CallRinging("call-1", "ft", "tt", T0.AddSeconds(1));

        _tracker.CallFailed("call-1", "ft", status, cancelled, T0.AddSeconds(20));

        var cdr = Assert.Single(_cdrs.Records);
        Assert.Equal(expected, cdr.Disposition);
        Assert.Equal(status, cdr.FinalStatus);
        Assert.Null(cdr.AnsweredAt);
        Assert.Equal(T0.AddSeconds(20), cdr.EndedAt);
        Assert.Equal(TimeSpan.Zero, cdr.Duration);
        Assert.Equal("tt", cdr.ToTag);
        Assert.Equal(0, _tracker.Count);
    }

    [Fact]
    public void Failure_without_any_early_dialog_has_no_to_tag()
    {
        _tracker.CallStarted("call-1", "ft", Caller, Callee, T0);
        _tracker.CallFailed("call-1", "ft", 404, false, T0.AddMilliseconds(30));

        var cdr = Assert.Single(_cdrs.Records);
        Assert.Null(cdr.ToTag);
        Assert.Equal(CdrDisposition.Failed, cdr.Disposition);
    }

    [Fact]
    public void Forked_early_dialogs_the_first_2xx_wins_and_only_its_bye_ends_the_call()
    {
        _tracker.CallStarted("call-1", "ft", Caller, Callee, T0);
        _tracker.CallRinging("call-1", "ft", "fork-a", T0.AddSeconds(1));
        _tracker.CallRinging("call-1", "ft", "fork-b", T0.AddSeconds(2));
        Assert.Equal(["fork-a", "fork-b"], _tracker.Find("call-1", "ft")!.EarlyToTags);

        _tracker.CallAnswered("call-1", "ft", "fork-b", T0.AddSeconds(3));
        _tracker.CallAnswered("call-1", "ft", "fork-a", T0.AddSeconds(4)); // second answer: the caller BYEs it
        Assert.Equal("fork-b", _tracker.Find("call-1", "ft")!.ToTag);
        Assert.Equal(T0.AddSeconds(3), _tracker.Find("call-1", "ft")!.AnsweredAt);

        _tracker.CallEnded("call-1", "ft", "fork-a", 200, T0.AddSeconds(5));
        Assert.Empty(_cdrs.Records);

        _tracker.CallEnded("call-1", "fork-b", "ft", 200, T0.AddSeconds(13));
        var cdr = Assert.Single(_cdrs.Records);
        Assert.Equal("fork-b", cdr.ToTag);
        Assert.Equal(TimeSpan.FromSeconds(10), cdr.Duration);
    }

    [Fact]
    public void An_answered_call_without_bye_is_closed_at_the_maximum_duration()
    {
        Answer(_tracker);

        _clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Empty(_cdrs.Records);

        _clock.Advance(TimeSpan.FromMinutes(2)); // the 10 s sweep passes answer + 1 h
        var cdr = Assert.Single(_cdrs.Records);
        Assert.Equal(CdrDisposition.Answered, cdr.Disposition);
        Assert.True(cdr.TimedOut);
        Assert.Equal(TimeSpan.FromHours(1), cdr.Duration);
        Assert.Equal(T0.AddSeconds(5).AddHours(1), cdr.EndedAt);
        Assert.Equal(1, _tracker.TimedOut);

        // A BYE that finally arrives changes nothing: still one CDR.
        _tracker.CallEnded("call-1", "ft", "tt", 200, _clock.GetUtcNow());
        Assert.Single(_cdrs.Records);
    }

    [Fact]
    public void A_call_that_never_gets_a_final_response_is_closed_at_the_maximum_setup_time()
    {
        _tracker.CallStarted("call-1", "ft", Caller, Callee, T0);

        _clock.Advance(TimeSpan.FromMinutes(6));

        var cdr = Assert.Single(_cdrs.Records);
        Assert.Equal(CdrDisposition.NoAnswer, cdr.Disposition);
        Assert.Equal(408, cdr.FinalStatus);
        Assert.True(cdr.TimedOut);
        Assert.Equal(T0.AddMinutes(5), cdr.EndedAt);
        Assert.Equal(0, _tracker.Count);
    }

    [Fact]
    public void Beyond_the_cap_calls_are_not_tracked_until_a_slot_frees()
    {
        using var tracker = NewTracker(_cdrs, "node-a", maxDialogs: 2);
        Answer(tracker, "c1");
        Answer(tracker, "c2");
        Answer(tracker, "c3");

        Assert.Equal(2, tracker.Count);
        Assert.Equal(1, tracker.Rejected);
        Assert.Null(tracker.Find("c3", "ft"));

        tracker.CallEnded("c1", "ft", "tt", 200, T0.AddSeconds(10));
        Answer(tracker, "c4");
        Assert.NotNull(tracker.Find("c4", "ft"));
        Assert.Equal(["c1"], _cdrs.Records.Select(r => r.CallId));
    }

    [Fact]
    public void Late_or_duplicate_events_do_not_change_a_call()
    {
        _tracker.CallStarted("call-1", "ft", Caller, Callee, T0);
        _tracker.CallStarted("call-1", "ft", "sip:mallory@example.com", Callee, T0.AddSeconds(1));
        Assert.Equal(Caller, _tracker.Find("call-1", "ft")!.Caller);

        _tracker.CallAnswered("call-1", "ft", "tt", T0.AddSeconds(2));
        _tracker.CallFailed("call-1", "ft", 487, true, T0.AddSeconds(3)); // after a 2xx: ignored
        Assert.Empty(_cdrs.Records);

        _tracker.CallEnded("call-1", "ft", "tt", 200, T0.AddSeconds(4));
        _tracker.CallEnded("call-1", "ft", "tt", 481, T0.AddSeconds(5)); // retransmitted BYE
        _tracker.CallAnswered("call-1", "ft", "tt", T0.AddSeconds(6));
        Assert.Single(_cdrs.Records);
        Assert.Null(_tracker.Find("call-1", "ft"));
    }

    [Fact]
    public void Every_change_is_published_as_a_new_version()
    {
        var changes = new List<DialogRecord>();
        _tracker.Changed += changes.Add;

        _tracker.CallStarted("call-1", "ft", Caller, Callee, T0);
        _tracker.CallRinging("call-1", "ft", "tt", T0.AddSeconds(1));
        _tracker.CallRinging("call-1", "ft", "tt", T0.AddSeconds(2)); // 183 after 180, same dialog: nothing new
        _tracker.CallAnswered("call-1", "ft", "tt", T0.AddSeconds(3));
        _tracker.CallEnded("call-1", "tt", "ft", 200, T0.AddSeconds(4));

        Assert.Equal([1L, 2, 3, 4], changes.Select(c => c.Version));
        Assert.Equal([DialogState.Early, DialogState.Early, DialogState.Confirmed, DialogState.Terminated], changes.Select(c => c.State));
        Assert.Single(changes.Select(c => c.Id).Distinct());
        Assert.Equal(changes[0].Id, Assert.Single(_cdrs.Records).Id);
        Assert.Equal(T0.AddSeconds(1), changes[3].RingingAt);
    }

    [Fact]
    public void A_call_set_up_on_one_node_is_ended_on_another_and_closed_once()
    {
        var cdrsB = new MemoryCdrStore();
        using var nodeB = NewTracker(cdrsB, "node-b");
        var fromA = new List<DialogRecord>();
        var fromB = new List<DialogRecord>();
        _tracker.Changed += fromA.Add;
        nodeB.Changed += fromB.Add;

        Answer(_tracker);
        foreach (var record in _tracker.Export())
        {
            Assert.True(nodeB.Import(record));
        }

        Assert.Equal(DialogState.Confirmed, nodeB.Find("call-1", "ft")!.State);

        // The callee hangs up through node B.
        nodeB.CallEnded("call-1", "tt", "ft", 200, T0.AddSeconds(125));
        var cdr = Assert.Single(cdrsB.Records);
        Assert.Equal(("node-b", CdrDisposition.Answered, TimeSpan.FromSeconds(120)), (cdr.Node, cdr.Disposition, cdr.Duration));
        Assert.Equal(fromA[0].Id, cdr.Id);

        // Node A learns the call ended: it forgets it and writes no second CDR.
        var terminated = Assert.Single(fromB);
        Assert.Equal(fromA[^1].Version + 1, terminated.Version);
        Assert.True(_tracker.Import(terminated));
        Assert.Equal(0, _tracker.Count);
        Assert.Empty(_cdrs.Records);

        // An older copy arriving late does not bring the call back on either node.
        Assert.False(_tracker.Import(fromA[^1]));
        Assert.False(nodeB.Import(fromA[^1]));
        Assert.Equal((0, 0), (_tracker.Count, nodeB.Count));
    }

    [Fact]
    public void Import_keeps_the_highest_version()
    {
        var changes = new List<DialogRecord>();
        _tracker.Changed += changes.Add;
        Answer(_tracker);
        using var nodeB = NewTracker(new MemoryCdrStore(), "node-b");

        Assert.True(nodeB.Import(changes[2]));
        Assert.False(nodeB.Import(changes[0]));
        Assert.False(nodeB.Import(changes[2]));
        Assert.Equal(DialogState.Confirmed, nodeB.Find("call-1", "ft")!.State);
    }

    [Fact]
    public void Racing_byes_from_both_sides_give_exactly_one_cdr_per_call()
    {
        const int calls = 2000;
        for (var i = 0; i < calls; i++)
        {
            Answer(_tracker, "call-" + i);
        }

        Parallel.For(0, calls * 2, new ParallelOptions { MaxDegreeOfParallelism = 4 }, n =>
        {
            var callId = "call-" + (n / 2);
            if (n % 2 == 0)
            {
                _tracker.CallEnded(callId, "ft", "tt", 200, T0.AddSeconds(30));
            }
            else
            {
                _tracker.CallEnded(callId, "tt", "ft", 200, T0.AddSeconds(30));
            }
        });

        Assert.Equal(calls, _cdrs.Records.Count);
        Assert.Equal(calls, _cdrs.Records.Select(r => r.Id).Distinct().Count());
        Assert.Equal(0, _tracker.Count);
    }

    [Fact]
    public async Task Cdrs_reach_the_database_through_the_write_behind_store()
    {
        using var dir = new TempDirectory();
        var database = SqliteDatabase.Open(dir.Path);
        await using (var store = new WriteBehindCdrStore(new SqliteCdrStore(database), new WriteBehindOptions { FlushInterval = TimeSpan.FromMilliseconds(20) }))
        {
            using var tracker = NewTracker(store, "node-a");
            Answer(tracker);
            tracker.CallEnded("call-1", "ft", "tt", 200, T0.AddSeconds(65));
            tracker.CallStarted("call-2", "ft", Caller, Callee, T0.AddSeconds(70));
            tracker.CallFailed("call-2", "ft", 486, false, T0.AddSeconds(71));
        }

        var stored = await new SqliteCdrStore(SqliteDatabase.Open(dir.Path)).ListAsync(new CdrQuery());
        Assert.Equal([("call-2", CdrDisposition.Busy), ("call-1", CdrDisposition.Answered)], stored.Select(r => (r.CallId, r.Disposition)));
        Assert.Equal(TimeSpan.FromSeconds(60), stored[1].Duration);
    }
}
