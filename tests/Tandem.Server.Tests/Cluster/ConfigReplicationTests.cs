using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tandem.Cluster;
using Tandem.Host;
using Tandem.Server.Cluster;
using Tandem.Server.Config;
using Tandem.Server.Routing;
using Tandem.Server.Tests.Core;
using Tandem.Sip.Messages;
using Tandem.Storage;
using Tandem.Storage.Sqlite;
using Xunit.Abstractions;

namespace Tandem.Server.Tests.Cluster;

/// <summary>
/// Subscribers and the routing configuration replicated between two in-process servers on
/// loopback: accounts changed with the real `tandem user` command code on one node's data
/// directory, checked with digest-authenticated REGISTERs on the other node.
/// </summary>
public sealed class ConfigReplicationTests(ITestOutputHelper output) : IDisposable
{
    private const string Domain = ServerFixture.Domain;
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(10);

    private readonly TempDirectory _work = new();

    public void Dispose() => _work.Dispose();

    private static int FreeTcpPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static Func<TandemOptions, TandemOptions> Node(string self, int listen, string peer, int peerPort, Func<TandemOptions, TandemOptions>? more = null) => o =>
    {
        var options = o with
        {
            Cluster = new ClusterOptions
            {
                NodeId = self,
                Secret = "0123456789abcdef-cluster-test",
                Listen = [new IPEndPoint(IPAddress.Loopback, 0)],
                AllowTwoNodeWithoutWitness = true,
                Peers = [new ClusterPeer(peer, [new IPEndPoint(IPAddress.Loopback, 0)]) { Replication = new IPEndPoint(IPAddress.Loopback, peerPort) }],
                ReplicationListen = new IPEndPoint(IPAddress.Loopback, listen),
                ReplicationMode = ReplicationMode.Async,
            },
        };
        return more?.Invoke(options) ?? options;
    };

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bounded;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what}: not within {Bounded.TotalSeconds} s");
            await Task.Delay(10);
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bounded;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what}: not within {Bounded.TotalSeconds} s");
            await Task.Delay(10);
        }
    }

    private static Task WaitConnectedAsync(ServerFixture a, ServerFixture b) => WaitUntilAsync(
        () => a.Server.Replication!.Node.GetPeerStatus(new NodeId("b")).OutboundConnected && b.Server.Replication!.Node.GetPeerStatus(new NodeId("a")).OutboundConnected,
        "replication connected");

    /// <summary>`tandem ARGS --data-dir DIR`, in process, as an operator would run it.</summary>
    private async Task<int> TandemAsync(string dataDir, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await CliApp.RunAsync([.. args, "--data-dir", dataDir], new CliContext
        {
            Stdout = stdout,
            Stderr = stderr,
            CurrentDirectory = _work.Path,
        });
        Assert.True(code == 0, $"tandem {string.Join(' ', args)}: exit {code}: {stderr}");
        return code;
    }

    private static int _cseq;

    /// <summary>REGISTERs user@example.com with digest authentication; the final status (200, or 401 for a bad/unknown account).</summary>
    private static async Task<int> RegisterAsync(ServerFixture server, string user, string password)
    {
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)client.Client.LocalEndPoint!).Port;
        var callId = $"reg-{user}-{Guid.NewGuid():N}";
        string Request(uint cseq, string extra) =>
            $"REGISTER sip:{Domain} SIP/2.0\r\n" +
            $"Via: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK{Guid.NewGuid():N}\r\n" +
            "Max-Forwards: 70\r\n" +
            $"From: <sip:{user}@{Domain}>;tag=ft\r\n" +
            $"To: <sip:{user}@{Domain}>\r\n" +
            $"Call-ID: {callId}\r\n" +
            $"CSeq: {cseq} REGISTER\r\n" +
            $"Contact: <sip:{user}@127.0.0.1:5999>;expires=600\r\n" + // one binding per user, however often polled
            extra +
            "Content-Length: 0\r\n\r\n";

        var cseq = (uint)Interlocked.Increment(ref _cseq) * 2;
        var challenge = await ServerFixture.ExchangeAsync(client, server.Udp, Request(cseq, ""), timeoutMs: 5000);
        Assert.Equal(401, challenge!.StatusCode);
        var answer = ServerFixture.DigestAnswer(challenge.GetHeader(HeaderId.WwwAuthenticate)!, "REGISTER", $"sip:{Domain}", user, password);
        var final = await ServerFixture.ExchangeAsync(client, server.Udp, Request(cseq + 1, $"Authorization: {answer}\r\n"), timeoutMs: 5000);
        return final!.StatusCode;
    }

    [Fact]
    public async Task User_added_changed_and_removed_with_the_cli_on_a_is_enforced_by_b()
    {
        var portA = FreeTcpPort();
        var portB = FreeTcpPort();
        await using var b = await ServerFixture.StartAsync(Node("b", portB, "a", portA));
        await using var a = await ServerFixture.StartAsync(Node("a", portA, "b", portB));
        await WaitConnectedAsync(a, b);
        Assert.Equal(401, await RegisterAsync(b, "bob", "pw-1"));

        var clock = Stopwatch.StartNew();
        await TandemAsync(a.DataDir.Path, "user", "add", $"bob@{Domain}", "--password", "pw-1");
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "pw-1") == 200, "bob registers on b");
        output.WriteLine($"user add on a -> REGISTER accepted on b after {clock.ElapsedMilliseconds} ms");

        // On b's disk too, as hashes.
        var onB = await new SqliteSubscriberStore(SqliteDatabase.Open(b.DataDir.Path)).GetAsync("bob", Domain);
        Assert.NotNull(onB);
        Assert.Equal(32, onB.Ha1Md5.Length);

        clock.Restart();
        await TandemAsync(a.DataDir.Path, "user", "passwd", $"bob@{Domain}", "--password", "pw-2");
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "pw-2") == 200, "new password works on b");
        output.WriteLine($"user passwd on a -> new password accepted on b after {clock.ElapsedMilliseconds} ms");
        // b had bob cached from the REGISTER above (5 s lifetime): writing the account drops that copy.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"the old cached account was used for {clock.Elapsed}");
        Assert.Equal(401, await RegisterAsync(b, "bob", "pw-1"));

        await TandemAsync(a.DataDir.Path, "user", "disable", $"bob@{Domain}");
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "pw-2") != 200, "disabled on b");
        await TandemAsync(a.DataDir.Path, "user", "enable", $"bob@{Domain}");
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "pw-2") == 200, "enabled again on b");

        clock.Restart();
        await TandemAsync(a.DataDir.Path, "user", "remove", $"bob@{Domain}");
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "pw-2") == 401, "removed on b");
        output.WriteLine($"user remove on a -> refused on b after {clock.ElapsedMilliseconds} ms");
        Assert.Null(await new SqliteSubscriberStore(SqliteDatabase.Open(b.DataDir.Path)).GetAsync("bob", Domain));

        // A change on b flows the other way, and an import too.
        var import = _work.Combine("users.csv");
        await File.WriteAllTextAsync(import, $"carol@{Domain},pw-c\ndave@{Domain},pw-d\n");
        await TandemAsync(b.DataDir.Path, "user", "import", import);
        await WaitUntilAsync(async () => await RegisterAsync(a, "dave", "pw-d") == 200, "imported dave registers on a");
        await WaitUntilAsync(() => a.Server.Replication!.Node.IsConverged(new NodeId("b")) && b.Server.Replication!.Node.IsConverged(new NodeId("a")), "digests converge");
        Assert.Equal(
            (await new SqliteSubscriberStore(SqliteDatabase.Open(a.DataDir.Path)).ListAsync()).Select(s => $"{s.Username}@{s.Domain}:{s.Ha1Md5}"),
            (await new SqliteSubscriberStore(SqliteDatabase.Open(b.DataDir.Path)).ListAsync()).Select(s => $"{s.Username}@{s.Domain}:{s.Ha1Md5}"));
    }

    [Fact]
    public async Task Changes_made_while_a_node_is_down_reach_it_and_its_own_offline_edits_reach_the_others()
    {
        var portA = FreeTcpPort();
        var portB = FreeTcpPort();
        await using var b = await ServerFixture.StartAsync(Node("b", portB, "a", portA));
        await using var a = await ServerFixture.StartAsync(Node("a", portA, "b", portB));
        await WaitConnectedAsync(a, b);
        await TandemAsync(a.DataDir.Path, "user", "add", $"bob@{Domain}", "--password", "pw-1");
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "pw-1") == 200, "bob on b");

        await b.StopAsync();
        // While b is down: a changes bob and removes alice; b's operator adds erin on b's disk.
        await TandemAsync(a.DataDir.Path, "user", "passwd", $"bob@{Domain}", "--password", "pw-2");
        await TandemAsync(a.DataDir.Path, "user", "remove", $"alice@{Domain}");
        await TandemAsync(b.DataDir.Path, "user", "add", $"erin@{Domain}", "--password", "pw-e");

        var clock = Stopwatch.StartNew();
        await b.RestartAsync();
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "pw-2") == 200, "b catches up with bob's password");
        output.WriteLine($"restarted b enforces bob's new password {clock.ElapsedMilliseconds} ms after its start began");
        Assert.Equal(401, await RegisterAsync(b, "alice", ServerFixture.Password));
        await WaitUntilAsync(async () => await RegisterAsync(a, "erin", "pw-e") == 200, "erin, added on stopped b, registers on a");

        // Everything survives a restart of b alone.
        await a.StopAsync();
        await b.RestartAsync();
        Assert.Equal(200, await RegisterAsync(b, "bob", "pw-2"));
        Assert.Equal(200, await RegisterAsync(b, "erin", "pw-e"));
        Assert.Equal(401, await RegisterAsync(b, "alice", ServerFixture.Password));
    }

    [Fact]
    public async Task A_node_started_later_receives_the_accounts_and_concurrent_edits_agree_on_the_newest()
    {
        var portA = FreeTcpPort();
        var portB = FreeTcpPort();
        await using var a = await ServerFixture.StartAsync(Node("a", portA, "b", portB));
        await TandemAsync(a.DataDir.Path, "user", "add", $"bob@{Domain}", "--password", "pw-1");
        await TandemAsync(a.DataDir.Path, "user", "add", $"frank@{Domain}", "--password", "pw-f");
        await TandemAsync(a.DataDir.Path, "user", "remove", $"frank@{Domain}");
        await WaitUntilAsync(() => a.Server.Replication!.SubscriberChangesPublished >= 3, "a published its journal");

        await using var b = await ServerFixture.StartAsync(Node("b", portB, "a", portA));
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "pw-1") == 200, "b, started later, knows bob");
        Assert.Equal(401, await RegisterAsync(b, "frank", "pw-f"));

        // The same account changed on both nodes: the later change wins on both.
        await TandemAsync(b.DataDir.Path, "user", "passwd", $"bob@{Domain}", "--password", "from-b");
        await Task.Delay(5);
        await TandemAsync(a.DataDir.Path, "user", "passwd", $"bob@{Domain}", "--password", "from-a");
        await WaitUntilAsync(() => a.Server.Replication!.Node.IsConverged(new NodeId("b")) && b.Server.Replication!.Node.IsConverged(new NodeId("a")), "digests converge");
        await WaitUntilAsync(async () => await RegisterAsync(b, "bob", "from-a") == 200 && await RegisterAsync(a, "bob", "from-a") == 200, "newest password on both");
        Assert.Equal(401, await RegisterAsync(b, "bob", "from-b"));
    }

    private const string RoutingV1 = """
        routing:
          trusted-peers: [198.18.0.0/15]
          ring-groups:
            sales@example.com: { members: [alice, bob] }
        """;

    private const string RoutingV2 = """
        routing:
          trusted-peers: [198.19.0.0/16]
          ring-groups:
            sales@example.com: { members: [carol] }
        """;

    private const string RoutingV3 = """
        routing:
          ring-groups:
            sales@example.com: { members: [dave] }
        """;

    private static string[] SalesMembers(ServerFixture server) =>
        [.. server.Server.Routing!.Planner.Plan(new CallContext("x", Domain, false, $"sip:sales@{Domain}", "sales", Domain, true))
            .Stages.SelectMany(s => s.Targets).Cast<UserTarget>().Select(t => t.Aor)];

    private string WriteConfig(string name, string yaml, DateTime? modified = null)
    {
        var path = _work.Combine(name);
        File.WriteAllText(path, yaml);
        if (modified is { } at)
        {
            File.SetLastWriteTimeUtc(path, at);
        }

        return path;
    }

    private static Func<TandemOptions, TandemOptions> RoutingFrom(string path) => o => o with { Routing = ConfigLoader.Load(path, new Dictionary<string, string>()).Options!.Routing };

    [Fact]
    public async Task A_routing_reload_on_a_changes_routing_on_b_and_survives_b_restarting_alone()
    {
        var portA = FreeTcpPort();
        var portB = FreeTcpPort();
        var fileA = WriteConfig("a.yaml", RoutingV1, DateTime.UtcNow.AddHours(-2));
        var fileB = WriteConfig("b.yaml", RoutingV1, DateTime.UtcNow.AddHours(-2));
        await using var b = await ServerFixture.StartAsync(Node("b", portB, "a", portA, RoutingFrom(fileB)));
        await using var a = await ServerFixture.StartAsync(Node("a", portA, "b", portB, RoutingFrom(fileA)));
        await WaitConnectedAsync(a, b);
        Assert.Equal(["sip:alice@example.com", "sip:bob@example.com"], SalesMembers(b));

        File.WriteAllText(fileA, RoutingV2);
        var clock = Stopwatch.StartNew();
        var reload = await a.Server.Routing!.ReloadAsync(fileA, new Dictionary<string, string>());
        Assert.True(reload.Succeeded);
        await WaitUntilAsync(() => SalesMembers(b) is ["sip:carol@example.com"], "b routes with a's reloaded tables");
        output.WriteLine($"reload on a -> in force on b after {clock.ElapsedMilliseconds} ms");
        Assert.True(b.Server.Routing!.TrustedPeers.Contains(IPAddress.Parse("198.19.1.1")));
        Assert.False(b.Server.Routing.TrustedPeers.Contains(IPAddress.Parse("198.18.1.1")));
        Assert.Contains("on node a", b.Server.Routing.Current.Source, StringComparison.Ordinal);
        Assert.Equal(1, b.Server.Replication!.RoutingApplied);

        // b restarts alone with its old (older than the reload) file: the replicated version wins.
        await a.StopAsync();
        await b.RestartAsync();
        await WaitUntilAsync(() => SalesMembers(b) is ["sip:carol@example.com"], "b keeps a's reload after a restart");
    }

    [Fact]
    public async Task At_start_the_newer_of_the_file_and_the_last_reload_wins_and_an_invalid_document_is_never_applied()
    {
        var portA = FreeTcpPort();
        var portB = FreeTcpPort();
        var fileA = WriteConfig("a.yaml", RoutingV1, DateTime.UtcNow.AddHours(-2));
        var fileB = WriteConfig("b.yaml", RoutingV1, DateTime.UtcNow.AddHours(-2));
        await using var a = await ServerFixture.StartAsync(Node("a", portA, "b", portB, RoutingFrom(fileA)));
        await using var b = await ServerFixture.StartAsync(Node("b", portB, "a", portA, RoutingFrom(fileB)));
        await WaitConnectedAsync(a, b);

        File.WriteAllText(fileA, RoutingV2);
        Assert.True((await a.Server.Routing!.ReloadAsync(fileA, new Dictionary<string, string>())).Succeeded);
        await WaitUntilAsync(() => SalesMembers(b) is ["sip:carol@example.com"], "reload reached b");

        // b's file edited after that reload, then b restarted: its file is the newest truth, for a too.
        await b.StopAsync();
        File.WriteAllText(fileB, RoutingV3);
        b.Reconfigure(RoutingFrom(fileB));
        await b.RestartAsync();
        await WaitUntilAsync(() => SalesMembers(a) is ["sip:dave@example.com"] && SalesMembers(b) is ["sip:dave@example.com"], "b's newer file wins on both");

        // A document a node cannot use (a ring group outside its sip.domains) is refused there.
        await b.StopAsync();
        b.Reconfigure(o => o with { Sip = o.Sip with { Domains = ["other.example.org"] }, Routing = new RoutingOptions() });
        await b.RestartAsync();
        await WaitUntilAsync(() => b.Server.Replication!.RoutingRejected >= 1, "b refused the document");
        Assert.Empty(b.Server.Routing!.Current.Options.RingGroups);
        Assert.Equal("configuration", b.Server.Routing.Current.Source);
    }
}
