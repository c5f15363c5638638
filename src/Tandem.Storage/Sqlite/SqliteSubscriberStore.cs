using Microsoft.Data.Sqlite;

namespace Tandem.Storage.Sqlite;

/// <summary>
/// Subscribers in SQLite. Every call commits before it returns, whatever the storage mode: account
/// changes are rare and come from an operator who expects them to stick. Domains compare
/// case-insensitively (RFC 3261 §19.1.4), user names exactly.
/// </summary>
/// <remarks>
/// Every change made through <see cref="ISubscriberStore"/> also adds a row to the change journal
/// (<c>subscriber_changes</c>) in the same transaction, so a clustered server — running now or
/// started later — replicates exactly the changes made on its node (see <see cref="ReadChangesAsync"/>).
/// Changes received from other nodes are written with <see cref="ApplyReplicatedAsync"/>, which
/// does not journal them.
/// </remarks>
public sealed class SqliteSubscriberStore : ISubscriberStore
{
    private const string Columns = "username, domain, ha1_md5, ha1_sha256, display_name, enabled";

    // The version time is above the replicated record's and any pending change's of the key, so a
    // change made after seeing a version (even one from a node whose clock runs ahead) wins over it.
    private const string JournalSql =
        "INSERT INTO subscriber_changes (key, at_ms, removed, username, domain, ha1_md5, ha1_sha256, display_name, enabled) " +
        "VALUES ($key, max($now, " +
        "coalesce((SELECT wall_ms + 1 FROM replicated WHERE kind = '" + ReplicatedSubscriber.Kind + "' AND key = $key), 0), " +
        "coalesce((SELECT max(at_ms) + 1 FROM subscriber_changes WHERE key = $key), 0)), " +
        "$removed, $username, $domain, $md5, $sha256, $display, $enabled);";

    private const string UpsertSql =
        $"INSERT INTO subscribers ({Columns}) VALUES ($username, $domain, $md5, $sha256, $display, $enabled) " +
        "ON CONFLICT (username, domain) DO UPDATE SET ha1_md5 = excluded.ha1_md5, ha1_sha256 = excluded.ha1_sha256, " +
        "display_name = excluded.display_name, enabled = excluded.enabled;";

    private readonly SqliteDatabase _database;
    private readonly TimeProvider _time;

    public SqliteSubscriberStore(SqliteDatabase database, TimeProvider? time = null)
    {
        _database = database;
        _time = time ?? TimeProvider.System;
    }

    public async Task<Subscriber?> GetAsync(string username, string domain, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM subscribers WHERE username = $username AND domain = $domain;";
        command.Parameters.AddWithValue("$username", username);
        command.Parameters.AddWithValue("$domain", domain);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    public async Task<IReadOnlyList<Subscriber>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM subscribers ORDER BY domain, username;";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new List<Subscriber>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(Read(reader));
        }

        return result;
    }

    public async Task<bool> AddAsync(Subscriber subscriber, CancellationToken cancellationToken = default)
    {
        return await AddManyAsync([subscriber], cancellationToken) == 1;
    }

    public async Task<bool> HasDomainAsync(string domain, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT EXISTS (SELECT 1 FROM subscribers WHERE domain = $domain);";
        command.Parameters.AddWithValue("$domain", domain);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) == 1;
    }

    public async Task<int> AddManyAsync(IReadOnlyList<Subscriber> subscribers, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText =
            $"INSERT INTO subscribers ({Columns}) VALUES ($username, $domain, $md5, $sha256, $display, $enabled) " +
            "ON CONFLICT (username, domain) DO NOTHING;";
        var added = 0;
        foreach (var subscriber in subscribers)
        {
            command.Parameters.Clear();
            Bind(command, subscriber);
            if (await command.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                added++;
                await JournalAsync(connection, transaction, subscriber.Username, subscriber.Domain, subscriber, cancellationToken);
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return added;
    }

    public async Task<bool> UpdateAsync(Subscriber subscriber, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText =
            "UPDATE subscribers SET ha1_md5 = $md5, ha1_sha256 = $sha256, display_name = $display, enabled = $enabled " +
            "WHERE username = $username AND domain = $domain;";
        Bind(command, subscriber);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            return false;
        }

        await JournalAsync(connection, transaction, subscriber.Username, subscriber.Domain, subscriber, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public async Task<bool> RemoveAsync(string username, string domain, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "DELETE FROM subscribers WHERE username = $username AND domain = $domain;";
        command.Parameters.AddWithValue("$username", username);
        command.Parameters.AddWithValue("$domain", domain);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            return false;
        }

        await JournalAsync(connection, transaction, username, domain, null, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// The last sequence number handed out by the change journal: every change made through this
    /// store journals a row, and AUTOINCREMENT never reuses a number even after the rows are trimmed.
    /// </summary>
    public async Task<long> GetChangeStampAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'subscriber_changes'), 0);";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Journalled changes not yet replicated, oldest first.</summary>
    public async Task<IReadOnlyList<SubscriberChange>> ReadChangesAsync(int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText =
            "SELECT seq, key, at_ms, removed, username, domain, ha1_md5, ha1_sha256, display_name, enabled " +
            "FROM subscriber_changes ORDER BY seq LIMIT $limit;";
        command.Parameters.AddWithValue("$limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var changes = new List<SubscriberChange>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var removed = reader.GetInt64(3) != 0;
            var subscriber = removed ? null : new Subscriber(
                reader.GetString(4), reader.GetString(5), reader.GetString(6), reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8), reader.GetInt64(9) != 0);
            changes.Add(new SubscriberChange(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), subscriber));
        }

        return changes;
    }

    /// <summary>
    /// Makes the accounts named by <paramref name="states"/> (replicated keys) equal to the given
    /// state — the account, or null for none — without journalling, and drops journalled changes
    /// up to <paramref name="changesThrough"/> (0: none), all in one transaction.
    /// </summary>
    public async Task ApplyReplicatedAsync(IReadOnlyList<(string Key, Subscriber? State)> states, long changesThrough, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(states);
        await using var connection = _database.OpenConnection();
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var upsert = connection.CreateCommand();
        upsert.Transaction = transaction;
        upsert.CommandText = UpsertSql;
        await using var delete = connection.CreateCommand();
        delete.Transaction = transaction;
        delete.CommandText = "DELETE FROM subscribers WHERE username = $username AND domain = $domain;";
        foreach (var (key, state) in states)
        {
            if (state is not null)
            {
                upsert.Parameters.Clear();
                Bind(upsert, state);
                await upsert.ExecuteNonQueryAsync(cancellationToken);
            }
            else
            {
                var (username, domain) = ReplicatedSubscriber.Split(key);
                delete.Parameters.Clear();
                delete.Parameters.AddWithValue("$username", username);
                delete.Parameters.AddWithValue("$domain", domain);
                await delete.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        if (changesThrough > 0)
        {
            await using var trim = connection.CreateCommand();
            trim.Transaction = transaction;
            trim.CommandText = "DELETE FROM subscriber_changes WHERE seq <= $seq;";
            trim.Parameters.AddWithValue("$seq", changesThrough);
            await trim.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Empties the journal of a node that never replicated subscribers (a standalone server): when
    /// it joins a cluster its accounts are published from the table itself. Returns the rows dropped.
    /// </summary>
    public async Task<int> DiscardChangesIfNeverReplicatedAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText =
            "DELETE FROM subscriber_changes WHERE NOT EXISTS (SELECT 1 FROM replicated WHERE kind = '" + ReplicatedSubscriber.Kind + "');";
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task JournalAsync(SqliteConnection connection, SqliteTransaction transaction, string username, string domain, Subscriber? state, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = JournalSql;
        command.Parameters.AddWithValue("$key", ReplicatedSubscriber.Key(username, domain));
        command.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$removed", state is null ? 1 : 0);
        Bind(command, state ?? new Subscriber(username, domain, "", "", null, false));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void Bind(SqliteCommand command, Subscriber subscriber)
    {
        command.Parameters.AddWithValue("$username", subscriber.Username);
        command.Parameters.AddWithValue("$domain", subscriber.Domain);
        command.Parameters.AddWithValue("$md5", subscriber.Ha1Md5);
        command.Parameters.AddWithValue("$sha256", subscriber.Ha1Sha256);
        command.Parameters.AddWithValue("$display", (object?)subscriber.DisplayName ?? DBNull.Value);
        command.Parameters.AddWithValue("$enabled", subscriber.Enabled ? 1 : 0);
    }

    private static Subscriber Read(SqliteDataReader reader) => new(
        Username: reader.GetString(0),
        Domain: reader.GetString(1),
        Ha1Md5: reader.GetString(2),
        Ha1Sha256: reader.GetString(3),
        DisplayName: reader.IsDBNull(4) ? null : reader.GetString(4),
        Enabled: reader.GetInt64(5) != 0);
}
