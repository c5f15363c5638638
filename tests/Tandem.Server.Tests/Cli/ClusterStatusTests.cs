using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tandem.Host;
using Tandem.Host.Commands;
using Tandem.Server.Admin;

namespace Tandem.Server.Tests.Cli;

/// <summary>The admin API and <c>tandem cluster status</c> against real <c>tandem run</c> nodes (in-process, real sockets).</summary>
public sealed partial class ClusterStatusTests : IDisposable
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _dir = new();
    private readonly List<(CancellationTokenSource Stop, Task<int> Run)> _nodes = [];

    public void Dispose()
    {
        foreach (var (stop, run) in _nodes)
        {
            stop.Cancel();
            run.Wait(TimeSpan.FromSeconds(40));
            stop.Dispose();
        }

        _dir.Dispose();
    }

    private sealed record Outcome(int ExitCode, string Stdout, string Stderr);

    private async Task<Outcome> Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, new CliContext { Stdout = stdout, Stderr = stderr, CurrentDirectory = _dir.Path });
        return new Outcome(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Starts <c>tandem run</c> and waits until its admin socket answers.</summary>
    private Task<(CancellationTokenSource Stop, Task<int> Run)> StartNode(string dataDir, params string[] args) => Start("run", dataDir, args);

    private async Task<(CancellationTokenSource Stop, Task<int> Run)> Start(string command, string dataDir, params string[] args)
    {
        var stop = new CancellationTokenSource();
        var run = CliApp.RunAsync([command, "--data-dir", dataDir, .. args],
            new CliContext { Stdout = TextWriter.Null, Stderr = TextWriter.Null, CurrentDirectory = _dir.Path, Shutdown = stop.Token });
        var node = (stop, run);
        _nodes.Add(node);
        var socket = AdminServer.SocketPath(dataDir);
        var deadline = DateTime.UtcNow + Bounded;
        while ((await AdminClient.GetAsync(socket, "/v1/status", TimeSpan.FromSeconds(2))).Body is null)
        {
            Assert.False(run.IsCompleted, $"tandem run exited with {(run.IsCompleted ? run.Result : 0)}");
            Assert.True(DateTime.UtcNow < deadline, "the admin socket did not answer");
            await Task.Delay(50);
        }

        return node;
    }

    private static async Task<JsonElement> Status(string dataDir)
    {
        var (body, error) = await AdminClient.GetAsync(AdminServer.SocketPath(dataDir), "/v1/status", TimeSpan.FromSeconds(5));
        Assert.True(body is not null, error);
        return JsonDocument.Parse(body!).RootElement;
    }

    [Fact]
    public async Task A_standalone_node_reports_standalone_over_the_admin_socket_and_metrics_parse()
    {
        var data = _dir.Combine("data");
        var node = await StartNode(data, "--listen", "udp:127.0.0.1:0");
        var socket = AdminServer.SocketPath(data);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));
        }

        var text = await Cli("cluster", "status", "--data-dir", data);
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("(standalone)", text.Stdout);
        Assert.Contains("sip: 0 binding(s)", text.Stdout);

        var json = await Cli("cluster", "status", "--json", "--data-dir", data);
        Assert.Equal(0, json.ExitCode);
        var root = JsonDocument.Parse(json.Stdout).RootElement;
        Assert.Equal("standalone", root.GetProperty("mode").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("cluster").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("replication").ValueKind);
        Assert.Equal(0, root.GetProperty("history").GetArrayLength());
        Assert.Equal(Path.GetFullPath(data), root.GetProperty("dataDir").GetString());
        var sip = root.GetProperty("sip");
        Assert.StartsWith("udp:127.0.0.1:", sip.GetProperty("listening")[0].GetString());
        foreach (var field in new[] { "aors", "bindings", "activeDialogs", "requestsReceived", "responsesSent", "packetsDropped" })
        {
            Assert.Equal(JsonValueKind.Number, sip.GetProperty(field).ValueKind);
        }

        var (metrics, error) = await AdminClient.GetAsync(socket, "/metrics", TimeSpan.FromSeconds(5));
        Assert.True(metrics is not null, error);
        var samples = ParseMetrics(metrics!);
        Assert.Equal(1, samples["tandem_up"]);
        Assert.Equal(0, samples["tandem_registrar_bindings"]);
        Assert.True(samples.ContainsKey("tandem_packets_dropped_total{reason=\"malformed\"}"));
        Assert.True(samples.ContainsKey("tandem_sip_requests_received_total"));
        Assert.False(samples.ContainsKey("tandem_cluster_has_quorum"));

        await node.Stop.CancelAsync();
        Assert.Equal(0, await node.Run.WaitAsync(Bounded));
        Assert.False(File.Exists(socket), "the socket is removed on stop");

        var stopped = await Cli("cluster", "status", "--data-dir", data);
        Assert.Equal(1, stopped.ExitCode);
        Assert.Contains($"no Tandem node running with data dir {Path.GetFullPath(data)}: {socket} not found", stopped.Stderr);
    }

    [Fact]
    public async Task A_stale_socket_left_by_a_crash_is_replaced_and_a_live_one_is_refused()
    {
        var data = _dir.Combine("data");
        Directory.CreateDirectory(data);
        var socket = AdminServer.SocketPath(data);
        using (var crashed = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            // Bound elsewhere and moved: .NET removes the file it bound on dispose, a killed process does not.
            crashed.Bind(new UnixDomainSocketEndPoint(socket + ".tmp"));
            File.Move(socket + ".tmp", socket);
        }

        Assert.True(File.Exists(socket));
        var stale = await Cli("cluster", "status", "--data-dir", data);
        Assert.Equal(1, stale.ExitCode);
        Assert.Contains("refuses connections", stale.Stderr);

        await StartNode(data, "--listen", "udp:127.0.0.1:0");
        Assert.Equal(0, (await Cli("cluster", "status", "--data-dir", data)).ExitCode);

        // A second node on the same data directory: the admin socket answers, so it refuses to run.
        var second = await CliApp.RunAsync(["run", "--data-dir", data, "--listen", "udp:127.0.0.1:0"],
            new CliContext { Stdout = TextWriter.Null, Stderr = TextWriter.Null, CurrentDirectory = _dir.Path, Shutdown = new CancellationTokenSource(Bounded).Token });
        Assert.Equal(1, second);
        Assert.True(File.Exists(socket), "the running node's socket is left alone");
        Assert.Equal(0, (await Cli("cluster", "status", "--data-dir", data)).ExitCode);
    }

    [Fact]
    public async Task The_admin_api_is_also_served_on_tcp_when_admin_listen_is_set()
    {
        var port = FreeTcpPort();
        var config = _dir.Combine("tandem.yaml");
        await File.WriteAllTextAsync(config, $"admin:\n  listen: 127.0.0.1:{port}\n");
        var data = _dir.Combine("data");
        await StartNode(data, "--config", config, "--listen", "udp:127.0.0.1:0");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var metrics = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        Assert.Equal(1, ParseMetrics(metrics)["tandem_up"]);
        var status = JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/v1/status"))).RootElement;
        Assert.Equal("standalone", status.GetProperty("mode").GetString());
    }

    [Fact]
    public async Task Two_nodes_on_loopback_show_each_other_quorum_replication_and_converged_digests()
    {
        var hb = FreeUdpPorts(2);
        var repl = new[] { FreeTcpPort(), FreeTcpPort() };
        string Config(string self, int own, string peer, int peerHb, int ownRepl, int peerRepl) => $$"""
            auth: { enabled: false }
            cluster:
              node-id: {{self}}
              secret: 0123456789abcdef-status-test
              listen: [127.0.0.1:{{own}}]
              allow-two-node-without-witness: true
              heartbeat-interval-ms: 100
              heartbeat-misses: 10
              peers:
                - { id: {{peer}}, addresses: [127.0.0.1:{{peerHb}}], replication: 127.0.0.1:{{peerRepl}} }
              replication: { mode: async, listen: 127.0.0.1:{{ownRepl}} }
            """;
        var configA = _dir.Combine("a.yaml");
        var configB = _dir.Combine("b.yaml");
        await File.WriteAllTextAsync(configA, Config("a", hb[0], "b", hb[1], repl[0], repl[1]));
        await File.WriteAllTextAsync(configB, Config("b", hb[1], "a", hb[0], repl[1], repl[0]));
        var dataA = _dir.Combine("data-a");
        var dataB = _dir.Combine("data-b");
        await StartNode(dataA, "--config", configA, "--listen", "udp:127.0.0.1:0");
        await StartNode(dataB, "--config", configB, "--listen", "udp:127.0.0.1:0");

        // A registration on a replicates to b; then both digests agree.
        var sipA = (await Status(dataA)).GetProperty("sip").GetProperty("listening")[0].GetString()!;
        await RegisterAsync(IPEndPoint.Parse(sipA["udp:".Length..]));
        var deadline = DateTime.UtcNow + Bounded;
        JsonElement a, b;
        while (true)
        {
            (a, b) = (await Status(dataA), await Status(dataB));
            if (b.GetProperty("sip").GetProperty("bindings").GetInt64() == 1 && a.GetProperty("replication").GetProperty("converged").GetBoolean()
                && b.GetProperty("replication").GetProperty("converged").GetBoolean()
                && a.GetProperty("cluster").GetProperty("members")[0].GetProperty("state").GetString() == "up")
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"not converged: a={a} b={b}");
            await Task.Delay(100);
        }

        Assert.Equal("cluster", a.GetProperty("mode").GetString());
        Assert.Equal("a", a.GetProperty("node").GetString());
        var cluster = a.GetProperty("cluster");
        Assert.Equal("a", cluster.GetProperty("self").GetString());
        var quorum = cluster.GetProperty("quorum");
        Assert.True(quorum.GetProperty("has").GetBoolean());
        Assert.Equal(2, quorum.GetProperty("votesSeen").GetInt32());
        Assert.Equal(2, quorum.GetProperty("voters").GetInt32());
        Assert.Equal(2, quorum.GetProperty("needed").GetInt32());
        var member = cluster.GetProperty("members")[0];
        Assert.Equal("b", member.GetProperty("id").GetString());
        Assert.Equal("node", member.GetProperty("role").GetString());
        Assert.True(member.GetProperty("links")[0].GetProperty("up").GetBoolean());
        Assert.InRange(member.GetProperty("lastHeardMsAgo").GetInt64(), 0, 5000);
        Assert.Equal("none", member.GetProperty("fence").GetString());
        Assert.Equal(0, cluster.GetProperty("addresses").GetArrayLength());

        var replication = a.GetProperty("replication");
        Assert.Equal("async", replication.GetProperty("mode").GetString());
        var peer = replication.GetProperty("peers")[0];
        Assert.Equal("b", peer.GetProperty("peer").GetString());
        Assert.True(peer.GetProperty("connected").GetBoolean());
        Assert.True(peer.GetProperty("converged").GetBoolean());
        Assert.True(peer.GetProperty("recordsSent").GetUInt64() >= 1);
        Assert.Equal(peer.GetProperty("recordsSent").GetUInt64(), peer.GetProperty("recordsAcked").GetUInt64());
        Assert.Equal(0, peer.GetProperty("lag").GetInt64());
        var digestA = replication.GetProperty("digest");
        var digestB = b.GetProperty("replication").GetProperty("digest");
        Assert.Equal(digestA.GetProperty("combined").GetString(), digestB.GetProperty("combined").GetString());
        var binding = digestA.GetProperty("kinds").EnumerateArray().Single(k => k.GetProperty("kind").GetString() == "binding");
        Assert.Equal(1, binding.GetProperty("count").GetInt64());
        Assert.Matches("^[0-9a-f]{16}$", binding.GetProperty("hash").GetString()!);
        var fromB = binding.GetProperty("peers")[0];
        Assert.Equal("b", fromB.GetProperty("peer").GetString());
        Assert.True(fromB.GetProperty("matches").GetBoolean());
        Assert.Equal(binding.GetProperty("hash").GetString(), fromB.GetProperty("hash").GetString());

        var history = a.GetProperty("history").EnumerateArray().ToList();
        // Detection is lenient here (1 s) so a loaded test machine does not flap; the first peer-up is the start.
        var peerUp = history.First(e => e.GetProperty("kind").GetString() == "peer-up");
        Assert.Equal("b", peerUp.GetProperty("subject").GetString());
        Assert.All(history, e => Assert.NotEmpty(e.GetProperty("reason").GetString()!));
        Assert.Contains(history, e => e.GetProperty("kind").GetString() == "quorum-gained"); // a node alone has it from the start here
        Assert.Equal(DateTimeKind.Utc, DateTime.Parse(peerUp.GetProperty("at").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal).Kind);

        var text = await Cli("cluster", "status", "--config", configA, "--data-dir", dataA);
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("node a (cluster)", text.Stdout);
        Assert.Contains("quorum: yes, 2 of 2 voters seen, 2 needed", text.Stdout);
        Assert.Matches(@"\n  b\s+node\s+up\s+100\s+\d+ ms ago\s+0:up", text.Stdout);
        Assert.Contains("converged yes", text.Stdout);
        Assert.Matches(@"\n  binding\s+1\s+[0-9a-f]{8}\s+same", text.Stdout);
        Assert.Contains("peer-up b: first heartbeat", text.Stdout);

        var metrics = ParseMetrics((await AdminClient.GetAsync(AdminServer.SocketPath(dataA), "/metrics", TimeSpan.FromSeconds(5))).Body!);
        Assert.Equal(1, metrics["tandem_cluster_has_quorum"]);
        Assert.Equal(1, metrics["tandem_cluster_peers_up"]);
        Assert.Equal(0, metrics["tandem_cluster_addresses_held"]);
        Assert.Equal(1, metrics["tandem_registrar_bindings"]);
        Assert.Equal(0, metrics["tandem_replication_lag_records{peer=\"b\"}"]);
        Assert.Equal(1, metrics["tandem_replication_peer_connected{peer=\"b\"}"]);
        Assert.Equal(1, metrics["tandem_replication_records{kind=\"binding\"}"]);
        Assert.True(metrics.ContainsKey("tandem_cluster_failovers_total"));
    }

    [Fact]
    public async Task The_witness_serves_its_view_too()
    {
        var ports = FreeUdpPorts(3);
        var config = _dir.Combine("witness.yaml");
        await File.WriteAllTextAsync(config, $$"""
            cluster:
              node-id: w
              secret: 0123456789abcdef-status-test
              peers:
                - { id: a, addresses: [127.0.0.1:{{ports[0]}}] }
                - { id: b, addresses: [127.0.0.1:{{ports[1]}}] }
              witness: { id: w, address: 127.0.0.1:{{ports[2]}} }
            """);
        var data = _dir.Combine("witness-data");
        await Start("witness", data, "--config", config);

        var status = await Status(data);
        Assert.Equal("witness", status.GetProperty("mode").GetString());
        Assert.Equal("w", status.GetProperty("node").GetString());
        var cluster = status.GetProperty("cluster");
        Assert.False(cluster.GetProperty("quorum").GetProperty("has").GetBoolean());
        Assert.Equal(3, cluster.GetProperty("quorum").GetProperty("voters").GetInt32());
        Assert.Equal(["a", "b"], cluster.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.All(cluster.GetProperty("members").EnumerateArray(), m => Assert.Equal("unknown", m.GetProperty("state").GetString()));

        var text = await Cli("cluster", "status", "--config", config, "--data-dir", data);
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("node w (witness)", text.Stdout);
        Assert.Contains("quorum: NO, 1 of 3 voters seen, 2 needed", text.Stdout);
        var metrics = ParseMetrics((await AdminClient.GetAsync(AdminServer.SocketPath(data), "/metrics", TimeSpan.FromSeconds(5))).Body!);
        Assert.Equal(0, metrics["tandem_cluster_has_quorum"]);
        Assert.Equal(0, metrics["tandem_cluster_member_up{member=\"a\",role=\"node\"}"]);
    }

    /// <summary>Every sample line of a Prometheus text exposition, by <c>name{labels}</c>; fails on a line that does not parse.</summary>
    private static Dictionary<string, double> ParseMetrics(string text)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        var typed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.Contains(parts[3], new[] { "counter", "gauge" });
                Assert.True(typed.Add(parts[2]), $"TYPE of {parts[2]} twice");
                continue;
            }

            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                continue;
            }

            var match = SampleLine().Match(line);
            Assert.True(match.Success, $"not a sample line: '{line}'");
            Assert.Contains(match.Groups["name"].Value, typed);
            Assert.True(samples.TryAdd(match.Groups["series"].Value, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture)), $"duplicate series {line}");
        }

        return samples;
    }

    [GeneratedRegex("""^(?<series>(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})?) (?<value>-?[0-9.eE+-]+|NaN)$""")]
    private static partial Regex SampleLine();

    private static async Task RegisterAsync(IPEndPoint server)
    {
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var local = (IPEndPoint)udp.Client.LocalEndPoint!;
        var message = $"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{Guid.NewGuid():N}\r\nMax-Forwards: 70\r\n" +
            $"From: <sip:alice@example.com>;tag=1928\r\nTo: <sip:alice@example.com>\r\nCall-ID: {Guid.NewGuid():N}@test\r\nCSeq: 1 REGISTER\r\n" +
            $"Contact: <sip:alice@{local}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n";
        var bytes = Encoding.ASCII.GetBytes(message);
        using var timeout = new CancellationTokenSource(Bounded);
        while (true)
        {
            await udp.SendAsync(bytes, server, timeout.Token);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
            wait.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                var answer = Encoding.ASCII.GetString((await udp.ReceiveAsync(wait.Token)).Buffer);
                if (answer.StartsWith("SIP/2.0 200", StringComparison.Ordinal))
                {
                    return;
                }

                Assert.StartsWith("SIP/2.0 1", answer); // provisional: keep waiting
            }
            catch (OperationCanceledException) when (!timeout.IsCancellationRequested)
            {
                // Lost or not answered yet: retransmit.
            }
        }
    }

    private static int FreeTcpPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static int[] FreeUdpPorts(int count)
    {
        var sockets = Enumerable.Range(0, count).Select(_ =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return s;
        }).ToList();
        var ports = sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToArray();
        sockets.ForEach(s => s.Dispose());
        return ports;
    }
}
