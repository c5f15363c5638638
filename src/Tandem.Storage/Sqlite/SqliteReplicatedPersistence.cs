using Microsoft.Data.Sqlite;
using Tandem.Cluster;
using Tandem.Cluster.Replication;

namespace Tandem.Storage.Sqlite;

/// <summary>
/// <see cref="IReplicatedPersistence"/> over the <c>replicated</c> table of <c>tandem.db</c> (schema
/// version 3). The replication node already writes behind: it calls <see cref="SaveAsync"/> from one
/// background task with every change since the last call, so each call is one transaction (one
/// fsync) and never runs on the SIP hot path. An upsert overwrites a stored row only when the new
/// version is higher, so a late, older batch can never roll a key back.
/// </summary>
public sealed class SqliteReplicatedPersistence : IReplicatedPersistence
{
    private const string UpsertSql =
        "INSERT INTO replicated (kind, key, wall_ms, counter, node, origin, deleted, value) " +
        "VALUES ($kind, $key, $wall, $counter, $node, $origin, $deleted, $value) " +
        "ON CONFLICT (kind, key) DO UPDATE SET wall_ms = excluded.wall_ms, counter = excluded.counter, node = excluded.node, " +
        "origin = excluded.origin, deleted = excluded.deleted, value = excluded.value " +
        "WHERE (excluded.wall_ms, excluded.counter, excluded.node) > (replicated.wall_ms, replicated.counter, replicated.node);";

    private const string RemoveSql =
        "DELETE FROM replicated WHERE kind = $kind AND key = $key AND wall_ms = $wall AND counter = $counter AND node = $node;";

    private readonly SqliteDatabase _database;

    public SqliteReplicatedPersistence(SqliteDatabase database)
    {
        _database = database;
    }

    public async Task<IReadOnlyList<ReplicatedRecord>> LoadAllAsync(CancellationToken cancellationToken)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT kind, key, wall_ms, counter, node, origin, deleted, value FROM replicated;";
        var records = new List<ReplicatedRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var version = new RecordVersion(reader.GetInt64(2), (uint)reader.GetInt64(3), new NodeId(reader.GetString(4)));
            var deleted = reader.GetInt64(6) != 0;
            var value = deleted ? ReadOnlyMemory<byte>.Empty : (byte[])reader.GetValue(7);
            records.Add(new ReplicatedRecord(reader.GetString(0), reader.GetString(1), value, version, new NodeId(reader.GetString(5)), deleted));
        }

        return records;
    }

    public async Task SaveAsync(IReadOnlyList<ReplicatedRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return;
        }

        await using var connection = _database.OpenConnection();
        await using var transaction = connection.BeginTransaction(deferred: false);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = UpsertSql;
        var kind = command.Parameters.Add("$kind", SqliteType.Text);
        var key = command.Parameters.Add("$key", SqliteType.Text);
        var wall = command.Parameters.Add("$wall", SqliteType.Integer);
        var counter = command.Parameters.Add("$counter", SqliteType.Integer);
        var node = command.Parameters.Add("$node", SqliteType.Text);
        var origin = command.Parameters.Add("$origin", SqliteType.Text);
        var deleted = command.Parameters.Add("$deleted", SqliteType.Integer);
        var value = command.Parameters.Add("$value", SqliteType.Blob);
        foreach (var record in records)
        {
            kind.Value = record.Kind;
            key.Value = record.Key;
            wall.Value = record.Version.WallMs;
            counter.Value = (long)record.Version.Counter;
            node.Value = record.Version.Node.Value ?? string.Empty;
            origin.Value = record.Origin.Value ?? string.Empty;
            deleted.Value = record.Deleted ? 1 : 0;
            value.Value = record.Value.ToArray();
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task RemoveAsync(IReadOnlyList<ReplicatedRecord> purgedTombstones, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(purgedTombstones);
        if (purgedTombstones.Count == 0)
        {
            return;
        }

        await using var connection = _database.OpenConnection();
        await using var transaction = connection.BeginTransaction(deferred: false);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = RemoveSql;
        var kind = command.Parameters.Add("$kind", SqliteType.Text);
        var key = command.Parameters.Add("$key", SqliteType.Text);
        var wall = command.Parameters.Add("$wall", SqliteType.Integer);
        var counter = command.Parameters.Add("$counter", SqliteType.Integer);
        var node = command.Parameters.Add("$node", SqliteType.Text);
        foreach (var record in purgedTombstones)
        {
            kind.Value = record.Kind;
            key.Value = record.Key;
            wall.Value = record.Version.WallMs;
            counter.Value = (long)record.Version.Counter;
            node.Value = record.Version.Node.Value ?? string.Empty;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
