using Microsoft.Data.Sqlite;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Storage;

public sealed class SqliteStoreTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_123);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    internal static Binding MakeBinding(string aor, string contact, DateTimeOffset expiresAt, uint cseq = 1) => new()
    {
        Aor = aor,
        ContactUri = contact,
        ExpiresAt = expiresAt,
        QValue = 700,
        CallId = "call-" + cseq,
        CSeq = cseq,
        InstanceId = "<urn:uuid:00000000-0000-0000-0000-000000000001>",
        RegId = 1,
        SourceAddress = "[2001:db8::5]:5062",
        LocalAddress = "192.0.2.1:5060",
        Transport = "TCP",
        UserAgent = "Softphone/1.0",
        ContactParameters = ";expires=3600",
        UpdatedAt = Now,
    };

    [Fact]
    public void Open_creates_database_in_wal_mode_at_current_schema_version()
    {
        var database = SqliteDatabase.Open(_dir.Path);

        Assert.Equal(Path.Combine(_dir.Path, "tandem.db"), database.Path);
        using var connection = new SqliteConnection($"Data Source={database.Path}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar());
        command.CommandText = "SELECT version FROM schema_version;";
        Assert.Equal(4L, command.ExecuteScalar());
    }

    [Fact]
    public void Open_twice_keeps_one_schema_version_row()
    {
        SqliteDatabase.Open(_dir.Path);
        var database = SqliteDatabase.Open(_dir.Path);

        using var connection = new SqliteConnection($"Data Source={database.Path}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM schema_version;";
        Assert.Equal(1L, command.ExecuteScalar());
    }

    [Fact]
    public void Open_rejects_a_newer_schema()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        using (var connection = new SqliteConnection($"Data Source={database.Path}"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE schema_version SET version = 99;";
            command.ExecuteNonQuery();
        }

        var error = Assert.Throws<StorageException>(() => SqliteDatabase.Open(_dir.Path));
        Assert.Contains("99", error.Message);
    }

    [Fact]
    public async Task Subscribers_round_trip()
    {
        var store = new SqliteSubscriberStore(SqliteDatabase.Open(_dir.Path));
        var alice = new Subscriber("alice", "example.com", "md5hash", "sha256hash", "Alice A", true);

        Assert.True(await store.AddAsync(alice));
        Assert.False(await store.AddAsync(alice with { DisplayName = "dup" }));
        Assert.Equal(alice, await store.GetAsync("alice", "example.com"));
        Assert.Equal(alice, await store.GetAsync("alice", "EXAMPLE.com"));
        Assert.Null(await store.GetAsync("Alice", "example.com"));

        var changed = alice with { Ha1Md5 = "new", DisplayName = null, Enabled = false };
        Assert.True(await store.UpdateAsync(changed));
        Assert.Equal(changed, await store.GetAsync("alice", "example.com"));
        Assert.False(await store.UpdateAsync(changed with { Username = "bob" }));

        Assert.True(await store.AddAsync(new Subscriber("bob", "example.com", "a", "b", null, true)));
        Assert.Equal(["alice", "bob"], (await store.ListAsync()).Select(s => s.Username));

        Assert.True(await store.RemoveAsync("alice", "example.com"));
        Assert.False(await store.RemoveAsync("alice", "example.com"));
        Assert.Null(await store.GetAsync("alice", "example.com"));
    }

    [Fact]
    public void Subscriber_lookup_uses_the_primary_key_index()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        using var connection = new SqliteConnection($"Data Source={database.Path}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN SELECT * FROM subscribers WHERE username = 'a' AND domain = 'b';";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        var detail = reader.GetString(3);
        Assert.Contains("PRIMARY KEY", detail);
        Assert.DoesNotContain("SCAN", detail);
    }

    [Fact]
    public async Task Bindings_round_trip_and_replace_by_aor_and_contact()
    {
        var store = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        var first = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.10:5060", Now.AddHours(1));
        var second = MakeBinding("sip:alice@example.com", "sip:alice@192.0.2.11:5060", Now.AddHours(1)) with
        {
            InstanceId = null,
            RegId = null,
            LocalAddress = null,
            UserAgent = null,
            ContactParameters = null,
        };
        var bob = MakeBinding("sip:bob@example.com", "sip:bob@192.0.2.12:5060", Now.AddHours(1));

        await store.UpsertAsync(first);
        await store.UpsertAsync(second);
        await store.UpsertAsync(bob);
        var refreshed = first with { CSeq = 2, ExpiresAt = Now.AddHours(2), QValue = 1000 };
        await store.UpsertAsync(refreshed);

        Assert.Equal([refreshed, second], await store.ListAsync("sip:alice@example.com"));
        Assert.Equal(3, (await store.LoadAllAsync()).Count);

        await store.DeleteAsync("sip:alice@example.com", first.ContactUri);
        Assert.Equal([second], await store.ListAsync("sip:alice@example.com"));
    }

    [Fact]
    public async Task DeleteExpired_removes_only_bindings_expired_at_or_before_now()
    {
        var store = new SqliteBindingStore(SqliteDatabase.Open(_dir.Path));
        await store.UpsertAsync(MakeBinding("sip:a@x", "sip:past", Now.AddSeconds(-1)));
        await store.UpsertAsync(MakeBinding("sip:a@x", "sip:exact", Now));
        await store.UpsertAsync(MakeBinding("sip:a@x", "sip:future", Now.AddMilliseconds(1)));

        await store.DeleteExpiredAsync(Now);

        Assert.Equal(["sip:future"], (await store.LoadAllAsync()).Select(b => b.ContactUri));
    }

    [Fact]
    public async Task Data_survives_reopening_the_database()
    {
        await using (var storage = StorageFactory.Open(_dir.Path, StorageMode.WriteThrough))
        {
            await storage.Subscribers.AddAsync(new Subscriber("alice", "example.com", "m", "s", null, true));
            await storage.Bindings.UpsertAsync(MakeBinding("sip:alice@example.com", "sip:c1", Now.AddHours(1)));
        }

        SqliteDatabase.ReleasePooledConnections();

        await using var reopened = StorageFactory.Open(_dir.Path, StorageMode.WriteBehind);
        Assert.NotNull(await reopened.Subscribers.GetAsync("alice", "example.com"));
        var binding = Assert.Single(await reopened.Bindings.LoadAllAsync());
        Assert.Equal(Now.AddHours(1), binding.ExpiresAt);
    }

    [Fact]
    public async Task Factory_picks_the_binding_store_for_the_mode()
    {
        await using var through = StorageFactory.Open(_dir.Path, StorageMode.WriteThrough);
        await using var behind = StorageFactory.Open(_dir.Path, StorageMode.WriteBehind);

        Assert.IsType<GroupCommitBindingStore>(through.Bindings);
        Assert.IsType<WriteBehindBindingStore>(behind.Bindings);
    }
}
