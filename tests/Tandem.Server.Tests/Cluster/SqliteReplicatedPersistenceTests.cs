using Tandem.Cluster;
using Tandem.Cluster.Replication;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Cluster;

public sealed class SqliteReplicatedPersistenceTests : IDisposable
{
    private static readonly NodeId A = new("a");
    private static readonly NodeId B = new("b");

    private readonly TempDirectory _dir = new();

    public void Dispose()
    {
        SqliteDatabase.ReleasePooledConnections();
        _dir.Dispose();
    }

    private static ReplicatedRecord Record(string key, long wall, uint counter, NodeId node, string value) =>
        new("binding", key, new byte[] { (byte)value[0], (byte)value[^1] }, new RecordVersion(wall, counter, node), node);

    [Fact]
    public async Task Round_trip_keeps_values_versions_and_tombstones_across_reopen()
    {
        var persistence = new SqliteReplicatedPersistence(SqliteDatabase.Open(_dir.Path));
        await persistence.SaveAsync(
        [
            Record("k1", 1000, 0, A, "x1"),
            ReplicatedRecord.Tombstone("binding", "k2", new RecordVersion(2000, 3, B), B),
            new ReplicatedRecord("dialog", "k1", new byte[] { 1, 2, 3 }, new RecordVersion(3000, 1, A), A),
        ], CancellationToken.None);

        var reopened = new SqliteReplicatedPersistence(SqliteDatabase.Open(_dir.Path));
        var all = (await reopened.LoadAllAsync(CancellationToken.None)).ToDictionary(r => (r.Kind, r.Key));

        Assert.Equal(3, all.Count);
        Assert.Equal(new RecordVersion(1000, 0, A), all[("binding", "k1")].Version);
        Assert.Equal(new byte[] { (byte)'x', (byte)'1' }, all[("binding", "k1")].Value.ToArray());
        Assert.True(all[("binding", "k2")].Deleted);
        Assert.True(all[("binding", "k2")].Value.IsEmpty);
        Assert.Equal(B, all[("binding", "k2")].Origin);
        Assert.Equal(new byte[] { 1, 2, 3 }, all[("dialog", "k1")].Value.ToArray());
    }

    [Fact]
    public async Task Upsert_only_overwrites_a_lower_version()
    {
        var persistence = new SqliteReplicatedPersistence(SqliteDatabase.Open(_dir.Path));
        await persistence.SaveAsync([Record("k", 2000, 5, B, "v2")], CancellationToken.None);

        // Older by wall time, by counter, and by node id at equal (wall, counter): all ignored.
        await persistence.SaveAsync([Record("k", 1999, 9, B, "o1")], CancellationToken.None);
        await persistence.SaveAsync([Record("k", 2000, 4, B, "o2")], CancellationToken.None);
        await persistence.SaveAsync([Record("k", 2000, 5, A, "o3")], CancellationToken.None);
        var kept = Assert.Single(await persistence.LoadAllAsync(CancellationToken.None));
        Assert.Equal(new RecordVersion(2000, 5, B), kept.Version);
        Assert.Equal("v2", System.Text.Encoding.ASCII.GetString(kept.Value.Span));

        // Higher: overwrites, also with a tombstone.
        await persistence.SaveAsync([ReplicatedRecord.Tombstone("binding", "k", new RecordVersion(2000, 6, A), A)], CancellationToken.None);
        kept = Assert.Single(await persistence.LoadAllAsync(CancellationToken.None));
        Assert.True(kept.Deleted);
        Assert.Equal(new RecordVersion(2000, 6, A), kept.Version);
    }

    [Fact]
    public async Task Remove_drops_a_purged_tombstone_only_if_still_that_version()
    {
        var persistence = new SqliteReplicatedPersistence(SqliteDatabase.Open(_dir.Path));
        var t1 = ReplicatedRecord.Tombstone("binding", "a", new RecordVersion(1000, 0, A), A);
        var t2 = ReplicatedRecord.Tombstone("binding", "b", new RecordVersion(1000, 0, A), A);
        await persistence.SaveAsync([t1, t2, Record("b", 1001, 0, B, "nb")], CancellationToken.None);

        await persistence.RemoveAsync([t1, t2], CancellationToken.None);

        var left = Assert.Single(await persistence.LoadAllAsync(CancellationToken.None));
        Assert.Equal("b", left.Key);
        Assert.False(left.Deleted);
    }

    [Fact]
    public async Task A_version_2_database_is_migrated_to_the_current_version()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database.Path}"))
        {
            // What a Tandem with schema 2 left behind.
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "DROP TABLE replicated; DROP TABLE subscriber_changes; UPDATE schema_version SET version = 2;";
            command.ExecuteNonQuery();
        }

        var persistence = new SqliteReplicatedPersistence(SqliteDatabase.Open(_dir.Path));
        await persistence.SaveAsync([Record("k", 1, 0, A, "v1")], CancellationToken.None);
        Assert.Single(await persistence.LoadAllAsync(CancellationToken.None));
    }
}
