using Microsoft.Data.Sqlite;

namespace Tandem.Storage.Sqlite;

/// <summary>
/// Subscribers in SQLite. Every call commits before it returns, whatever the storage mode: account
/// changes are rare and come from an operator who expects them to stick. Domains compare
/// case-insensitively (RFC 3261 §19.1.4), user names exactly.
/// </summary>
public sealed class SqliteSubscriberStore : ISubscriberStore
{
    private const string Columns = "username, domain, ha1_md5, ha1_sha256, display_name, enabled";

    private readonly SqliteDatabase _database;

    public SqliteSubscriberStore(SqliteDatabase database)
    {
        _database = database;
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
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText =
            $"INSERT INTO subscribers ({Columns}) VALUES ($username, $domain, $md5, $sha256, $display, $enabled) " +
            "ON CONFLICT (username, domain) DO NOTHING;";
        Bind(command, subscriber);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
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
            added += await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return added;
    }

    public async Task<bool> UpdateAsync(Subscriber subscriber, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText =
            "UPDATE subscribers SET ha1_md5 = $md5, ha1_sha256 = $sha256, display_name = $display, enabled = $enabled " +
            "WHERE username = $username AND domain = $domain;";
        Bind(command, subscriber);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<bool> RemoveAsync(string username, string domain, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM subscribers WHERE username = $username AND domain = $domain;";
        command.Parameters.AddWithValue("$username", username);
        command.Parameters.AddWithValue("$domain", domain);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
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
