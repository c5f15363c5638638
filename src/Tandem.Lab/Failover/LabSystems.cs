namespace Tandem.Lab.Failover;

/// <summary>
/// The systems the lab can measure, by the name given to <c>--system</c>. Each factory builds an unstarted
/// <see cref="ILabSystem"/> on a fresh <see cref="LabTopology"/>. "tandem" is built in; "kamailio" (Kamailio behind
/// keepalived VRRP) is registered once that implementation is part of the build.
/// </summary>
public static class LabSystems
{
    private static readonly Dictionary<string, Func<LabTopology, LabSystemSettings, ILabSystem>> Factories = new(StringComparer.Ordinal)
    {
        ["tandem"] = (topology, settings) => new TandemLabSystem(topology, settings),
    };

    /// <summary>Names accepted by <c>--system</c> (besides "all").</summary>
    public static IReadOnlyList<string> Known { get; } = ["tandem", "kamailio"];

    public static void Register(string name, Func<LabTopology, LabSystemSettings, ILabSystem> factory)
    {
        lock (Factories)
        {
            Factories[name] = factory;
        }
    }

    public static bool IsAvailable(string name)
    {
        lock (Factories)
        {
            return Factories.ContainsKey(name);
        }
    }

    /// <summary>Builds the system, or throws with what is missing.</summary>
    public static ILabSystem Create(string name, LabTopology topology, LabSystemSettings settings)
    {
        Func<LabTopology, LabSystemSettings, ILabSystem>? factory;
        lock (Factories)
        {
            Factories.TryGetValue(name, out factory);
        }
        if (factory is null)
        {
            throw new InvalidOperationException(name == "kamailio"
                ? "system 'kamailio' (Kamailio + keepalived) is not available in this build: its ILabSystem implementation (KamailioKeepalivedSystem) has not been merged yet"
                : $"unknown system '{name}' (known: {string.Join(", ", Known)})");
        }
        return factory(topology, settings);
    }
}

/// <summary>What every system needs from the lab besides the topology.</summary>
/// <param name="TandemFile">How to run <c>tandem</c>: the executable ("dotnet", or the tandem apphost).</param>
/// <param name="TandemArguments">Arguments before the command (["/path/tandem.dll"] with dotnet, else none).</param>
public sealed record LabSystemSettings(string TandemFile, IReadOnlyList<string> TandemArguments);
