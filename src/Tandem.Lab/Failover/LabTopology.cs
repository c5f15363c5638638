using System.Net;
using Tandem.Cluster.Addresses;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover;

/// <summary>
/// The failover lab's segment (198.18.0.0/24 on one bridge): client 198.18.0.2 (load, prober, the callee SIPp on
/// port <see cref="CalleePort"/>), nodes a 198.18.0.11 and b 198.18.0.12, witness w 198.18.0.13; the service address
/// 198.18.0.100/24. A system under test (<see cref="ILabSystem"/>) gets this and starts its processes in these hosts.
/// </summary>
public sealed class LabTopology : IAsyncDisposable
{
    public const string Domain = "lab.example";
    public const int CalleePort = 5090;
    public static readonly IPAddress ServiceAddress = IPAddress.Parse("198.18.0.100");
    public const int ServicePrefixLength = 24;

    private LabTopology(NetnsLab lab, NetnsHost client, NetnsHost a, NetnsHost b, NetnsHost witness, string workDirectory, Action<string> log)
    {
        Lab = lab;
        Client = client;
        Nodes = new Dictionary<string, NetnsHost> { ["a"] = a, ["b"] = b };
        Witness = witness;
        WorkDirectory = workDirectory;
        Log = log;
    }

    public NetnsLab Lab { get; }

    public NetnsHost Client { get; }

    /// <summary>The node hosts by name, in preference order (a, b).</summary>
    public IReadOnlyDictionary<string, NetnsHost> Nodes { get; }

    public NetnsHost Witness { get; }

    /// <summary>Where systems put configurations, data and logs.</summary>
    public string WorkDirectory { get; }

    public Action<string> Log { get; }

    /// <summary>The user the call loop calls: a SIPp server in the client namespace registered from <see cref="CalleePort"/>.</summary>
    public const string CalleeUser = "2000";

    /// <summary>Users the systems provision: the REGISTER loop's two (1000, 1001), the caller (1002), the callee (2000)
    /// and the sentinels (3000…).</summary>
    public static IReadOnlyList<(string User, string Password)> Users { get; } =
    [
        .. new[] { "1000", "1001", "1002", CalleeUser }.Concat(Enumerable.Range(3000, SentinelCount).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .Select(u => (u, "lab-pw-" + u)),
    ];

    public const int SentinelCount = 10;

    public static async Task<LabTopology> CreateAsync(string workDirectory, Action<string> log)
    {
        // "tdl": a lab run lasts far longer than test namespaces live; other runs' leftover sweeps must not take it.
        var lab = await NetnsLab.CreateAsync(log, prefix: "tdl");
        try
        {
            var client = await lab.AddHostAsync("client", "198.18.0.2/24");
            var a = await lab.AddHostAsync("a", "198.18.0.11/24");
            var b = await lab.AddHostAsync("b", "198.18.0.12/24");
            var w = await lab.AddHostAsync("w", "198.18.0.13/24");
            await lab.WaitForLinksAsync();
            Directory.CreateDirectory(workDirectory);
            return new LabTopology(lab, client, a, b, w, workDirectory, log);
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    /// <summary>Drops all traffic between the two nodes (nftables in each node's namespace) or heals it again.
    /// Both keep reaching the client and the witness.</summary>
    public async Task SetPartitionAsync(bool partitioned)
    {
        var a = Nodes["a"];
        var b = Nodes["b"];
        foreach (var (self, peer) in new[] { (a, b), (b, a) })
        {
            if (partitioned)
            {
                var rules =
                    "table inet tandemlab {\n" +
                    $"  chain in {{\n    type filter hook input priority 0;\n    ip saddr {peer.Address} drop\n  }}\n" +
                    $"  chain out {{\n    type filter hook output priority 0;\n    ip daddr {peer.Address} drop\n  }}\n" +
                    "}\n";
                var file = Path.Combine(WorkDirectory, $"partition-{self.Role}.nft");
                await File.WriteAllTextAsync(file, rules);
                await self.ExecAsync("nft", "-f", file);
            }
            else
            {
                // Not checked: healing what is already healed is fine.
                await CommandRunner.Instance.RunAsync("ip", ["netns", "exec", self.Namespace, "nft", "delete", "table", "inet", "tandemlab"], TimeSpan.FromSeconds(10));
            }
        }
    }

    public ValueTask DisposeAsync() => Lab.DisposeAsync();
}
