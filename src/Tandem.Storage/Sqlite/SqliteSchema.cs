using Microsoft.Data.Sqlite;

namespace Tandem.Storage.Sqlite;

/// <summary>
/// Schema migrations. Each entry moves the schema from version i to i + 1; entries are never edited
/// once released, only appended, so any older file can be brought forward.
/// </summary>
internal static class SqliteSchema
{
    private static readonly string[] Migrations =
    [
        // 1: subscribers and bindings.
        """
        CREATE TABLE subscribers (
            username     TEXT    NOT NULL,
            domain       TEXT    NOT NULL COLLATE NOCASE,
            ha1_md5      TEXT    NOT NULL,
            ha1_sha256   TEXT    NOT NULL,
            display_name TEXT,
            enabled      INTEGER NOT NULL DEFAULT 1,
            -- The primary key is the lookup index for digest authentication (username, domain).
            PRIMARY KEY (username, domain)
        ) WITHOUT ROWID;

        CREATE TABLE bindings (
            aor                TEXT    NOT NULL,
            contact_uri        TEXT    NOT NULL,
            expires_at_ms      INTEGER NOT NULL,
            q_value            INTEGER NOT NULL,
            call_id            TEXT    NOT NULL,
            cseq               INTEGER NOT NULL,
            instance_id        TEXT,
            reg_id             INTEGER,
            source_address     TEXT    NOT NULL,
            local_address      TEXT,
            transport          TEXT    NOT NULL,
            user_agent         TEXT,
            contact_parameters TEXT,
            updated_at_ms      INTEGER NOT NULL,
            PRIMARY KEY (aor, contact_uri)
        ) WITHOUT ROWID;

        CREATE INDEX bindings_by_expiry ON bindings (expires_at_ms);
        """,

        // 2: call detail records.
        """
        CREATE TABLE cdrs (
            seq            INTEGER PRIMARY KEY,     -- local insertion order
            id             TEXT    NOT NULL UNIQUE, -- the call's id, the same on every node
            call_id        TEXT    NOT NULL,
            from_tag       TEXT    NOT NULL,
            to_tag         TEXT,
            caller         TEXT    NOT NULL,
            callee         TEXT    NOT NULL,
            started_at_ms  INTEGER NOT NULL,
            answered_at_ms INTEGER,
            ended_at_ms    INTEGER NOT NULL,
            duration_ms    INTEGER NOT NULL,
            final_status   INTEGER NOT NULL,
            disposition    TEXT    NOT NULL,   -- answered, busy, no-answer, failed, cancelled
            timed_out      INTEGER NOT NULL DEFAULT 0,
            node           TEXT    NOT NULL DEFAULT ''
        );

        -- Listing is by time range, newest first; seq breaks ties in the same millisecond.
        CREATE INDEX cdrs_by_start ON cdrs (started_at_ms, seq);
        CREATE INDEX cdrs_by_call_id ON cdrs (call_id);
        """,

        // 3: cluster-replicated records (SqliteReplicatedPersistence), tombstones included. The
        // version is (wall_ms, counter, node), compared in that order; node compares as BINARY text.
        """
        CREATE TABLE replicated (
            kind     TEXT    NOT NULL,
            key      TEXT    NOT NULL,
            wall_ms  INTEGER NOT NULL,
            counter  INTEGER NOT NULL,
            node     TEXT    NOT NULL,
            origin   TEXT    NOT NULL,
            deleted  INTEGER NOT NULL,
            value    BLOB    NOT NULL,
            PRIMARY KEY (kind, key)
        ) WITHOUT ROWID;
        """,

        // 4: the subscriber change journal. Every account change made through SqliteSubscriberStore
        // (the `tandem user` commands) adds a row in the same transaction; a clustered `tandem run`
        // replicates the rows in seq order and deletes them (docs/cluster.md, "Subscribers").
        // at_ms is the change's version time, chosen above every version of the key already known.
        """
        CREATE TABLE subscriber_changes (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            key          TEXT    NOT NULL,  -- the replicated key: user@domain, domain in lower case
            at_ms        INTEGER NOT NULL,
            removed      INTEGER NOT NULL,
            username     TEXT    NOT NULL,
            domain       TEXT    NOT NULL,
            ha1_md5      TEXT    NOT NULL,
            ha1_sha256   TEXT    NOT NULL,
            display_name TEXT,
            enabled      INTEGER NOT NULL
        );

        CREATE INDEX subscriber_changes_by_key ON subscriber_changes (key);
        """,
    ];

    /// <summary>Schema version this build writes.</summary>
    public static int CurrentVersion => Migrations.Length;

    public static void Migrate(SqliteConnection connection)
    {
        // BEGIN IMMEDIATE takes the write lock first, so two processes opening a new file at once
        // cannot both run the same migration.
        using var transaction = connection.BeginTransaction(deferred: false);
        using (var create = connection.CreateCommand())
        {
            create.Transaction = transaction;
            create.CommandText = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);";
            create.ExecuteNonQuery();
        }

        var version = ReadVersion(connection, transaction);
        if (version > CurrentVersion)
        {
            throw new StorageException(
                $"database schema version {version} is newer than this Tandem supports ({CurrentVersion}); " +
                "use a newer tandem or restore a backup");
        }

        for (var next = version; next < CurrentVersion; next++)
        {
            using var migrate = connection.CreateCommand();
            migrate.Transaction = transaction;
            migrate.CommandText = Migrations[next];
            migrate.ExecuteNonQuery();
        }

        if (version != CurrentVersion)
        {
            using var write = connection.CreateCommand();
            write.Transaction = transaction;
            write.CommandText = "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES ($version);";
            write.Parameters.AddWithValue("$version", CurrentVersion);
            write.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    internal static int ReadVersion(SqliteConnection connection, SqliteTransaction? transaction = null)
    {
        using var read = connection.CreateCommand();
        read.Transaction = transaction;
        read.CommandText = "SELECT max(version) FROM schema_version;";
        var value = read.ExecuteScalar();
        return value is null or DBNull ? 0 : Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
