using System.Collections.Concurrent;
using Tandem.Storage;

namespace Tandem.Server.Registrar;

/// <summary>
/// Keeps subscribers in memory so digest checks don't read the database on every REGISTER
/// (Kamailio keeps passwords in memory for the same reason). An entry is forgotten when the store's
/// change stamp moves (<see cref="CheckForChangesAsync"/>, which the server calls twice a second),
/// so `tandem user passwd/remove` from another process takes effect within about half a second;
/// in a cluster the replication bridge drops an entry as soon as it writes the account
/// (<see cref="Invalidate"/>). Entries older than the maximum age are read again anyway: a safety
/// net for a change made behind the store's back (e.g. with the sqlite3 shell).
/// </summary>
public sealed class SubscriberCache
{
    private readonly ISubscriberStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _lifetime;
    private readonly int _capacity;
    private readonly ConcurrentDictionary<(string User, string Domain), Entry> _entries = new();
    private readonly ConcurrentDictionary<string, (bool Served, long LoadedAt)> _domains = new(StringComparer.OrdinalIgnoreCase);
    private long _generation;
    private long _changeStamp = -1;
    private int _checking;

    public SubscriberCache(ISubscriberStore store, TimeProvider time, TimeSpan maxAge, int capacity = 200_000)
    {
        _store = store;
        _time = time;
        _lifetime = maxAge;
        _capacity = capacity;
    }

    /// <summary>
    /// Reads the store's change stamp and forgets every cached account (and which domains are
    /// served) when it moved since the last call; the first call always forgets. Returns whether it did.
    /// Overlapping calls return at once.
    /// </summary>
    public async Task<bool> CheckForChangesAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _checking, 1) != 0)
        {
            return false;
        }

        try
        {
            var stamp = await _store.GetChangeStampAsync(cancellationToken);
            if (Interlocked.Exchange(ref _changeStamp, stamp) == stamp)
            {
                return false;
            }

            InvalidateAll();
            return true;
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    public async ValueTask<Subscriber?> GetAsync(string username, string domain, CancellationToken cancellationToken)
    {
        // Domains compare case-insensitively; ToLowerInvariant returns the same string when already lower case.
        var key = (username, domain.ToLowerInvariant());
        var now = _time.GetTimestamp();
        if (_entries.TryGetValue(key, out var entry) && _time.GetElapsedTime(entry.LoadedAt, now) < _lifetime)
        {
            return entry.Subscriber;
        }

        var generation = Volatile.Read(ref _generation);
        var subscriber = await _store.GetAsync(username, domain, cancellationToken);
        if (generation != Volatile.Read(ref _generation))
        {
            // Invalidated while reading: the row read may be the old one, so do not keep it.
            return subscriber;
        }

        if (_entries.Count >= _capacity)
        {
            // Bounded: unknown-user floods must not grow memory. Start over rather than track LRU.
            _entries.Clear();
        }

        _entries[key] = new Entry(subscriber, now);
        return subscriber;
    }

    /// <summary>Forgets every cached account and which domains are served.</summary>
    public void InvalidateAll()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
        _domains.Clear();
    }

    /// <summary>Forgets the cached account (and which domains are served): it was just changed.</summary>
    public void Invalidate(string username, string domain)
    {
        Interlocked.Increment(ref _generation);
        _entries.TryRemove((username, domain.ToLowerInvariant()), out _);
        _domains.Clear();
    }

    /// <summary>
    /// Whether the account exists, for routing decisions that cannot await. The SQLite provider
    /// completes its "async" reads synchronously, so this never waits on another thread.
    /// </summary>
    public bool Exists(string username, string domain)
    {
        var lookup = GetAsync(username, domain, CancellationToken.None);
        var subscriber = lookup.IsCompleted ? lookup.Result : lookup.AsTask().GetAwaiter().GetResult();
        return subscriber is { Enabled: true };
    }

    /// <summary>Whether some subscriber has <paramref name="domain"/>; answers are cached like accounts.</summary>
    public bool HasDomain(string domain)
    {
        var now = _time.GetTimestamp();
        if (_domains.TryGetValue(domain, out var cached) && _time.GetElapsedTime(cached.LoadedAt, now) < _lifetime)
        {
            return cached.Served;
        }

        var lookup = _store.HasDomainAsync(domain);
        var served = lookup.IsCompleted ? lookup.Result : lookup.GetAwaiter().GetResult();
        if (_domains.Count >= 1024)
        {
            _domains.Clear();
        }

        _domains[domain] = (served, now);
        return served;
    }

    private readonly record struct Entry(Subscriber? Subscriber, long LoadedAt);
}
