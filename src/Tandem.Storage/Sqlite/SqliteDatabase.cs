using Microsoft.Data.Sqlite;

namespace Tandem.Storage.Sqlite;

/// <summary>
/// The embedded SQLite database <c>&lt;data-dir&gt;/tandem.db</c> shared by the subscriber and
/// binding stores. Opening it creates the file if needed and brings the schema up to date.
/// </summary>
/// <remarks>
/// Journal mode is WAL (readers never block the writer, so the CLI can list registrations while the
/// server runs). Every connection uses <c>synchronous=FULL</c>: in WAL mode that fsyncs the log on
/// each commit, so a committed transaction survives power loss too. <c>synchronous=NORMAL</c> would
/// survive a process crash but could roll back the last commits on power loss or an OS crash, which
/// would break the write-through promise; write-behind commits once per flush interval, so FULL
/// costs it one fsync per batch.
/// </remarks>
public sealed class SqliteDatabase
{
    public const string FileName = "tandem.db";

    private readonly string _connectionString;

    private SqliteDatabase(string path)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            // Seconds to retry while another process (the CLI, or the server) holds the write lock.
            DefaultTimeout = 10,
        }.ToString();
    }

    /// <summary>Full path of the database file.</summary>
    public string Path { get; }

    /// <summary>
    /// Opens (creating if needed) <c>&lt;dataDir&gt;/tandem.db</c> and applies pending migrations.
    /// Throws <see cref="StorageException"/> when the file belongs to a newer Tandem.
    /// </summary>
    public static SqliteDatabase Open(string dataDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDir);
        CreateDataDirectory(dataDir);
        var database = new SqliteDatabase(System.IO.Path.Combine(System.IO.Path.GetFullPath(dataDir), FileName));
        using var connection = database.OpenConnection();
        using (var wal = connection.CreateCommand())
        {
            // Persistent in the file: set once, every later connection inherits it.
            wal.CommandText = "PRAGMA journal_mode=WAL;";
            wal.ExecuteNonQuery();
        }

        SqliteSchema.Migrate(connection);
        return database;
    }

    /// <summary>Releases pooled connections so the file can be deleted or moved (tests, backups).</summary>
    public static void ReleasePooledConnections() => SqliteConnection.ClearAllPools();

    internal SqliteConnection OpenConnection()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        // Per-connection settings: pooled connections keep them, but setting them again is cheap.
        command.CommandText = "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
        command.ExecuteNonQuery();
        return connection;
    }

    private static void CreateDataDirectory(string dataDir)
    {
        if (Directory.Exists(dataDir))
        {
            return;
        }

        // The database holds digest HA1 hashes and the nonce secret lives beside it: owner only.
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dataDir);
        }
        else
        {
            Directory.CreateDirectory(dataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
