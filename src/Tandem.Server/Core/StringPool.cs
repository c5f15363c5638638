using System.Collections.Concurrent;

namespace Tandem.Server;

/// <summary>
/// Interns repeated strings such as User-Agent values, so 100,000 bindings from the same phone model
/// share one string. Bounded: once full, new values are returned as they are.
/// </summary>
public sealed class StringPool(int capacity)
{
    private readonly ConcurrentDictionary<string, string> _pool = new(StringComparer.Ordinal);

    public string? Intern(string? value)
    {
        if (value is null)
        {
            return null;
        }

        if (_pool.TryGetValue(value, out var pooled))
        {
            return pooled;
        }

        return _pool.Count < capacity ? _pool.GetOrAdd(value, value) : value;
    }
}
