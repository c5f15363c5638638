using Tandem.Cluster.Membership;
using Tandem.Server.Config;

namespace Tandem.Server.Tests.Config;

public sealed class ClusterConfigTests : IDisposable
{
    private static readonly Dictionary<string, string> NoEnvironment = [];

    private const string Valid = """
        cluster:
          node-id: a
          secret: "0123456789abcdef-cluster"
          listen: [198.18.0.1:7946, 198.18.1.1:7946]
          peers:
            - { id: b, addresses: [198.18.0.2:7946, 198.18.1.2:7946], replication: 198.18.1.2:7947 }
          witness: { id: w, address: 198.18.2.3:7946 }
          heartbeat-interval-ms: 20
          heartbeat-misses: 5
          service-addresses:
            - { address: 198.18.0.100/24, interface: br-svc, preference: [a, b] }
            - { address: 198.18.0.101/24, interface: br-svc, preference: [b, a] }
          failback: { policy: sticky }
          fencing-command: /usr/local/bin/fence-peer
          fencing-timeout-ms: 2500
          replication: { mode: async, listen: 198.18.1.1:7947, sync-timeout-ms: 250 }
        """;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private ConfigResult LoadYaml(string yaml)
    {
        var path = _dir.Combine("tandem.yaml");
        File.WriteAllText(path, yaml);
        return ConfigLoader.Load(path, NoEnvironment);
    }

    private static string Errors(ConfigResult result) => string.Join("\n", result.Errors.Select(e => e.ToString()));

    [Fact]
    public void Absent_section_is_a_standalone_node()
    {
        var result = ConfigLoader.Load(null, NoEnvironment);

        Assert.False(result.Options!.Cluster.Enabled);
        Assert.Contains(result.Describe(), l => l.StartsWith("cluster.node-id", StringComparison.Ordinal) && l.Contains("(standalone)", StringComparison.Ordinal));
    }

    [Fact]
    public void A_full_section_is_read_and_maps_to_membership_options()
    {
        var result = LoadYaml(Valid);

        Assert.Empty(result.Errors);
        var c = result.Options!.Cluster;
        Assert.Equal("a", c.NodeId);
        Assert.Equal(["198.18.0.1:7946", "198.18.1.1:7946"], c.Listen.Select(e => e.ToString()));
        Assert.Equal("b (198.18.0.2:7946, 198.18.1.2:7946; replication 198.18.1.2:7947)", Assert.Single(c.Peers).ToString());
        Assert.Equal("198.18.1.1:7947", c.ReplicationListen!.ToString());
        Assert.Equal(250, c.ReplicationSyncTimeoutMs);
        Assert.True(c.ReplicationEnabled);
        Assert.Equal("w (198.18.2.3:7946)", c.Witness!.ToString());
        Assert.Equal(FailbackPolicy.Sticky, c.FailbackPolicy);
        Assert.Equal(ReplicationMode.Async, c.ReplicationMode);
        Assert.Equal("/usr/local/bin/fence-peer", c.FencingCommand);

        var m = c.ToMembershipOptions();
        m.Validate();
        Assert.Equal(new FencingOptions("/usr/local/bin/fence-peer", TimeSpan.FromMilliseconds(2500)), m.Fencing);
        Assert.Equal(TimeSpan.FromMilliseconds(100), m.DetectionTime);
        Assert.Equal(3, m.VoterCount);
        Assert.Equal("198.18.0.101/24", m.ServiceAddresses[1].Address);
        Assert.Equal("br-svc", m.ServiceAddresses[1].Interface);
        Assert.Equal(["b", "a"], m.ServiceAddresses[1].Preference.Select(p => p.Value));
        Assert.Contains(result.Describe(), l => l.Contains("198.18.0.100/24 on br-svc (a > b)", StringComparison.Ordinal));
    }

    [Fact]
    public void Cross_key_errors_name_the_line_and_key()
    {
        var result = LoadYaml("""
            cluster:
              node-id: a
              secret: "0123456789abcdef-cluster"
              listen: [198.18.0.1:7946]
              peers:
                - { id: b, addresses: [198.18.0.2:7946] }
                - { id: a, addresses: [198.18.0.3:7946] }
                - { id: b, addresses: [198.18.0.4:7946] }
              witness: { id: b, address: 198.18.2.3:7946 }
              service-addresses:
                - { address: 198.18.0.100/24, interface: br-svc, preference: [a, c] }
                - { address: 198.18.0.100/24, interface: br-svc, preference: [b] }
            """);

        var errors = Errors(result);
        Assert.Contains("tandem.yaml:7: cluster.peers[1].id: 'a' is this node (cluster.node-id); peers are the other nodes", errors);
        Assert.Contains("tandem.yaml:8: cluster.peers[2].id: 'b' is listed twice", errors);
        Assert.Contains("tandem.yaml:9: cluster.witness.id: 'b' is also a node id", errors);
        Assert.Contains("tandem.yaml:11: cluster.service-addresses[0].preference: unknown node 'c' (nodes: a, b, a, b)", errors);
        Assert.Contains("tandem.yaml:12: cluster.service-addresses[1].address: 198.18.0.100 is listed twice", errors);
    }

    [Theory]
    [InlineData("node-id: \"a b\"", "tandem.yaml:6: cluster.node-id: 'a b' is not a node id")]
    [InlineData("secret: short", "cluster.secret: must be at least 16 characters (got 5)")]
    [InlineData("listen: [my-host:7946]", "cluster.listen: 'my-host:7946' is not an IP address with a port")]
    [InlineData("heartbeat-interval-ms: 0", "cluster.heartbeat-interval-ms: must be between 1 and 10000 (got 0)")]
    [InlineData("heartbeat-misses: 1", "cluster.heartbeat-misses: must be between 2 and 100 (got 1)")]
    [InlineData("failback: { policy: eager }", "cluster.failback.policy: must be one of preempt, sticky (got 'eager')")]
    [InlineData("failback: { delay-m: 5 }", "cluster.failback.delay-m: unknown key (did you mean 'delay-ms'?)")]
    [InlineData("replication: { mode: maybe }", "cluster.replication.mode: must be one of sync, async (got 'maybe')")]
    [InlineData("replication: { sync-timeout-ms: 5 }", "cluster.replication.sync-timeout-ms: must be a whole number of milliseconds, 10..60000 (got '5')")]
    [InlineData("service-addresses: [{ address: 198.18.0.100, interface: br-svc, preference: [a] }]", "cluster.service-addresses[0].address: '198.18.0.100' is not address/prefix")]
    [InlineData("service-addresses: [{ address: 198.18.0.100/24, preference: [a] }]", "cluster.service-addresses[0].interface: is required")]
    [InlineData("service-addresses: [{ address: 198.18.0.100/24, interface: br-svc, preference: [a, a] }]", "cluster.service-addresses[0].preference: 'a' is listed twice")]
    [InlineData("peers: [{ id: b }]", "cluster.peers[0].addresses: is required")]
    [InlineData("replication: { listen: 127.0.0.1:7947 }", "cluster.peers[0].replication: peer 'b' needs its replication endpoint (address:port) because cluster.replication.listen is set")]
    [InlineData("peers: [{ id: b, addresses: [198.18.0.2:7946], replication: nowhere }]", "cluster.peers[0].replication: 'nowhere' is not an IP address with a port")]
    [InlineData("hearbeat-misses: 3", "cluster.hearbeat-misses: unknown key (did you mean 'heartbeat-misses'?)")]
    [InlineData("fencing-timeout-ms: 50", "tandem.yaml:7: cluster.fencing-timeout-ms: must be between 100 and 600000 (got 50)")]
    public void Bad_values_are_reported(string line, string expected)
    {
        string[] lines =
        [
            "cluster:",
            "  node-id: a",
            "  secret: \"0123456789abcdef-cluster\"",
            "  listen: [198.18.0.1:7946]",
            "  peers: [{ id: b, addresses: [198.18.0.2:7946] }]",
            "  allow-two-node-without-witness: true",
        ];
        var key = "  " + line[..(line.IndexOf(':', StringComparison.Ordinal) + 1)];
        var yaml = string.Join("\n", lines.Where(l => !l.StartsWith(key, StringComparison.Ordinal)).Append("  " + line)) + "\n";

        Assert.Contains(expected, Errors(LoadYaml(yaml)));
    }

    [Theory]
    [InlineData("listen: 127.0.0.1", "tandem.yaml:2: admin.listen: must be an IP address and a port 1-65535, e.g. 127.0.0.1:9060 or [::1]:9060 (got '127.0.0.1')")]
    [InlineData("listen: localhost:9060", "admin.listen: must be an IP address and a port 1-65535")]
    [InlineData("listen: [127.0.0.1:9060]", "tandem.yaml:2: admin.listen: must be one address:port, not a list")]
    [InlineData("socket: /run/tandem.sock", "tandem.yaml:2: admin.socket: unknown key")]
    public void Bad_admin_values_are_reported(string line, string expected)
    {
        Assert.Contains(expected, Errors(LoadYaml("admin:\n  " + line + "\n")));
    }

    [Fact]
    public void Admin_listen_is_read_from_the_file_and_the_environment()
    {
        Assert.Equal("[::1]:9061", LoadYaml("admin:\n  listen: \"[::1]:9061\"\n").Options!.Admin.Listen!.ToString());
        var fromEnvironment = ConfigLoader.Load(null, new Dictionary<string, string> { ["TANDEM_ADMIN_LISTEN"] = "127.0.0.1:9060" });
        Assert.Equal("127.0.0.1:9060", fromEnvironment.Options!.Admin.Listen!.ToString());
        Assert.Null(ConfigLoader.Load(null, NoEnvironment).Options!.Admin.Listen);
    }

    [Fact]
    public void Two_nodes_without_witness_must_be_allowed_explicitly()
    {
        var yaml = Valid.Replace("  witness: { id: w, address: 198.18.2.3:7946 }\n", "", StringComparison.Ordinal);

        var refused = LoadYaml(yaml);
        Assert.Contains("cluster.witness: a two-node cluster needs a witness for split-brain safety", Errors(refused));

        var allowed = LoadYaml(yaml + "\n  allow-two-node-without-witness: true\n");
        Assert.Empty(allowed.Errors);
        Assert.True(allowed.Options!.Cluster.ToMembershipOptions().AllowTwoNodeWithoutWitness);
    }

    [Fact]
    public void Cluster_keys_without_node_id_are_an_error()
    {
        var result = LoadYaml("cluster:\n  heartbeat-misses: 3\n");

        Assert.EndsWith("tandem.yaml:2: cluster.node-id: is required when the cluster section is used (cluster.heartbeat-misses is set); without it this is a standalone node",
            Assert.Single(result.Errors).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_secret_is_required_once_and_may_come_from_a_file()
    {
        var without = LoadYaml(Valid.Replace("  secret: \"0123456789abcdef-cluster\"\n", "", StringComparison.Ordinal));
        Assert.Contains("cluster.secret: is required", Errors(without));

        var secretFile = _dir.Combine("cluster.key");
        File.WriteAllText(secretFile, "  from-a-file-0123456789\n");
        var fromFile = LoadYaml(Valid.Replace("  secret: \"0123456789abcdef-cluster\"\n", $"  secret-file: {secretFile}\n", StringComparison.Ordinal));
        Assert.Empty(fromFile.Errors);
        Assert.Equal("from-a-file-0123456789"u8.ToArray(), fromFile.Options!.Cluster.ReadSecret());

        var both = LoadYaml(Valid + $"\n  secret-file: {secretFile}\n");
        Assert.Contains("set either cluster.secret or cluster.secret-file, not both", Errors(both));

        var missing = LoadYaml(Valid.Replace("  secret: \"0123456789abcdef-cluster\"\n", $"  secret-file: {secretFile}.missing\n", StringComparison.Ordinal));
        Assert.Contains("cluster.secret-file: cannot read", Errors(missing));
    }

    [Fact]
    public void The_witness_reads_the_same_kind_of_file_with_its_own_id()
    {
        var result = LoadYaml("""
            cluster:
              node-id: w
              secret: "0123456789abcdef-cluster"
              peers:
                - { id: a, addresses: [198.18.0.1:7946, 198.18.1.1:7946] }
                - { id: b, addresses: [198.18.0.2:7946, 198.18.1.2:7946] }
              witness: { id: w, address: 198.18.2.3:7946 }
            """);

        Assert.Empty(result.Errors);
        Assert.True(result.Options!.Cluster.IsWitness);
        var m = result.Options.Cluster.ToMembershipOptions();
        Assert.True(m.IsWitness);
        Assert.Equal("198.18.2.3:7946", Assert.Single(m.Listen).ToString());
    }

    [Fact]
    public void Structured_keys_can_come_from_the_environment_in_flow_style()
    {
        var result = ConfigLoader.Load(null, new Dictionary<string, string>
        {
            ["TANDEM_CLUSTER_NODE_ID"] = "a",
            ["TANDEM_CLUSTER_SECRET"] = "0123456789abcdef-cluster",
            ["TANDEM_CLUSTER_LISTEN"] = "127.0.0.1:7946",
            ["TANDEM_CLUSTER_PEERS"] = "[{id: b, addresses: [127.0.0.2:7946]}, {id: c, addresses: [127.0.0.3]}]",
        });

        Assert.Empty(result.Errors);
        Assert.Equal(["b", "c"], result.Options!.Cluster.Peers.Select(p => p.Id));
        Assert.Equal(7946, result.Options.Cluster.Peers[1].Addresses[0].Port);
    }
}
