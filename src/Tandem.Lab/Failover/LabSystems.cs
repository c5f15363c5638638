namespace Tandem.Lab.Failover;

/// <summary>
/// The systems the lab can measure, by the name given to <c>--system</c>. Each factory builds an unstarted
/// <see cref="ILabSystem"/> on a fresh <see cref="LabTopology"/>. "tandem" is built in; "kamailio" (Kamailio behind
/// keepalived VRRP) is registered once that implementation is part of the build.
/// </summary>
public static class LabSystems
{
    private static readonly Dictionary<string, Func<LabTopology, LabSystemSettings, ILabSystem>> Factories = BuiltIn();

    /// <summary>Names accepted by <c>--system</c> besides "all": "tandem", and "kamailio" for every Kamailio variant
    /// (VRRP advert interval 1 s as in the theses, and the smallest keepalived accepts).</summary>
    public static IReadOnlyList<string> Known { get; } = ["tandem", "kamailio"];

    private static Dictionary<string, Func<LabTopology, LabSystemSettings, ILabSystem>> BuiltIn()
    {
        var factories = new Dictionary<string, Func<LabTopology, LabSystemSettings, ILabSystem>>(StringComparer.Ordinal)
        {
            ["tandem"] = (topology, settings) => new TandemLabSystem(topology, settings),
        };
#if LAB_KAMAILIO
        // Compiled when Failover/Kamailio/KamailioKeepalivedSystem.cs is part of the tree (see Tandem.Lab.csproj).
        foreach (var interval in new[] { Kamailio.KamailioLabOptions.ThesisAdvertInterval, Kamailio.KamailioLabOptions.MinimumAdvertInterval })
        {
            var options = new Kamailio.KamailioLabOptions { AdvertInterval = interval, Users = LabTopology.Users, Domain = LabTopology.Domain };
            factories[options.EffectiveName] = (topology, _) => new Kamailio.KamailioKeepalivedSystem(
                topology.Lab, topology.Nodes["a"], topology.Nodes["b"], options with { WorkDirectory = Path.Combine(topology.WorkDirectory, "kamailio") }, topology.Log);
        }
#endif
        return factories;
    }

    /// <summary>The systems a <c>--system</c> value stands for ("kamailio": every registered kamailio-* variant; "all": everything).</summary>
    public static IReadOnlyList<string> Expand(string name)
    {
        lock (Factories)
        {
            return name switch
            {
                "all" => [.. Factories.Keys.OrderBy(k => k == "tandem" ? 0 : 1).ThenBy(k => k, StringComparer.Ordinal)],
                "kamailio" => [.. Factories.Keys.Where(k => k.StartsWith("kamailio", StringComparison.Ordinal)).Order(StringComparer.Ordinal)],
                _ => Factories.ContainsKey(name) ? [name] : [],
            };
        }
    }

    /// <summary>Why <paramref name="name"/> cannot run in this build, or null when it can.</summary>
    public static string? Unavailable(string name)
    {
        if (Expand(name).Count > 0)
        {
            return null;
        }
        return name == "kamailio"
            ? "system 'kamailio' (Kamailio + keepalived) is not available in this build: its ILabSystem implementation (Failover/Kamailio/KamailioKeepalivedSystem.cs) is not part of it yet"
            : $"unknown system '{name}' (known: {string.Join(", ", Known)}, all)";
    }

    public static void Register(string name, Func<LabTopology, LabSystemSettings, ILabSystem> factory)
    {
        lock (Factories)
        {
            Factories[name] = factory;
        }
    }

    /// <summary>Builds the system named <paramref name="name"/> (one of <see cref="Expand"/>'s names), or throws.</summary>
    public static ILabSystem Create(string name, LabTopology topology, LabSystemSettings settings)
    {
        Func<LabTopology, LabSystemSettings, ILabSystem>? factory;
        lock (Factories)
        {
            Factories.TryGetValue(name, out factory);
        }
        return factory is null ? throw new InvalidOperationException(Unavailable(name) ?? $"unknown system '{name}'") : factory(topology, settings);
    }
}

/// <summary>What every system needs from the lab besides the topology.</summary>
/// <param name="TandemFile">How to run <c>tandem</c>: the executable ("dotnet", or the tandem apphost).</param>
/// <param name="TandemArguments">Arguments before the command (["/path/tandem.dll"] with dotnet, else none).</param>
public sealed record LabSystemSettings(string TandemFile, IReadOnlyList<string> TandemArguments);
