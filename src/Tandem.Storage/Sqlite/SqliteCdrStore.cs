using Microsoft.Data.Sqlite;

namespace Tandem.Storage.Sqlite;

/// <summary>
/// Call detail records in the <c>cdrs</c> table. <see cref="AppendAsync"/> commits before it returns
/// (one transaction per record: for the CLI and tests; the server appends through
/// <see cref="WriteBehindCdrStore"/>, which calls <see cref="AppendBatchAsync"/>). Records are
/// never updated: a record whose id is already stored is skipped.
/// </summary>
public sealed class SqliteCdrStore : ICdrStore
{
    private const string Columns =
        "id, call_id, from_tag, to_tag, caller, callee, started_at_ms, answered_at_ms, ended_at_ms, " +
        "duration_ms, final_status, disposition, timed_out, node";

    private const string InsertSql =
        $"INSERT INTO cdrs ({Columns}) VALUES ($id, $callId, $fromTag, $toTag, $caller, $callee, $started, " +
        "$answered, $ended, $duration, $status, $disposition, $timedOut, $node) ON CONFLICT (id) DO NOTHING;";

    private static readonly string[] ParameterNames =
    [
        "$id", "$callId", "$fromTag", "$toTag", "$caller", "$callee", "$started", "$answered", "$ended",
        "$duration", "$status", "$disposition", "$timedOut", "$node",
    ];

    private readonly SqliteDatabase _database;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private SqliteConnection? _batchConnection;
    private SqliteCommand? _batchInsert;

    public SqliteCdrStore(SqliteDatabase database)
    {
        _database = database;
    }

    public async ValueTask AppendAsync(CallDetailRecord record, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = InsertSql;
        foreach (var name in ParameterNames)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        Bind(command.Parameters, record);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Inserts the records in one transaction (all or nothing); returns how many were new.</summary>
    public async Task<int> AppendBatchAsync(IReadOnlyCollection<CallDetailRecord> records, CancellationToken cancellationToken = default)
    {
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            // The write-behind writer commits often: keep one connection and the prepared insert.
            if (_batchConnection is null)
            {
                _batchConnection = _database.OpenConnection();
                _batchInsert = _batchConnection.CreateCommand();
                _batchInsert.CommandText = InsertSql;
                foreach (var name in ParameterNames)
                {
                    _batchInsert.Parameters.Add(new SqliteParameter { ParameterName = name });
                }
            }

            try
            {
                using var transaction = _batchConnection.BeginTransaction();
                _batchInsert!.Transaction = transaction;
                var inserted = 0;
                foreach (var record in records)
                {
                    Bind(_batchInsert.Parameters, record);
                    inserted += _batchInsert.ExecuteNonQuery();
                }

                transaction.Commit();
                return inserted;
            }
            catch
            {
                // The transaction was rolled back; start from a fresh connection next time.
                CloseBatchConnection();
                throw;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    public async Task<IReadOnlyList<CallDetailRecord>> ListAsync(CdrQuery query, CancellationToken cancellationToken = default)
    {
        await using var connection = _database.OpenConnection();
        await using var command = connection.CreateCommand();
        var where = new List<string>();
        if (query.Since is { } since)
        {
            where.Add("started_at_ms >= $since");
            command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        }

        if (query.Until is { } until)
        {
            where.Add("started_at_ms < $until");
            command.Parameters.AddWithValue("$until", until.ToUnixTimeMilliseconds());
        }

        // instr() rather than LIKE: the text is matched literally, '%' and '_' included.
        if (!string.IsNullOrEmpty(query.Caller))
        {
            where.Add("instr(lower(caller), lower($caller)) > 0");
            command.Parameters.AddWithValue("$caller", query.Caller);
        }

        if (!string.IsNullOrEmpty(query.Callee))
        {
            where.Add("instr(lower(callee), lower($callee)) > 0");
            command.Parameters.AddWithValue("$callee", query.Callee);
        }

        var sql = new System.Text.StringBuilder($"SELECT {Columns} FROM cdrs");
        if (where.Count > 0)
        {
            sql.Append(" WHERE ").AppendJoin(" AND ", where);
        }

        sql.Append(" ORDER BY started_at_ms DESC, seq DESC");
        if (query.Limit is { } limit)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(limit);
            sql.Append(" LIMIT $limit");
            command.Parameters.AddWithValue("$limit", limit);
        }

        command.CommandText = sql.Append(';').ToString();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new List<CallDetailRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(Read(reader));
        }

        return result;
    }

    /// <summary>Nothing is pending: every append has committed before returning.</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public ValueTask DisposeAsync()
    {
        CloseBatchConnection();
        return ValueTask.CompletedTask;
    }

    /// <summary>The text stored in the <c>disposition</c> column (also what the CLI prints).</summary>
    public static string DispositionName(CdrDisposition disposition) => disposition switch
    {
        CdrDisposition.Answered => "answered",
        CdrDisposition.Busy => "busy",
        CdrDisposition.NoAnswer => "no-answer",
        CdrDisposition.Failed => "failed",
        CdrDisposition.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(disposition)),
    };

    private static CdrDisposition ParseDisposition(string text) => text switch
    {
        "answered" => CdrDisposition.Answered,
        "busy" => CdrDisposition.Busy,
        "no-answer" => CdrDisposition.NoAnswer,
        "cancelled" => CdrDisposition.Cancelled,
        _ => CdrDisposition.Failed,
    };

    private void CloseBatchConnection()
    {
        _batchInsert?.Dispose();
        _batchInsert = null;
        _batchConnection?.Dispose();
        _batchConnection = null;
    }

    // Parameters in the order of ParameterNames.
    private static void Bind(SqliteParameterCollection p, CallDetailRecord record)
    {
        p[0].Value = record.Id;
        p[1].Value = record.CallId;
        p[2].Value = record.FromTag;
        p[3].Value = (object?)record.ToTag ?? DBNull.Value;
        p[4].Value = record.Caller;
        p[5].Value = record.Callee;
        p[6].Value = record.StartedAt.ToUnixTimeMilliseconds();
        p[7].Value = record.AnsweredAt is { } answered ? answered.ToUnixTimeMilliseconds() : DBNull.Value;
        p[8].Value = record.EndedAt.ToUnixTimeMilliseconds();
        p[9].Value = (long)record.Duration.TotalMilliseconds;
        p[10].Value = record.FinalStatus;
        p[11].Value = DispositionName(record.Disposition);
        p[12].Value = record.TimedOut ? 1 : 0;
        p[13].Value = record.Node;
    }

    private static CallDetailRecord Read(SqliteDataReader r) => new()
    {
        Id = r.GetString(0),
        CallId = r.GetString(1),
        FromTag = r.GetString(2),
        ToTag = r.IsDBNull(3) ? null : r.GetString(3),
        Caller = r.GetString(4),
        Callee = r.GetString(5),
        StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)),
        AnsweredAt = r.IsDBNull(7) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)),
        EndedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)),
        Duration = TimeSpan.FromMilliseconds(r.GetInt64(9)),
        FinalStatus = r.GetInt32(10),
        Disposition = ParseDisposition(r.GetString(11)),
        TimedOut = r.GetInt64(12) != 0,
        Node = r.GetString(13),
    };
}
