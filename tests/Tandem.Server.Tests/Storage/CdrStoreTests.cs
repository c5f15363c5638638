using Microsoft.Data.Sqlite;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Storage;

public sealed class CdrStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_123);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    internal static CallDetailRecord MakeCdr(
        string id,
        DateTimeOffset startedAt,
        string caller = "sip:alice@example.com",
        string callee = "sip:bob@example.com",
        CdrDisposition disposition = CdrDisposition.Answered)
    {
        var answered = disposition == CdrDisposition.Answered;
        return new CallDetailRecord
        {
            Id = id,
            CallId = "call-" + id,
            FromTag = "ft-" + id,
            ToTag = answered ? "tt-" + id : null,
            Caller = caller,
            Callee = callee,
            StartedAt = startedAt,
            AnsweredAt = answered ? startedAt.AddSeconds(3) : null,
            EndedAt = startedAt.AddSeconds(63),
            Duration = answered ? TimeSpan.FromSeconds(60) : TimeSpan.Zero,
            FinalStatus = answered ? 200 : 486,
            Disposition = disposition,
            Node = "node-1",
        };
    }

    [Fact]
    public async Task Records_round_trip_every_field()
    {
        var store = new SqliteCdrStore(SqliteDatabase.Open(_dir.Path));
        var answered = MakeCdr("a", T0) with { TimedOut = true };
        var busy = MakeCdr("b", T0.AddMinutes(1), disposition: CdrDisposition.Busy);

        await store.AppendAsync(answered);
        await store.AppendAsync(busy);

        var listed = await store.ListAsync(new CdrQuery());
        Assert.Equal([busy, answered], listed);
    }

    [Theory]
    [InlineData(CdrDisposition.Answered)]
    [InlineData(CdrDisposition.Busy)]
    [InlineData(CdrDisposition.NoAnswer)]
    [InlineData(CdrDisposition.Failed)]
    [InlineData(CdrDisposition.Cancelled)]
    public async Task Every_disposition_is_stored_and_read_back(CdrDisposition disposition)
    {
        var store = new SqliteCdrStore(SqliteDatabase.Open(_dir.Path));
        await store.AppendAsync(MakeCdr("x", T0, disposition: disposition));

        Assert.Equal(disposition, Assert.Single(await store.ListAsync(new CdrQuery())).Disposition);
    }

    [Fact]
    public async Task A_record_with_a_stored_id_is_kept_once()
    {
        var store = new SqliteCdrStore(SqliteDatabase.Open(_dir.Path));
        await store.AppendAsync(MakeCdr("same", T0));
        await store.AppendAsync(MakeCdr("same", T0) with { Node = "node-2" });
        Assert.Equal(1, await store.AppendBatchAsync([MakeCdr("same", T0), MakeCdr("other", T0)]));

        var listed = await store.ListAsync(new CdrQuery());
        Assert.Equal(2, listed.Count);
        Assert.Equal("node-1", listed.Single(r => r.Id == "same").Node);
    }

    [Fact]
    public async Task Listing_filters_by_time_party_and_limit_newest_first()
    {
        var store = new SqliteCdrStore(SqliteDatabase.Open(_dir.Path));
        await store.AppendBatchAsync(
        [
            MakeCdr("1", T0, caller: "sip:Alice@example.com", callee: "sip:100@pbx"),
            MakeCdr("2", T0.AddMinutes(10), caller: "sip:bob@example.com", callee: "sip:100_1@pbx"),
            MakeCdr("3", T0.AddMinutes(20), caller: "sip:alice@example.com", callee: "sip:200@pbx"),
            MakeCdr("4", T0.AddMinutes(30), caller: "sip:carol@example.org", callee: "sip:100@pbx"),
        ]);

        async Task<string[]> Ids(CdrQuery query) => [.. (await store.ListAsync(query)).Select(r => r.Id)];

        Assert.Equal(["4", "3", "2", "1"], await Ids(new CdrQuery()));
        Assert.Equal(["3", "2"], await Ids(new CdrQuery { Since = T0.AddMinutes(10), Until = T0.AddMinutes(30) }));
        Assert.Equal(["3", "1"], await Ids(new CdrQuery { Caller = "ALICE" }));
        Assert.Equal(["4", "1"], await Ids(new CdrQuery { Callee = "100@" }));
        Assert.Equal(["2"], await Ids(new CdrQuery { Callee = "_" })); // literal, not a LIKE wildcard
        Assert.Equal(["3"], await Ids(new CdrQuery { Caller = "alice", Since = T0.AddMinutes(1) }));
        Assert.Equal(["4", "3"], await Ids(new CdrQuery { Limit = 2 }));
        Assert.Empty(await Ids(new CdrQuery { Caller = "nobody" }));
    }

    [Fact]
    public void Time_range_listing_uses_the_start_index()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        using var connection = new SqliteConnection($"Data Source={database.Path}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN SELECT * FROM cdrs WHERE started_at_ms >= 1 AND started_at_ms < 2 ORDER BY started_at_ms DESC, seq DESC LIMIT 10;";
        using var reader = command.ExecuteReader();
        var plan = new List<string>();
        while (reader.Read())
        {
            plan.Add(reader.GetString(3));
        }

        Assert.Contains(plan, step => step.Contains("cdrs_by_start", StringComparison.Ordinal));
        Assert.DoesNotContain(plan, step => step.Contains("TEMP B-TREE", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Write_behind_queues_commits_in_one_batch_and_survives_a_restart()
    {
        var store = new WriteBehindCdrStore(new SqliteCdrStore(SqliteDatabase.Open(_dir.Path)), new WriteBehindOptions { FlushInterval = TimeSpan.FromHours(1) });
        await store.AppendAsync(MakeCdr("1", T0));
        await store.AppendAsync(MakeCdr("2", T0.AddSeconds(1)));
        await store.AppendAsync(MakeCdr("3", T0.AddSeconds(2)));
        Assert.Equal(3, store.PendingCount);
        Assert.Empty(await new SqliteCdrStore(SqliteDatabase.Open(_dir.Path)).ListAsync(new CdrQuery()));

        await store.FlushAsync();
        Assert.Equal((1L, 3L, 0), (store.BatchesWritten, store.RecordsWritten, store.PendingCount));

        await store.AppendAsync(MakeCdr("4", T0.AddSeconds(3)));
        await store.DisposeAsync(); // flushes

        SqliteDatabase.ReleasePooledConnections();
        var reopened = new SqliteCdrStore(SqliteDatabase.Open(_dir.Path));
        Assert.Equal(["4", "3", "2", "1"], (await reopened.ListAsync(new CdrQuery())).Select(r => r.Id));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.AppendAsync(MakeCdr("5", T0)));
    }

    [Fact]
    public async Task Write_behind_caps_the_queue_and_counts_what_it_drops()
    {
        await using var store = new WriteBehindCdrStore(
            new SqliteCdrStore(SqliteDatabase.Open(_dir.Path)), new WriteBehindOptions { FlushInterval = TimeSpan.FromHours(1) }, maxPending: 2);
        await store.AppendAsync(MakeCdr("1", T0));
        await store.AppendAsync(MakeCdr("2", T0));
        await store.AppendAsync(MakeCdr("3", T0));

        Assert.Equal((2, 1L), (store.PendingCount, store.Dropped));
        Assert.Equal(2, (await store.ListAsync(new CdrQuery())).Count);
    }

    [Fact]
    public async Task Storage_factory_opens_the_cdr_store_and_closing_it_writes_pending_records()
    {
        await using (var storage = StorageFactory.Open(_dir.Path, StorageMode.WriteThrough, new WriteBehindOptions { FlushInterval = TimeSpan.FromHours(1) }))
        {
            await storage.Cdrs.AppendAsync(MakeCdr("1", T0));
        }

        Assert.Single(await new SqliteCdrStore(SqliteDatabase.Open(_dir.Path)).ListAsync(new CdrQuery()));
    }

    [Fact]
    public async Task A_version_1_database_is_migrated_and_keeps_its_data()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        await new SqliteBindingStore(database).UpsertAsync(SqliteStoreTests.MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.1", T0.AddHours(1)));
        using (var connection = new SqliteConnection($"Data Source={database.Path}"))
        {
            // What a Tandem with schema 1 left behind.
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "DROP TABLE cdrs; DROP TABLE replicated; DROP TABLE subscriber_changes; UPDATE schema_version SET version = 1;";
            command.ExecuteNonQuery();
        }

        var migrated = SqliteDatabase.Open(_dir.Path);

        Assert.Single(await new SqliteBindingStore(migrated).ListAsync(null));
        var cdrs = new SqliteCdrStore(migrated);
        await cdrs.AppendAsync(MakeCdr("1", T0));
        Assert.Single(await cdrs.ListAsync(new CdrQuery()));
        using var check = new SqliteConnection($"Data Source={migrated.Path}");
        check.Open();
        using var version = check.CreateCommand();
        version.CommandText = "SELECT version FROM schema_version;";
        Assert.Equal(4L, version.ExecuteScalar());
    }
}
