namespace Tandem.Storage.Sqlite;

/// <summary>
/// Write-through with group commit: each change is queued on the write-behind writer and the call
/// returns only once the transaction holding it is committed (synchronous=FULL). Changes that
/// arrive while a commit is running share the next one, so one fsync serves many REGISTERs and
/// nothing acknowledged can be lost.
/// </summary>
public sealed class GroupCommitBindingStore(WriteBehindBindingStore queue) : IBindingStore
{
    public Task<IReadOnlyList<Binding>> LoadAllAsync(CancellationToken cancellationToken = default) => queue.LoadAllAsync(cancellationToken);

    public Task<IReadOnlyList<Binding>> ListAsync(string? aor, CancellationToken cancellationToken = default) => queue.ListAsync(aor, cancellationToken);

    public async ValueTask UpsertAsync(Binding binding, CancellationToken cancellationToken = default)
    {
        await queue.UpsertAsync(binding, cancellationToken);

        // Not cancellable: the writer completes every waiter (committed, failed, or drained at
        // dispose), and a cancellable wait costs each REGISTER an extra task and thread-pool hop.
        await queue.FlushAsync(CancellationToken.None);
    }

    public async ValueTask DeleteAsync(string aor, string contactUri, CancellationToken cancellationToken = default)
    {
        await queue.DeleteAsync(aor, contactUri, cancellationToken);
        await queue.FlushAsync(cancellationToken);
    }

    public async ValueTask DeleteExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        await queue.DeleteExpiredAsync(now, cancellationToken);
        await queue.FlushAsync(cancellationToken);
    }

    public Task FlushAsync(CancellationToken cancellationToken = default) => queue.FlushAsync(cancellationToken);

    public int WaitingForCommit => queue.WaitingFlushes;

    public ValueTask DisposeAsync() => queue.DisposeAsync();
}
