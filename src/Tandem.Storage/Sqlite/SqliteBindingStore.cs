using Microsoft.Data.Sqlite;

namespace Tandem.Storage.Sqlite;

/// <summary>
/// Write-through binding store: each change is committed (and, with synchronous=FULL, fsynced)
/// before the returned task completes, so a crash loses nothing that was acknowledged.
/// Times are stored as Unix milliseconds (UTC); sub-millisecond precision is dropped.
/// </summary>
public sealed class SqliteBindingStore : IBindingStore
{
    private const string Columns =
        "aor, contact_uri, expires_at_ms, q_value, call_id, cseq, instance_id, reg_id, " +
        "source_address, local_address, transport, user_agent, contact_parameters, updated_at_ms";

    private const string UpsertSql =
        $"INSERT INTO bindings ({Columns}) VALUES ($aor, $contact, $expires, $q, $callId, $cseq, $instance, $regId, " +
        "$source, $local, $transport, $userAgent, $parameters, $updated) " +
        "ON CONFLICT (aor, contact_uri) DO UPDATE SET expires_at_ms = excluded.expires_at_ms, " +
        "q_value = excluded.q_value, call_id = excluded.call_id, cseq = excluded.cseq, " +
        "instance_id = excluded.instance_id, reg_id = excluded.reg_id, source_address = excluded.source_address, " +
        "local_address = excluded.local_address, transport = excluded.transport, user_agent = excluded.user_agent, " +
        "contact_parameters = excluded.contact_parameters, updated_at_ms = excluded.updated_at_ms;";

    private const string DeleteSql = "DELETE FROM bindings WHERE aor = $aor AND contact_uri = $contact;";

    private const string DeleteExpiredSql = "DELETE FROM bindings WHERE expires_at_ms <= $now;";

    private readonly SqliteDatabase _database;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private SqliteBatchWriter? _writer;

    public SqliteBindingStore(SqliteDatabase database)
    {
        _database = database;
    }

    public Task<IReadOnlyList<Binding>> LoadAllAsync(CancellationToken cancellationToken = default)
        => ListAsync(null, cancellationToken);

    public async Task<IReadOnlyList<Binding>> ListAsync(string? aor, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        if (aor is null)
        {
            command.CommandText = $"SELECT {Columns} FROM bindings ORDER BY aor, contact_uri;";
        }
        else
        {
            command.CommandText = $"SELECT {Columns} FROM bindings WHERE aor = $aor ORDER BY contact_uri;";
            command.Parameters.AddWithValue("$aor", aor);
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new List<Binding>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(Read(reader));
        }

        return result;
    }

    public async ValueTask UpsertAsync(Binding binding, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = UpsertSql;
        BindUpsert(command, binding);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async ValueTask DeleteAsync(string aor, string contactUri, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = DeleteSql;
        command.Parameters.AddWithValue("$aor", aor);
        command.Parameters.AddWithValue("$contact", contactUri);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async ValueTask DeleteExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = DeleteExpiredSql;
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Nothing is pending: every call has committed before returning.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public ValueTask DisposeAsync()
    {
        _writer?.Dispose();
        _writer = null;
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Applies a batch in one transaction: first the expiry sweep (if any), then each change in
    /// order (a null <see cref="BindingChange.Binding"/> deletes). All or nothing.
    /// </summary>
    public async Task ApplyBatchAsync(
        DateTimeOffset? deleteExpiredAt,
        IReadOnlyCollection<BindingChange> changes,
        CancellationToken cancellationToken = default)
    {
        // Under group commit batches are small and frequent, so the connection and its prepared
        // statements are kept open between batches instead of being set up for each one.
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            _writer ??= new SqliteBatchWriter(_database.OpenConnection(), UpsertSql, DeleteSql, DeleteExpiredSql);
            try
            {
                _writer.Apply(deleteExpiredAt, changes);
            }
            catch
            {
                // Start from a fresh connection next time; the failed transaction was rolled back.
                _writer.Dispose();
                _writer = null;
                throw;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private static void BindUpsert(SqliteCommand command, Binding binding)
    {
        var p = command.Parameters;
        p.AddWithValue("$aor", binding.Aor);
        p.AddWithValue("$contact", binding.ContactUri);
        p.AddWithValue("$expires", binding.ExpiresAt.ToUnixTimeMilliseconds());
        p.AddWithValue("$q", binding.QValue);
        p.AddWithValue("$callId", binding.CallId);
        p.AddWithValue("$cseq", (long)binding.CSeq);
        p.AddWithValue("$instance", (object?)binding.InstanceId ?? DBNull.Value);
        p.AddWithValue("$regId", (object?)binding.RegId ?? DBNull.Value);
        p.AddWithValue("$source", binding.SourceAddress);
        p.AddWithValue("$local", (object?)binding.LocalAddress ?? DBNull.Value);
        p.AddWithValue("$transport", binding.Transport);
        p.AddWithValue("$userAgent", (object?)binding.UserAgent ?? DBNull.Value);
        p.AddWithValue("$parameters", (object?)binding.ContactParameters ?? DBNull.Value);
        p.AddWithValue("$updated", binding.UpdatedAt.ToUnixTimeMilliseconds());
    }

    private static Binding Read(SqliteDataReader r) => new()
    {
        Aor = r.GetString(0),
        ContactUri = r.GetString(1),
        ExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)),
        QValue = r.GetInt32(3),
        CallId = r.GetString(4),
        CSeq = (uint)r.GetInt64(5),
        InstanceId = r.IsDBNull(6) ? null : r.GetString(6),
        RegId = r.IsDBNull(7) ? null : r.GetInt32(7),
        SourceAddress = r.GetString(8),
        LocalAddress = r.IsDBNull(9) ? null : r.GetString(9),
        Transport = r.GetString(10),
        UserAgent = r.IsDBNull(11) ? null : r.GetString(11),
        ContactParameters = r.IsDBNull(12) ? null : r.GetString(12),
        UpdatedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(13)),
    };
}

/// <summary>A pending change of one binding: an upsert, or a delete when <see cref="Binding"/> is null.</summary>
public readonly record struct BindingChange(string Aor, string ContactUri, Binding? Binding);
