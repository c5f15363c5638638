using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Storage;

public sealed class GroupCommitBindingStoreTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_change_is_on_disk_when_the_call_returns()
    {
        var database = SqliteDatabase.Open(_dir.Path);

        // A long interval proves the commit came from the caller waiting, not from the timer.
        var queue = new WriteBehindBindingStore(new SqliteBindingStore(database), new WriteBehindOptions { FlushInterval = TimeSpan.FromHours(1) });
        await using var store = new GroupCommitBindingStore(queue);

        await store.UpsertAsync(SqliteStoreTests.MakeBinding("sip:a@example.com", "sip:a@192.0.2.1", Now.AddHours(1)));
        var reader = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        Assert.Single(await reader.ListAsync("sip:a@example.com"));

        await store.DeleteAsync("sip:a@example.com", "sip:a@192.0.2.1");
        Assert.Empty(await reader.ListAsync("sip:a@example.com"));
    }

    [Fact]
    public async Task Concurrent_changes_share_commits()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        var queue = new WriteBehindBindingStore(new SqliteBindingStore(database), new WriteBehindOptions { FlushInterval = TimeSpan.FromHours(1) });
        await using var store = new GroupCommitBindingStore(queue);

        var writes = new List<Task>();
        for (var i = 0; i < 200; i++)
        {
            writes.Add(store.UpsertAsync(SqliteStoreTests.MakeBinding($"sip:u{i}@example.com", $"sip:u{i}@192.0.2.1", Now.AddHours(1))).AsTask());
        }

        await Task.WhenAll(writes);
        var reader = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        Assert.Equal(200, (await reader.ListAsync(null)).Count);
        Assert.True(queue.BatchesWritten < 200, $"expected grouped commits, got {queue.BatchesWritten} for 200 changes");
    }
}
