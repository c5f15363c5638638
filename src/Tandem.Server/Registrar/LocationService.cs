using System.Collections.Concurrent;
using Tandem.Storage;

namespace Tandem.Server.Registrar;

/// <summary>
/// The live location service: bindings per address of record, in memory. Readers get immutable
/// arrays; writers replace an AoR's array under a striped async lock, so one AoR's REGISTERs are
/// applied (and persisted) in order without a lock object per AoR.
/// </summary>
public sealed class LocationService
{
    private const int Stripes = 256;

    private readonly ConcurrentDictionary<string, Binding[]> _bindings = new(StringComparer.Ordinal);

    // Contact URI → binding, so a request inside a dialog whose Request-URI is a registered contact
    // is sent where that contact's REGISTER came from (NAT), not to the address in the URI.
    private readonly ConcurrentDictionary<string, Binding> _byContact = new(StringComparer.OrdinalIgnoreCase);
    private readonly SemaphoreSlim[] _locks = CreateLocks();
    private long _bindingCount;

    public int AorCount => _bindings.Count;

    public long BindingCount => Interlocked.Read(ref _bindingCount);

    private static SemaphoreSlim[] CreateLocks()
    {
        var locks = new SemaphoreSlim[Stripes];
        for (var i = 0; i < locks.Length; i++)
        {
            locks[i] = new SemaphoreSlim(1, 1);
        }

        return locks;
    }

    /// <summary>Current bindings of <paramref name="aor"/> (possibly including some just expired).</summary>
    public IReadOnlyList<Binding> Get(string aor) => _bindings.TryGetValue(aor, out var list) ? list : [];

    /// <summary>Bindings of <paramref name="aor"/> that are still alive at <paramref name="now"/>.</summary>
    public IReadOnlyList<Binding> GetAlive(string aor, DateTimeOffset now)
    {
        var list = Get(aor);
        var alive = new List<Binding>(list.Count);
        foreach (var binding in list)
        {
            if (binding.ExpiresAt > now)
            {
                alive.Add(binding);
            }
        }

        return alive;
    }

    public IEnumerable<KeyValuePair<string, Binding[]>> All => _bindings;

    /// <summary>Serialises changes to one AoR; dispose the result to release.</summary>
    public async ValueTask<AorLock> LockAsync(string aor, CancellationToken cancellationToken = default)
    {
        var gate = _locks[(uint)StringComparer.Ordinal.GetHashCode(aor) % Stripes];
        await gate.WaitAsync(cancellationToken);
        return new AorLock(gate);
    }

    /// <summary>The live binding registered with exactly this contact URI, if any.</summary>
    public Binding? FindByContact(string contactUri) => _byContact.TryGetValue(contactUri, out var binding) ? binding : null;

    /// <summary>Replaces the bindings of an AoR. Call only while holding its lock.</summary>
    public void Set(string aor, Binding[] bindings)
    {
        if (_bindings.TryGetValue(aor, out var old))
        {
            foreach (var binding in old)
            {
                _byContact.TryRemove(new KeyValuePair<string, Binding>(binding.ContactUri, binding));
            }
        }

        foreach (var binding in bindings)
        {
            _byContact[binding.ContactUri] = binding;
        }

        var previous = 0;
        if (bindings.Length == 0)
        {
            if (_bindings.TryRemove(aor, out var removed))
            {
                previous = removed.Length;
            }
        }
        else
        {
            _bindings.AddOrUpdate(aor, bindings, (_, old) =>
            {
                previous = old.Length;
                return bindings;
            });
        }

        Interlocked.Add(ref _bindingCount, bindings.Length - previous);
    }

    /// <summary>Loads persisted bindings at start-up, dropping the ones that expired meanwhile.</summary>
    public int Load(IEnumerable<Binding> bindings, DateTimeOffset now)
    {
        var loaded = 0;
        foreach (var group in bindings.Where(b => b.ExpiresAt > now).GroupBy(b => b.Aor, StringComparer.Ordinal))
        {
            var array = group.ToArray();
            Set(group.Key, array);
            loaded += array.Length;
        }

        return loaded;
    }

    public readonly struct AorLock(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }
}
