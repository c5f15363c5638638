using Microsoft.Data.Sqlite;

namespace Tandem.Storage.Sqlite;

/// <summary>
/// One open connection with the binding batch statements prepared once, for the single writer of
/// <see cref="SqliteBindingStore.ApplyBatchAsync"/>. Parameters are bound by position in the order
/// the statements name them.
/// </summary>
internal sealed class SqliteBatchWriter : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _upsert;
    private readonly SqliteCommand _delete;
    private readonly SqliteCommand _sweep;

    public SqliteBatchWriter(SqliteConnection connection, string upsertSql, string deleteSql, string deleteExpiredSql)
    {
        _connection = connection;
        _upsert = Prepare(upsertSql, "$aor", "$contact", "$expires", "$q", "$callId", "$cseq", "$instance", "$regId",
            "$source", "$local", "$transport", "$userAgent", "$parameters", "$updated");
        _delete = Prepare(deleteSql, "$aor", "$contact");
        _sweep = Prepare(deleteExpiredSql, "$now");
    }

    private SqliteCommand Prepare(string sql, params string[] names)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in names)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    /// <summary>The sweep first, then each change in order, in one transaction: all or nothing.</summary>
    public void Apply(DateTimeOffset? deleteExpiredAt, IReadOnlyCollection<BindingChange> changes)
    {
        using var transaction = _connection.BeginTransaction();
        _upsert.Transaction = transaction;
        _delete.Transaction = transaction;
        _sweep.Transaction = transaction;
        if (deleteExpiredAt is { } now)
        {
            _sweep.Parameters[0].Value = now.ToUnixTimeMilliseconds();
            _sweep.ExecuteNonQuery();
        }

        foreach (var change in changes)
        {
            if (change.Binding is { } binding)
            {
                var p = _upsert.Parameters;
                p[0].Value = binding.Aor;
                p[1].Value = binding.ContactUri;
                p[2].Value = binding.ExpiresAt.ToUnixTimeMilliseconds();
                p[3].Value = binding.QValue;
                p[4].Value = binding.CallId;
                p[5].Value = (long)binding.CSeq;
                p[6].Value = (object?)binding.InstanceId ?? DBNull.Value;
                p[7].Value = (object?)binding.RegId ?? DBNull.Value;
                p[8].Value = binding.SourceAddress;
                p[9].Value = (object?)binding.LocalAddress ?? DBNull.Value;
                p[10].Value = binding.Transport;
                p[11].Value = (object?)binding.UserAgent ?? DBNull.Value;
                p[12].Value = (object?)binding.ContactParameters ?? DBNull.Value;
                p[13].Value = binding.UpdatedAt.ToUnixTimeMilliseconds();
                _upsert.ExecuteNonQuery();
            }
            else
            {
                _delete.Parameters[0].Value = change.Aor;
                _delete.Parameters[1].Value = change.ContactUri;
                _delete.ExecuteNonQuery();
            }
        }

        transaction.Commit();
    }

    public void Dispose()
    {
        _upsert.Dispose();
        _delete.Dispose();
        _sweep.Dispose();
        _connection.Dispose();
    }
}
