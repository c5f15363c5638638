using Tandem.Server.Registrar;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Registrar;

/// <summary>
/// The subscriber cache over a real SQLite store, with account changes made through a second store
/// instance on the same file, the way `tandem user passwd` writes while the server runs.
/// </summary>
public sealed class SubscriberCacheTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Subscriber Alice(string ha1) => new("alice", "example.com", ha1, "sha-" + ha1, "Alice", Enabled: true);

    [Fact]
    public async Task Keeps_accounts_until_the_store_reports_a_change()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        var server = new SqliteSubscriberStore(database);
        var cli = new SqliteSubscriberStore(SqliteDatabase.Open(_dir.Path));
        Assert.True(await cli.AddAsync(Alice("old")));
        var cache = new SubscriberCache(server, TimeProvider.System, TimeSpan.FromMinutes(5));
        Assert.True(await cache.CheckForChangesAsync(CancellationToken.None));

        Assert.Equal("old", (await cache.GetAsync("alice", "EXAMPLE.com", CancellationToken.None))?.Ha1Md5);
        Assert.True(await cli.UpdateAsync(Alice("new")));

        // Until the check, the cached account is served: no database read per REGISTER.
        Assert.Equal("old", (await cache.GetAsync("alice", "example.com", CancellationToken.None))?.Ha1Md5);
        Assert.True(await cache.CheckForChangesAsync(CancellationToken.None));
        Assert.Equal("new", (await cache.GetAsync("alice", "example.com", CancellationToken.None))?.Ha1Md5);

        Assert.False(await cache.CheckForChangesAsync(CancellationToken.None));
        Assert.True(await cli.RemoveAsync("alice", "example.com"));
        Assert.True(await cache.CheckForChangesAsync(CancellationToken.None));
        Assert.Null(await cache.GetAsync("alice", "example.com", CancellationToken.None));
    }

    [Fact]
    public async Task Unknown_users_are_cached_too_and_forgotten_when_one_is_added()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        var server = new SqliteSubscriberStore(database);
        var cache = new SubscriberCache(server, TimeProvider.System, TimeSpan.FromMinutes(5));
        await cache.CheckForChangesAsync(CancellationToken.None);
        Assert.Null(await cache.GetAsync("alice", "example.com", CancellationToken.None));
        Assert.False(cache.HasDomain("example.com"));

        await new SqliteSubscriberStore(database).AddAsync(Alice("pw"));
        Assert.Null(await cache.GetAsync("alice", "example.com", CancellationToken.None));
        Assert.True(await cache.CheckForChangesAsync(CancellationToken.None));

        Assert.Equal("pw", (await cache.GetAsync("alice", "example.com", CancellationToken.None))?.Ha1Md5);
        Assert.True(cache.HasDomain("example.com"));
    }

    [Fact]
    public async Task Change_stamp_survives_trimming_the_journal()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        var store = new SqliteSubscriberStore(database);
        var before = await store.GetChangeStampAsync();
        await store.AddAsync(Alice("pw"));
        var afterAdd = await store.GetChangeStampAsync();
        Assert.True(afterAdd > before);

        // A standalone server empties the journal at start; the stamp must not go back.
        Assert.Equal(1, await store.DiscardChangesIfNeverReplicatedAsync());
        Assert.Equal(afterAdd, await store.GetChangeStampAsync());
        await store.UpdateAsync(Alice("pw2"));
        Assert.True(await store.GetChangeStampAsync() > afterAdd);
    }
}
