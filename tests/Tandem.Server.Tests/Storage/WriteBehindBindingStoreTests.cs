using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Storage;

public sealed class WriteBehindBindingStoreTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static WriteBehindOptions Slow(int maxBatch = 1000) =>
        new() { FlushInterval = TimeSpan.FromHours(1), MaxBatchSize = maxBatch };

    [Fact]
    public async Task Changes_are_not_written_before_the_interval_and_coalesce_on_flush()
    {
        var direct = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        await using var store = new WriteBehindBindingStore(direct, Slow());

        for (uint cseq = 1; cseq <= 50; cseq++)
        {
            await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:c1", Now.AddHours(1), cseq));
        }

        await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:c2", Now.AddHours(1)));
        await store.DeleteAsync("sip:a@x", "sip:c2");

        await Task.Delay(100);
        Assert.Empty(await direct.LoadAllAsync());
        Assert.Equal(2, store.PendingCount);

        await store.FlushAsync();

        var written = Assert.Single(await direct.LoadAllAsync());
        Assert.Equal(50u, written.CSeq);
        Assert.Equal(1, store.BatchesWritten);
        Assert.Equal(2, store.ChangesWritten);
        Assert.Equal(0, store.PendingCount);
    }

    [Fact]
    public async Task Background_writer_commits_after_the_flush_interval_without_FlushAsync()
    {
        var direct = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        await using var store = new WriteBehindBindingStore(direct, new WriteBehindOptions { FlushInterval = TimeSpan.FromMilliseconds(20) });

        await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:c1", Now.AddHours(1)));

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (store.BatchesWritten == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Single(await direct.LoadAllAsync());
    }

    [Fact]
    public async Task A_full_batch_is_written_without_waiting_for_the_interval()
    {
        var direct = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        await using var store = new WriteBehindBindingStore(direct, Slow(maxBatch: 3));

        for (var i = 0; i < 3; i++)
        {
            await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", $"sip:c{i}", Now.AddHours(1)));
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (store.BatchesWritten == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(3, (await direct.LoadAllAsync()).Count);
    }

    [Fact]
    public async Task DeleteExpired_also_drops_queued_upserts_that_are_already_expired()
    {
        var direct = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        await direct.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:old", Now.AddSeconds(-10)));
        await using var store = new WriteBehindBindingStore(direct, Slow());

        await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:queued-expired", Now.AddSeconds(-1)));
        await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:live", Now.AddSeconds(30)));
        await store.DeleteExpiredAsync(Now);
        // Queued after the sweep: must survive it even though it is expired relative to Now.
        await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:after-sweep", Now.AddSeconds(-5)));
        await store.FlushAsync();

        Assert.Equal(["sip:after-sweep", "sip:live"], (await direct.LoadAllAsync()).Select(b => b.ContactUri));
    }

    [Fact]
    public async Task Dispose_flushes_pending_changes_so_they_survive_a_restart()
    {
        await using (var storage = StorageFactory.Open(_dir.Path, StorageMode.WriteBehind, Slow()))
        {
            await storage.Bindings.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:c1", Now.AddHours(1)));
        }

        SqliteDatabase.ReleasePooledConnections();
        var reopened = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        Assert.Single(await reopened.LoadAllAsync());
    }

    [Fact]
    public async Task Reads_see_the_callers_own_queued_changes()
    {
        await using var store = new WriteBehindBindingStore(new SqliteBindingStore(SqliteDatabase.Open(_dir.Path)), Slow());
        await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:c1", Now.AddHours(1)));

        Assert.Single(await store.ListAsync("sip:a@x"));
    }

    [Fact]
    public async Task FlushAsync_with_nothing_queued_completes_immediately()
    {
        await using var store = new WriteBehindBindingStore(new SqliteBindingStore(SqliteDatabase.Open(_dir.Path)), Slow());

        Assert.True(store.FlushAsync().IsCompletedSuccessfully);
        Assert.Equal(0, store.BatchesWritten);
    }

    [Fact]
    public async Task A_failed_batch_faults_FlushAsync_and_is_retried_until_written()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        var errors = 0;
        await using var store = new WriteBehindBindingStore(
            new SqliteBindingStore(database),
            new WriteBehindOptions { FlushInterval = TimeSpan.FromMilliseconds(20), OnWriteError = _ => Interlocked.Increment(ref errors) });
        Execute(database, "ALTER TABLE bindings RENAME TO bindings_away;");

        await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:c1", Now.AddHours(1)));
        await Assert.ThrowsAnyAsync<Exception>(() => store.FlushAsync());
        Assert.True(errors >= 1);

        Execute(database, "ALTER TABLE bindings_away RENAME TO bindings;");

        // A retry already running while the table came back may still fail and fault that flush;
        // what must hold is that the writer keeps retrying until a flush succeeds.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                await store.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
                break;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }

        Assert.Single(await new SqliteBindingStore(database).LoadAllAsync());
    }

    private static void Execute(SqliteDatabase database, string sql)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database.Path}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task Changes_after_dispose_are_refused()
    {
        var store = new WriteBehindBindingStore(new SqliteBindingStore(SqliteDatabase.Open(_dir.Path)), Slow());
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(
            async () => await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@x", "sip:c1", Now)));
    }
}
