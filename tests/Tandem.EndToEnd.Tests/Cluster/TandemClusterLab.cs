using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tandem.EndToEnd.Tests.Infrastructure;
using Tandem.Lab.Netns;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests.Cluster;

/// <summary>
/// A Tandem cluster of real <c>tandem run</c> processes (and optionally a <c>tandem witness</c>), each in
/// its own network namespace on one bridge, plus a client namespace (198.18.0.2) for SIPp and probes.
/// One service address, <see cref="Vip"/>/24 on eth0, preference in node order, failback sticky,
/// digest auth on, replication <c>sync</c> (a REGISTER's 200 OK means a peer holds the binding).
/// Every node gets the same users (<c>tandem user import</c> on its own data dir) before it starts:
/// subscribers are provisioned per node here, not replicated.
/// Disposing kills every process by PID and deletes the namespaces, also when a test fails.
/// </summary>
public sealed partial class TandemClusterLab : IAsyncDisposable
{
    public const string Vip = "198.18.0.100";
    public const string ClientAddress = "198.18.0.2";
    public const string Domain = "example.com";
    private const string Secret = "e2e-cluster-secret-0123456789";
    private const string WitnessAddress = "198.18.0.13";
    private static readonly string[] NodeAddresses = ["198.18.0.11", "198.18.0.12", "198.18.0.14"];

    private readonly ITestOutputHelper _output;
    private readonly DirectoryInfo _work;
    private readonly List<ClusterNode> _nodes = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private NetnsProcess? _witness;

    private TandemClusterLab(ITestOutputHelper output, NetnsLab lab, DirectoryInfo work)
    {
        _output = output;
        Lab = lab;
        _work = work;
    }

    public static IPEndPoint VipSip { get; } = new(IPAddress.Parse(Vip), 5060);

    public NetnsLab Lab { get; }

    public NetnsHost Client { get; private set; } = null!;

    public NetnsHost? WitnessHost { get; private set; }

    public IReadOnlyList<ClusterNode> Nodes => _nodes;

    public ClusterNode this[string id] => _nodes.Single(n => n.Id == id);

    /// <summary>Builds the namespaces and writes every config; starts nothing (see <see cref="StartAsync"/>).</summary>
    public static async Task<TandemClusterLab> CreateAsync(ITestOutputHelper output, IReadOnlyList<string> nodeIds, bool witness, IReadOnlyList<TestUser> users)
    {
        var lab = await NetnsLab.CreateAsync(output.WriteLine);
        var cluster = new TandemClusterLab(output, lab, Directory.CreateTempSubdirectory("tandem-cluster-e2e-"));
        try
        {
            cluster.Client = await lab.AddHostAsync("client", $"{ClientAddress}/24");
            for (var i = 0; i < nodeIds.Count; i++)
            {
                var host = await lab.AddHostAsync(nodeIds[i], $"{NodeAddresses[i]}/24");
                cluster._nodes.Add(new ClusterNode(nodeIds[i], host, NodeAddresses[i], Path.Combine(cluster._work.FullName, nodeIds[i])));
            }

            if (witness)
            {
                cluster.WitnessHost = await lab.AddHostAsync("w", $"{WitnessAddress}/24");
            }

            await lab.WaitForLinksAsync();
            var accounts = Path.Combine(cluster._work.FullName, "users.csv");
            await File.WriteAllLinesAsync(accounts, users.Select(u => $"{u.Aor},{u.Password}"));
            await Task.WhenAll(cluster._nodes.Select(async node =>
            {
                Directory.CreateDirectory(node.DataDir);
                await File.WriteAllTextAsync(node.ConfigPath, cluster.NodeConfig(node));
                var added = await TandemCli.RunAsync(cluster._work.FullName, "user", "import", accounts, "--data-dir", node.DataDir);
                if (added.ExitCode != 0)
                {
                    throw new InvalidOperationException($"`tandem user import` on {node.Id} failed:\n{added}");
                }
            }));

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Seconds since the lab was built, for the printed timeline.</summary>
    public string At => $"[{_clock.Elapsed.TotalSeconds,5:F1} s]";

    public void Log(string line) => _output.WriteLine($"{At} {line}");

    /// <summary>
    /// Starts the witness, then the first node, waits until it answers OPTIONS on the service address,
    /// then the others (so that a slow start of the first cannot hand the address to another one), and
    /// waits until every node sees every other and the first node is the only holder.
    /// </summary>
    public async Task StartAsync(Socket probe)
    {
        if (WitnessHost is { } w)
        {
            var config = Path.Combine(_work.FullName, "w.yaml");
            await File.WriteAllTextAsync(config, WitnessConfig());
            _witness = w.Start(Processes.DotnetHost, [TandemCli.Dll, "witness", "--config", config]);
        }

        var first = _nodes[0];
        first.Start();
        var late = _nodes.Skip(1).ToList();
        if (WitnessHost is null)
        {
            // No witness: the first node alone is 1 vote of 3; the second brings quorum. The first is
            // past its start-up wait by then, so it takes the address.
            if (!await first.WaitForLogAsync("started; listening", TimeSpan.FromSeconds(30)))
            {
                throw new InvalidOperationException($"{first.Id} did not start within 30 s\n{Logs()}");
            }

            late[0].Start();
            late.RemoveAt(0);
        }

        if (await SipOptions.WaitForAnswerAsync(probe, VipSip, TimeSpan.FromSeconds(30)) is null)
        {
            throw new InvalidOperationException($"nobody answered OPTIONS on {VipSip} within 30 s\n{Logs()}");
        }

        Log($"{first.Id} answers OPTIONS on {Vip}");
        foreach (var node in late)
        {
            node.Start();
        }

        foreach (var node in _nodes)
        {
            foreach (var other in _nodes.Where(o => o != node))
            {
                if (!await node.WaitForLogAsync($"peer {other.Id} up", TimeSpan.FromSeconds(30)))
                {
                    throw new InvalidOperationException($"{node.Id} never saw {other.Id}\n{Logs()}");
                }

                // Sync replication needs the stream to the peer; before it, REGISTERs are answered degraded.
                if (!await node.WaitForLogAsync($"Replication: connected to {other.Id}", TimeSpan.FromSeconds(30)))
                {
                    throw new InvalidOperationException($"{node.Id} never connected its replication stream to {other.Id}\n{Logs()}");
                }
            }
        }

        await Task.Delay(300); // the late nodes past their start-up wait: they saw the first one's claim
        var holders = await HoldersAsync();
        if (!holders.SequenceEqual([first.Id]))
        {
            throw new InvalidOperationException($"expected only {first.Id} to hold {Vip}, got [{string.Join(", ", holders)}]\n{Logs()}");
        }

        Log($"cluster up: {string.Join(", ", _nodes.Select(n => n.Id))}{(WitnessHost is null ? "" : " + witness")}; {first.Id} holds {Vip}");
    }

    /// <summary>
    /// The nodes that have the service address on eth0 now (<c>ip -j addr</c> in each namespace). A node whose
    /// process was killed keeps its copy until it starts again (nobody is left to remove it): it counts
    /// only when <paramref name="includeDead"/>.
    /// </summary>
    public async Task<List<string>> HoldersAsync(bool includeDead = false)
    {
        var holders = new List<string>();
        foreach (var node in _nodes)
        {
            if (!includeDead && node.Process is not { HasExited: false })
            {
                continue;
            }

            var result = await node.Host.IpAsync("-j", "addr", "show", "dev", "eth0");
            using var json = JsonDocument.Parse(result.StandardOutput);
            if (json.RootElement.EnumerateArray().SelectMany(l => l.GetProperty("addr_info").EnumerateArray())
                .Any(i => i.GetProperty("local").GetString() == Vip))
            {
                holders.Add(node.Id);
            }
        }

        return holders;
    }

    /// <summary>Polls until exactly <paramref name="expected"/> hold the address; the time it took, or null.</summary>
    public async Task<TimeSpan?> WaitForHoldersAsync(IReadOnlyList<string> expected, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            if ((await HoldersAsync()).SequenceEqual(expected))
            {
                return Stopwatch.GetElapsedTime(started);
            }

            await Task.Delay(20);
        }

        return null;
    }

    /// <summary>Samples the holders in the background until disposed: the most seen at once, and every change.</summary>
    public HolderSampler SampleHolders() => new(this);

    /// <summary>A socket in the client namespace for <see cref="SipOptions"/> probes of the service address.</summary>
    public Socket CreateProbe()
    {
        var socket = Client.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(ClientAddress), 0));
        return socket;
    }

    /// <summary>Starts SIPp in the client namespace (<see cref="SippOptions.LocalIp"/> is the client's address).</summary>
    public async Task<NetnsSipp> StartSippAsync(SippOptions options)
    {
        var work = Directory.CreateTempSubdirectory("tandem-sipp-");
        var localPort = options.LocalPort ?? throw new ArgumentException("give SIPp a fixed port in the client namespace", nameof(options));
        var errorFile = Path.Combine(work.FullName, "errors.log");
        var messageFile = Path.Combine(work.FullName, "messages.log");
        var args = await Sipp.ArgumentsAsync(options with { LocalIp = ClientAddress }, work, localPort, errorFile, messageFile);
        var process = Client.Start(Sipp.Binary, args);
        return new NetnsSipp(process, work, errorFile, messageFile, localPort, TimeSpan.FromSeconds(options.TimeoutSeconds + 15));
    }

    public async Task<SippResult> RunSippAsync(SippOptions options)
    {
        await using var sipp = await StartSippAsync(options);
        return await sipp.WaitAsync();
    }

    /// <summary>`tandem registrations list` on a node's database (it may be running: SQLite WAL).</summary>
    public static Task<CommandResult> RegistrationsAsync(ClusterNode node) =>
        TandemCli.RunAsync(node.Directory, "registrations", "list", "--config", node.ConfigPath);

    /// <summary>`tandem cdr list --format csv` on a node's database, parsed.</summary>
    public static async Task<(CommandResult Command, IReadOnlyList<CdrRow> Rows)> CdrsAsync(ClusterNode node)
    {
        var result = await TandemCli.RunAsync(node.Directory, [.. TandemCallConfig.CdrListArguments, "--config", node.ConfigPath]);
        return (result, result.ExitCode == 0 ? CdrCsv.Parse(result.Stdout) : []);
    }

    /// <summary>
    /// Waits until both nodes logged "Replication: converged with" the other after <paramref name="since"/>
    /// (output offsets) and returns the digest each logged last; they are equal when the state is.
    /// </summary>
    public static async Task<(string? A, string? B)> WaitForConvergenceAsync(ClusterNode a, int sinceA, ClusterNode b, int sinceB, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            var digestA = LastDigest(a.OutputSince(sinceA), b.Id);
            var digestB = LastDigest(b.OutputSince(sinceB), a.Id);
            if (digestA is not null && digestB is not null && digestA == digestB)
            {
                return (digestA, digestB);
            }

            await Task.Delay(50);
        }

        return (LastDigest(a.OutputSince(sinceA), b.Id), LastDigest(b.OutputSince(sinceB), a.Id));
    }

    private static string? LastDigest(string output, string peer)
    {
        string? last = null;
        foreach (Match m in ConvergedLine().Matches(output))
        {
            if (m.Groups["peer"].Value == peer)
            {
                last = m.Groups["digest"].Value;
            }
        }

        return last;
    }

    [GeneratedRegex(@"Replication: converged with (?<peer>\S+), digest (?<digest>[0-9a-f]{16})")]
    private static partial Regex ConvergedLine();

    /// <summary>Drops every packet between this node and <paramref name="peer"/> (nft in this node's namespace), or lets them through again.</summary>
    public static async Task SetPartitionAsync(ClusterNode node, ClusterNode peer, bool cut)
    {
        if (cut)
        {
            await node.Host.ExecAsync("nft", "add", "table", "inet", "tandem_e2e");
            await node.Host.ExecAsync("nft", "add", "chain", "inet", "tandem_e2e", "in", "{ type filter hook input priority 0 ; }");
            await node.Host.ExecAsync("nft", "add", "chain", "inet", "tandem_e2e", "out", "{ type filter hook output priority 0 ; }");
            await node.Host.ExecAsync("nft", "add", "rule", "inet", "tandem_e2e", "in", "ip", "saddr", peer.Address, "drop");
            await node.Host.ExecAsync("nft", "add", "rule", "inet", "tandem_e2e", "out", "ip", "daddr", peer.Address, "drop");
        }
        else
        {
            await node.Host.ExecAsync("nft", "delete", "table", "inet", "tandem_e2e");
        }
    }

    /// <summary>The tail of every process's output, for assertion messages.</summary>
    public string Logs()
    {
        var text = new StringBuilder();
        foreach (var node in _nodes)
        {
            text.Append("--- ").Append(node.Id).Append(" ---\n").Append(Tail(Quiet(node.Output), 8000)).Append('\n');
        }

        if (_witness is not null)
        {
            text.Append("--- w ---\n").Append(Tail(_witness.Output, 2000)).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>Prints every node's cluster and replication log lines (the timeline of what moved).</summary>
    public void PrintClusterLogs()
    {
        foreach (var node in _nodes)
        {
            _output.WriteLine($"--- {node.Id}: cluster and replication log ---");
            foreach (var line in node.Output.Split('\n').Where(l => l.Contains("cluster:", StringComparison.Ordinal) || l.Contains("Replication:", StringComparison.Ordinal)))
            {
                _output.WriteLine(line.TrimEnd());
            }
        }
    }

    // Reconnect attempts to a stopped peer log a stack trace each: leave them out of assertion messages.
    private static string Quiet(string output) =>
        string.Join('\n', output.Split('\n').Where(l => !l.Contains("Connection refused", StringComparison.Ordinal)));

    private static string Tail(string text, int max) => text.Length <= max ? text : "[...]\n" + text[^max..];

    private string NodeConfig(ClusterNode node)
    {
        var yaml = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"data-dir: {node.DataDir}")
            .AppendLine("listen:")
            .AppendLine(CultureInfo.InvariantCulture, $"  - udp:{node.Address}:5060")
            .AppendLine(CultureInfo.InvariantCulture, $"  - udp:{Vip}:5060")
            .AppendLine(CultureInfo.InvariantCulture, $"  - tcp:{Vip}:5060")
            .AppendLine("auth:")
            .AppendLine("  enabled: true")
            .AppendLine("cluster:")
            .AppendLine(CultureInfo.InvariantCulture, $"  node-id: {node.Id}")
            .AppendLine(CultureInfo.InvariantCulture, $"  secret: {Secret}")
            .AppendLine(CultureInfo.InvariantCulture, $"  listen: [\"{node.Address}:7946\"]")
            .AppendLine("  peers:");
        foreach (var peer in _nodes.Where(p => p != node))
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"    - {{ id: {peer.Id}, addresses: [\"{peer.Address}:7946\"], replication: \"{peer.Address}:7947\" }}");
        }

        if (WitnessHost is not null)
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"  witness: {{ id: w, address: \"{WitnessAddress}:7946\" }}");
        }

        return yaml
            .AppendLine("  service-addresses:")
            .AppendLine(CultureInfo.InvariantCulture, $"    - {{ address: {Vip}/24, interface: eth0, preference: [{string.Join(", ", _nodes.Select(n => n.Id))}] }}")
            .AppendLine("  failback: { policy: sticky }")
            .AppendLine(CultureInfo.InvariantCulture, $"  replication: {{ mode: sync, listen: \"{node.Address}:7947\", sync-timeout-ms: 1000 }}")
            .ToString();
    }

    private string WitnessConfig()
    {
        var yaml = new StringBuilder()
            .AppendLine("cluster:")
            .AppendLine("  node-id: w")
            .AppendLine(CultureInfo.InvariantCulture, $"  secret: {Secret}")
            .AppendLine(CultureInfo.InvariantCulture, $"  listen: [\"{WitnessAddress}:7946\"]")
            .AppendLine("  peers:");
        foreach (var node in _nodes)
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"    - {{ id: {node.Id}, addresses: [\"{node.Address}:7946\"] }}");
        }

        return yaml
            .AppendLine(CultureInfo.InvariantCulture, $"  witness: {{ id: w, address: \"{WitnessAddress}:7946\" }}")
            .AppendLine("  service-addresses:")
            .AppendLine(CultureInfo.InvariantCulture, $"    - {{ address: {Vip}/24, interface: eth0, preference: [{string.Join(", ", _nodes.Select(n => n.Id))}] }}")
            .ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await Lab.DisposeAsync(); // kills every process started in it, then deletes the namespaces
        try
        {
            _work.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One <c>tandem run</c> node of a <see cref="TandemClusterLab"/>; survives restarts (its output accumulates).</summary>
public sealed class ClusterNode(string id, NetnsHost host, string address, string directory)
{
    private readonly StringBuilder _previousRuns = new();

    public string Id { get; } = id;

    public NetnsHost Host { get; } = host;

    public string Address { get; } = address;

    public string Directory { get; } = directory;

    public string DataDir => Path.Combine(Directory, "data");

    public string ConfigPath => Path.Combine(Directory, "tandem.yaml");

    public NetnsProcess? Process { get; private set; }

    /// <summary>Everything every run of this node printed.</summary>
    public string Output => _previousRuns + (Process?.Output ?? "");

    /// <summary>An offset into <see cref="Output"/>: what is printed from now on is <see cref="OutputSince"/> it.</summary>
    public int OutputMark => Output.Length;

    public string OutputSince(int mark)
    {
        var all = Output;
        return mark >= all.Length ? "" : all[mark..];
    }

    public void Start()
    {
        if (Process is { HasExited: false })
        {
            throw new InvalidOperationException($"{Id} is still running");
        }

        if (Process is not null)
        {
            _previousRuns.Append(Process.Output).Append("===== restarted =====\n");
        }

        Process = Host.Start(Processes.DotnetHost, [TandemCli.Dll, "run", "--config", ConfigPath]);
    }

    /// <summary>
    /// kill -9, then waits (at most 2 s) until the kernel has ended the process (/proc says zombie or gone),
    /// so that no answer measured afterwards can come from it. Measure gaps from before this call.
    /// </summary>
    public void Kill()
    {
        Process!.Kill();
        var started = Stopwatch.GetTimestamp();
        while (Process.ProcState() is not (null or 'Z') && Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(2))
        {
            Thread.Sleep(1);
        }
    }

    public async Task<bool> WaitForLogAsync(string text, TimeSpan timeout, int since = 0)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            if (OutputSince(since).Contains(text, StringComparison.Ordinal))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }
}

/// <summary>Polls the holders of the service address every few ms until disposed.</summary>
public sealed class HolderSampler : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly List<string> _changes = [];

    internal HolderSampler(TandemClusterLab cluster) => _loop = Task.Run(() => RunAsync(cluster));

    /// <summary>The most nodes seen holding the address in one sample.</summary>
    public int MaxHolders { get; private set; }

    public int Samples { get; private set; }

    /// <summary>"+12 ms: [b]" for every sample that differed from the one before.</summary>
    public IReadOnlyList<string> Changes => _changes;

    private async Task RunAsync(TandemClusterLab cluster)
    {
        var clock = Stopwatch.StartNew();
        var previous = "";
        while (!_stop.IsCancellationRequested)
        {
            var holders = await cluster.HoldersAsync();
            Samples++;
            MaxHolders = Math.Max(MaxHolders, holders.Count);
            var text = $"[{string.Join(", ", holders)}]";
            if (text != previous)
            {
                _changes.Add($"+{clock.ElapsedMilliseconds} ms: {text}");
                previous = text;
            }

            try
            {
                await Task.Delay(10, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}

/// <summary>A SIPp process in a namespace (see <see cref="TandemClusterLab.StartSippAsync"/>).</summary>
public sealed class NetnsSipp(NetnsProcess process, DirectoryInfo work, string errorFile, string messageFile, int localPort, TimeSpan killAfter) : IAsyncDisposable
{
    private SippResult? _result;

    public int LocalPort { get; } = localPort;

    public bool HasExited => process.HasExited;

    /// <summary>What SIPp has written to its message log so far.</summary>
    public string MessagesSoFar()
    {
        try
        {
            using var stream = new FileStream(messageFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>Waits until SIPp's message log contains <paramref name="text"/> (false on timeout or exit).</summary>
    public async Task<bool> WaitForMessageAsync(string text, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < timeout && !process.HasExited)
        {
            if (MessagesSoFar().Contains(text, StringComparison.Ordinal))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return MessagesSoFar().Contains(text, StringComparison.Ordinal);
    }

    public async Task<SippResult> WaitAsync()
    {
        if (_result is not null)
        {
            return _result;
        }

        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(killAfter);
        }
        catch (TimeoutException)
        {
            timedOut = true;
            process.Kill();
            await process.WaitForExitAsync(TimeSpan.FromSeconds(5));
        }

        var command = new CommandResult(process.CommandLine, timedOut ? -1 : process.ExitCode, process.Output, "", timedOut);
        _result = new SippResult(command, Sipp.ReadIfExists(errorFile), Sipp.ReadIfExists(messageFile), LocalPort);
        return _result;
    }

    public async ValueTask DisposeAsync()
    {
        await process.DisposeAsync();
        try
        {
            work.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>SIP OPTIONS to an address from a UDP socket: "does the service answer?".</summary>
public static class SipOptions
{
    /// <summary>
    /// Sends an OPTIONS (each with its own Call-ID) every 10 ms until one of them is answered 200; the time
    /// from the call to that answer, or null. Answers to requests sent before the call do not count, so
    /// the result resolves a service gap to about 10 ms.
    /// </summary>
    public static async Task<TimeSpan?> WaitForAnswerAsync(Socket socket, IPEndPoint target, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        var sent = new HashSet<string>(StringComparer.Ordinal);
        var buffer = new byte[8192];
        var nextSend = TimeSpan.Zero;
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            if (Stopwatch.GetElapsedTime(started) >= nextSend)
            {
                var callId = Guid.NewGuid().ToString("N");
                sent.Add(callId);
                try
                {
                    await socket.SendToAsync(Request(socket, target, callId), SocketFlags.None, target);
                }
                catch (SocketException)
                {
                    // No route yet (ARP unresolved): try again at the next tick.
                }

                nextSend = Stopwatch.GetElapsedTime(started) + TimeSpan.FromMilliseconds(10);
            }

            using var tick = new CancellationTokenSource(TimeSpan.FromMilliseconds(10));
            try
            {
                var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), tick.Token);
                var text = Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes);
                if (text.StartsWith("SIP/2.0 200", StringComparison.Ordinal) && CallIdOf(text) is { } id && sent.Contains(id))
                {
                    return Stopwatch.GetElapsedTime(started);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
            }
        }

        return null;
    }

    private static string? CallIdOf(string response)
    {
        var at = response.IndexOf("\r\nCall-ID: ", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return null;
        }

        var start = at + "\r\nCall-ID: ".Length;
        var end = response.IndexOf('@', start);
        return end < 0 ? null : response[start..end];
    }

    private static byte[] Request(Socket socket, IPEndPoint target, string callId)
    {
        var local = (IPEndPoint)socket.LocalEndPoint!;
        return Encoding.ASCII.GetBytes(
            $"OPTIONS sip:{target.Address}:{target.Port} SIP/2.0\r\n" +
            $"Via: SIP/2.0/UDP {local.Address}:{local.Port};branch=z9hG4bK{callId[..16]};rport\r\n" +
            "Max-Forwards: 70\r\n" +
            $"From: <sip:probe@{local.Address}:{local.Port}>;tag={callId[..8]}\r\n" +
            $"To: <sip:{target.Address}:{target.Port}>\r\n" +
            $"Call-ID: {callId}@probe\r\n" +
            "CSeq: 1 OPTIONS\r\n" +
            "Content-Length: 0\r\n\r\n");
    }

    /// <summary>True: 200; false: another final response; null: no answer within <paramref name="timeout"/>.</summary>
    public static async Task<bool?> TryAsync(Socket socket, IPEndPoint target, TimeSpan timeout)
    {
        var callId = Guid.NewGuid().ToString("N");
        var request = Request(socket, target, callId);
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[8192];
        try
        {
            await socket.SendToAsync(request, SocketFlags.None, target, cts.Token);
            while (true)
            {
                var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                var text = Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes);
                if (text.Contains(callId, StringComparison.Ordinal) && !text.StartsWith("SIP/2.0 1", StringComparison.Ordinal))
                {
                    return text.StartsWith("SIP/2.0 200", StringComparison.Ordinal);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return null;
        }
    }
}
