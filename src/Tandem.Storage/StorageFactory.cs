using Tandem.Storage.Sqlite;

namespace Tandem.Storage;

/// <summary>The stores over one data directory, opened together and closed together.</summary>
public sealed class TandemStorage : IAsyncDisposable
{
    internal TandemStorage(SqliteDatabase database, StorageMode mode, ISubscriberStore subscribers, IBindingStore bindings, ICdrStore cdrs)
    {
        Database = database;
        Mode = mode;
        Subscribers = subscribers;
        Bindings = bindings;
        Cdrs = cdrs;
    }

    public SqliteDatabase Database { get; }

    public StorageMode Mode { get; }

    public ISubscriberStore Subscribers { get; }

    public IBindingStore Bindings { get; }

    /// <summary>Call detail records, always written behind (see <see cref="WriteBehindCdrStore"/>).</summary>
    public ICdrStore Cdrs { get; }

    /// <summary>Flushes pending binding changes and CDRs and stops the writers.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Bindings.DisposeAsync();
        }
        finally
        {
            await Cdrs.DisposeAsync();
        }
    }
}

public static class StorageFactory
{
    /// <summary>
    /// Opens <c>&lt;dataDir&gt;/tandem.db</c> (creating and migrating it) and returns its stores:
    /// subscribers are always written through; bindings are written through or behind per
    /// <paramref name="mode"/>; call detail records are always written behind, with the same flush
    /// interval and batch size. See <see cref="StorageMode"/> and docs/storage.md for what a crash can lose.
    /// </summary>
    public static TandemStorage Open(string dataDir, StorageMode mode, WriteBehindOptions? writeBehind = null)
    {
        var database = SqliteDatabase.Open(dataDir);
        var direct = new SqliteBindingStore(database);
        IBindingStore bindings = mode switch
        {
            StorageMode.WriteThrough => new GroupCommitBindingStore(new WriteBehindBindingStore(direct, writeBehind)),
            StorageMode.WriteBehind => new WriteBehindBindingStore(direct, writeBehind),
            _ => throw new ArgumentOutOfRangeException(nameof(mode)),
        };
        var cdrs = new WriteBehindCdrStore(new SqliteCdrStore(database), writeBehind);
        return new TandemStorage(database, mode, new SqliteSubscriberStore(database), bindings, cdrs);
    }
}
