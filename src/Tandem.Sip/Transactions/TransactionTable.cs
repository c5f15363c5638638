using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Tandem.Sip.Transactions;

public enum TransactionAddResult
{
    Added,

    /// <summary>Another thread added this key first (a retransmission raced the original).</summary>
    AlreadyExists,

    /// <summary>The table is at its maximum; the caller should answer 503 (RFC 3261 §21.5.4).</summary>
    Full,
}

/// <summary>
/// Live transactions by key, safe for concurrent receive threads and the timer thread, with a hard
/// ceiling so a flood cannot grow state without bound. The count is kept separately because
/// ConcurrentDictionary.Count takes every internal lock.
/// </summary>
public sealed class TransactionTable<T>
    where T : class
{
    private readonly ConcurrentDictionary<TransactionKey, T> _map;
    private int _count;

    public TransactionTable(int maxCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        MaxCount = maxCount;
        _map = new ConcurrentDictionary<TransactionKey, T>();
    }

    public int MaxCount { get; }

    public int Count => Volatile.Read(ref _count);

    public TransactionAddResult TryAdd(TransactionKey key, T transaction)
    {
        ArgumentNullException.ThrowIfNull(transaction);

        // Reserve a place first so concurrent adders can never overshoot the maximum.
        if (Interlocked.Increment(ref _count) > MaxCount)
        {
            Interlocked.Decrement(ref _count);
            return TransactionAddResult.Full;
        }

        if (_map.TryAdd(key, transaction))
        {
            return TransactionAddResult.Added;
        }

        Interlocked.Decrement(ref _count);
        return TransactionAddResult.AlreadyExists;
    }

    public bool TryGet(TransactionKey key, [MaybeNullWhen(false)] out T transaction)
        => _map.TryGetValue(key, out transaction);

    /// <summary>Removes the entry only if it still maps to this instance, so a late removal of a
    /// terminated transaction never evicts a newer one with the same key.</summary>
    public bool TryRemove(TransactionKey key, T transaction)
    {
        if (!_map.TryRemove(new KeyValuePair<TransactionKey, T>(key, transaction)))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        return true;
    }
}
