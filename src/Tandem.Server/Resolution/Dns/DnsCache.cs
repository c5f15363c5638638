namespace Tandem.Server.Resolution.Dns;

/// <summary>
/// Answers by (name, type) until their TTL runs out, at most <c>capacity</c> of them: when full,
/// the least recently used entry makes room. Expiry uses the monotonic timestamp of the
/// <see cref="TimeProvider"/>, so a wall-clock jump neither keeps nor drops answers.
/// </summary>
internal sealed class DnsCache
{
    private readonly int _capacity;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Name, DnsRecordType Type), LinkedListNode<Entry>> _entries = [];
    private readonly LinkedList<Entry> _recency = new();

    public DnsCache(int capacity, TimeProvider time)
    {
        _capacity = capacity;
        _time = time;
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    public bool TryGet(string name, DnsRecordType type, out DnsQueryResult result)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            if (_entries.TryGetValue((name, type), out var node))
            {
                if (now < node.Value.ExpiresAt)
                {
                    _recency.Remove(node);
                    _recency.AddFirst(node);
                    result = node.Value.Result;
                    return true;
                }

                _entries.Remove((name, type));
                _recency.Remove(node);
            }
        }

        result = null!;
        return false;
    }

    public void Set(string name, DnsRecordType type, DnsQueryResult result, TimeSpan ttl)
    {
        if (_capacity == 0 || ttl <= TimeSpan.Zero)
        {
            return;
        }

        var expiresAt = _time.GetTimestamp() + (long)(ttl.TotalSeconds * _time.TimestampFrequency);
        var key = (name, type);
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var existing))
            {
                _recency.Remove(existing);
                _entries.Remove(key);
            }

            var node = _recency.AddFirst(new Entry(key, result, expiresAt));
            _entries[key] = node;
            while (_entries.Count > _capacity)
            {
                var oldest = _recency.Last!;
                _recency.RemoveLast();
                _entries.Remove(oldest.Value.Key);
            }
        }
    }

    private sealed record Entry((string Name, DnsRecordType Type) Key, DnsQueryResult Result, long ExpiresAt);
}
