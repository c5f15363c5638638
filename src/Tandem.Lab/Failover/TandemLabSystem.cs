using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Tandem.Cluster.Addresses;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover;

/// <summary>
/// Tandem under test: real <c>tandem run</c> processes on nodes a and b and <c>tandem witness</c> on w, the service
/// address 198.18.0.100/24 with preference [a, b] and sticky failback, digest auth on, the lab's users imported with
/// <c>tandem user import</c> into each node's data directory; calls go to the registered callee (2000) as on any PBX.
/// </summary>
public sealed class TandemLabSystem : ILabSystem
{
    private const string Secret = "tandem-failover-lab-secret-0123456789";
    private static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(30);
    private readonly LabTopology _topology;
    private readonly LabSystemSettings _settings;
    private readonly Dictionary<string, NetnsProcess> _processes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _starts = new(StringComparer.Ordinal);
    private NetnsProcess? _witness;

    public TandemLabSystem(LabTopology topology, LabSystemSettings settings)
    {
        _topology = topology ?? throw new ArgumentNullException(nameof(topology));
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
    }

    public string Name => "tandem";

    public IPAddress ServiceAddress => LabTopology.ServiceAddress;

    public int SipPort => 5060;

    public string Domain => LabTopology.Domain;

    public IReadOnlyList<string> Nodes { get; } = ["a", "b"];

    public IReadOnlyList<(string User, string Password)> Users => LabTopology.Users;

    private string NodeDirectory(string node) => Path.Combine(_topology.WorkDirectory, "tandem", node);

    private string ConfigPath(string node) => Path.Combine(NodeDirectory(node), "tandem.yaml");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var users = new StringBuilder();
        foreach (var (user, password) in Users)
        {
            users.Append(CultureInfo.InvariantCulture, $"{user}@{Domain},{password}\n");
        }
        var usersFile = Path.Combine(_topology.WorkDirectory, "tandem-users.csv");
        await File.WriteAllTextAsync(usersFile, users.ToString(), cancellationToken);
        foreach (var node in Nodes.Append("w"))
        {
            Directory.CreateDirectory(NodeDirectory(node));
            await File.WriteAllTextAsync(ConfigPath(node), Config(node), cancellationToken);
        }
        foreach (var node in Nodes)
        {
            await CommandRunner.Instance.RunCheckedAsync(_settings.TandemFile, [.. _settings.TandemArguments, "user", "import", usersFile, "--config", ConfigPath(node)], TimeSpan.FromSeconds(60), cancellationToken);
        }
        _topology.Log($"tandem: {Users.Count} users imported on {string.Join(", ", Nodes)}");

        _witness = _topology.Witness.Start(_settings.TandemFile, [.. _settings.TandemArguments, "witness", "--config", ConfigPath("w")]);
        // a first: it takes the address with the witness's vote; b joins as standby (failback sticky).
        StartNode("a");
        if (!await SipPing.WaitAsync(_topology.Client, new IPEndPoint(ServiceAddress, SipPort), JoinTimeout, cancellationToken))
        {
            throw new InvalidOperationException($"tandem: nobody answered OPTIONS on {ServiceAddress}:{SipPort} within {JoinTimeout.TotalSeconds} s\n--- a ---\n{Tail(_processes["a"].Output)}\n--- w ---\n{Tail(_witness.Output)}");
        }
        StartNode("b");
        await WaitForLogAsync("b", "peer a up", cancellationToken);
        await Task.Delay(1500, cancellationToken); // b past its start-up wait and eligible
        var holders = await HoldersAsync(cancellationToken);
        if (holders.Count != 1)
        {
            throw new InvalidOperationException($"tandem: expected one holder of {ServiceAddress} after start, found [{string.Join(", ", holders)}]");
        }
    }

    private void StartNode(string node)
    {
        _starts[node] = _starts.GetValueOrDefault(node) + 1;
        _processes[node] = _topology.Nodes[node].Start(_settings.TandemFile, [.. _settings.TandemArguments, "run", "--config", ConfigPath(node)]);
    }

    private async Task WaitForLogAsync(string node, string text, CancellationToken cancellationToken)
    {
        var process = _processes[node];
        var deadline = DateTime.UtcNow + JoinTimeout;
        while (!process.Output.Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline || process.HasExited)
            {
                throw new InvalidOperationException($"tandem: node {node} did not log '{text}' within {JoinTimeout.TotalSeconds} s (exited: {process.HasExited})\n{Tail(process.Output)}");
            }
            await Task.Delay(20, cancellationToken);
        }
    }

    private static string Tail(string output) => output.Length <= 4000 ? output : "…" + output[^4000..];

    public async Task<IReadOnlyList<string>> HoldersAsync(CancellationToken cancellationToken)
    {
        var holders = new List<string>();
        foreach (var node in Nodes)
        {
            var result = await _topology.Nodes[node].IpAsync("-j", "addr", "show", "dev", "eth0");
            using var json = JsonDocument.Parse(result.StandardOutput);
            var vip = ServiceAddress.ToString();
            if (json.RootElement.EnumerateArray().SelectMany(l => l.GetProperty("addr_info").EnumerateArray()).Any(i => i.GetProperty("local").GetString() == vip))
            {
                holders.Add(node);
            }
        }
        return holders;
    }

    public async Task CrashAsync(string node)
    {
        var process = _processes[node];
        process.Kill();
        await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
    }

    public Task FreezeAsync(string node)
    {
        _processes[node].Stop();
        return Task.CompletedTask;
    }

    public Task ThawAsync(string node)
    {
        _processes[node].Continue();
        return Task.CompletedTask;
    }

    public async Task StopAsync(string node, CancellationToken cancellationToken)
    {
        var process = _processes[node];
        process.Terminate();
        await process.WaitForExitAsync(TimeSpan.FromSeconds(20));
    }

    public async Task RestartAsync(string node, CancellationToken cancellationToken)
    {
        var old = _processes[node];
        if (!old.HasExited)
        {
            throw new InvalidOperationException($"tandem: node {node} is still running (pid {old.Pid})");
        }
        await SaveLogAsync(node, old);
        await old.DisposeAsync();
        StartNode(node);
        var peer = Nodes.First(n => n != node);
        await WaitForLogAsync(node, $"peer {peer} up", cancellationToken);
        // Rejoined; up for longer than the failure-detection time, so it is eligible to take over again.
        await Task.Delay(1000, cancellationToken);
    }

    private async Task SaveLogAsync(string node, NetnsProcess process)
    {
        var path = Path.Combine(NodeDirectory(node), $"run-{_starts.GetValueOrDefault(node)}.log");
        await File.WriteAllTextAsync(path, process.Output);
    }

    /// <summary>The node's configuration: SIP on its own address and the service address, the cluster section.</summary>
    private string Config(string node)
    {
        var addresses = new Dictionary<string, string> { ["a"] = "198.18.0.11", ["b"] = "198.18.0.12", ["w"] = "198.18.0.13" };
        var address = addresses[node];
        var yaml = new StringBuilder();
        yaml.AppendLine(CultureInfo.InvariantCulture, $"data-dir: {Path.Combine(NodeDirectory(node), "data")}");
        if (node != "w")
        {
            // SIP on the service address, plus loopback for the node's own health probe. Not on the node's own
            // address: a node listening there record-routes it too, which pins in-dialog requests (BYE) to the node
            // that set the call up, dead or alive.
            yaml.AppendLine("listen:")
                .AppendLine(CultureInfo.InvariantCulture, $"  - udp:{ServiceAddress}:5060")
                .AppendLine("  - udp:127.0.0.1:5060")
                .AppendLine("sip:")
                .AppendLine(CultureInfo.InvariantCulture, $"  domains: [{Domain}]")
                .AppendLine("auth:")
                .AppendLine("  enabled: true")
                .AppendLine("logging:")
                .AppendLine("  level: information");
        }
        yaml.AppendLine("cluster:")
            .AppendLine(CultureInfo.InvariantCulture, $"  node-id: {node}")
            .AppendLine(CultureInfo.InvariantCulture, $"  secret: {Secret}")
            .AppendLine(CultureInfo.InvariantCulture, $"  listen: [\"{address}:7946\"]")
            .AppendLine("  peers:");
        foreach (var peer in Nodes.Where(n => n != node))
        {
            // State replication (registrations, calls) on its own port, synchronous: the default mode.
            var replication = node == "w" ? "" : $", replication: \"{addresses[peer]}:7947\"";
            yaml.AppendLine(CultureInfo.InvariantCulture, $"    - {{ id: {peer}, addresses: [\"{addresses[peer]}:7946\"]{replication} }}");
        }
        if (node != "w")
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"  replication: {{ listen: \"{address}:7947\", mode: sync }}");
        }
        yaml.AppendLine("  witness: { id: w, address: \"198.18.0.13:7946\" }")
            .AppendLine("  service-addresses:")
            .AppendLine(CultureInfo.InvariantCulture, $"    - {{ address: {ServiceAddress}/{LabTopology.ServicePrefixLength}, interface: eth0, preference: [a, b] }}")
            .AppendLine("  failback: { policy: sticky }");
        return yaml.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (node, process) in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Continue(); // a frozen node cannot handle SIGTERM
                    process.Terminate();
                    await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
                }
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException)
            {
            }
            await SaveLogAsync(node, process);
            await process.DisposeAsync();
        }
        if (_witness is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(NodeDirectory("w"), "witness.log"), _witness.Output);
            await _witness.DisposeAsync();
        }
    }
}
