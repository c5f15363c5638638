using Tandem.Server.Config;
using Tandem.Server.Routing;

namespace Tandem.Server.Tests.Routing;

public sealed class RoutingConfigTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Routing_section_is_bound()
    {
        var r = RoutingTestConfig.Options(_dir, RoutingTestConfig.Pbx).Routing;

        Assert.Equal(["198.18.0.0/15"], r.TrustedPeers.Select(b => b.ToString()));
        var alice = r.Users.Single(u => u.User == "alice");
        Assert.Equal(("example.com", 15), (alice.Domain, alice.NoAnswerTimeoutS));
        Assert.Equal((DestinationKind.Local, "200", "example.com"), (alice.ForwardBusy!.Kind, alice.ForwardBusy.User, alice.ForwardBusy.Domain));
        Assert.Equal((DestinationKind.Number, "+4917012345"), (alice.ForwardNoAnswer!.Kind, alice.ForwardNoAnswer.User));
        Assert.Null(alice.ForwardAlways);
        var support = r.RingGroups.Single(g => g.User == "support");
        Assert.Equal((RingStrategy.Sequential, 15), (support.Strategy, support.RingTimeoutS));
        Assert.Equal(["carol", "dave"], support.Members.Select(m => m.User));
        Assert.Equal([("carrier-a", 1500), ("carrier-b", Gateway.DefaultResponseTimeoutMs)], r.Gateways.Select(g => (g.Name, g.ResponseTimeoutMs)));
        var national = r.OutboundRoutes[1];
        Assert.Equal(("national", "_0ZX.", 1, "+49", false), (national.Name, national.Pattern.Text, national.Strip, national.Prepend, national.AllowTrustedPeers));
        Assert.True(r.OutboundRoutes[0].AllowTrustedPeers);
        Assert.Equal(["emergency", "national", "international", "shadowed"], r.OutboundRoutes.Select(x => x.Name));
    }

    [Fact]
    public void Effective_routing_is_described()
    {
        var lines = RoutingTestConfig.Load(_dir, RoutingTestConfig.Pbx).Describe().ToList();

        Assert.Contains(lines, l => l.StartsWith("routing.gateways", StringComparison.Ordinal) && l.Contains("carrier-a (sip:gw1.example.net;transport=udp, 1500 ms)"));
        Assert.Contains(lines, l => l.StartsWith("routing.outbound-routes", StringComparison.Ordinal) && l.Contains("national: _0ZX. → carrier-a (strip 1, prepend \"+49\")"));
    }

    [Theory]
    [InlineData("routing:\n  trusted-peers: [10.1.0.0/8]\n", "routing.trusted-peers", 2, "host bits set (did you mean 10.0.0.0/8?)")]
    [InlineData("routing:\n  trusted-peers: [gw.example.net]\n", "routing.trusted-peers", 2, "host names are not accepted")]
    [InlineData("routing:\n  users: 5\n", "routing.users", 2, "must be a mapping of user@domain")]
    [InlineData("routing:\n  users:\n    alice: { forward-busy: bob }\n", "routing.users.alice", 3, "must be user@domain")]
    [InlineData("routing:\n  users:\n    alice@example.com:\n      forward-busy: alice\n", "routing.users.alice@example.com.forward-busy", 4, "forwards to itself")]
    [InlineData("routing:\n  users:\n    alice@example.com:\n      forward-bussy: bob\n", "routing.users.alice@example.com.forward-bussy", 4, "unknown key (did you mean 'forward-busy'?)")]
    [InlineData("routing:\n  users:\n    alice@example.com: { forward-no-answer: bob, no-answer-timeout-s: 0 }\n", "routing.users.alice@example.com.no-answer-timeout-s", 3, "must be between 1 and 3600 (got 0)")]
    [InlineData("routing:\n  users:\n    alice@example.com: {}\n", "routing.users.alice@example.com", 3, "sets no forwarding")]
    [InlineData("routing:\n  users:\n    alice@example.com: { forward-always: \"ftp:x\" }\n", "routing.users.alice@example.com.forward-always", 3, "unsupported scheme")]
    [InlineData("routing:\n  users:\n    alice@example.com: { forward-busy: \"tel:+4917012345\" }\n", "routing.users.alice@example.com.forward-busy", 3, "no outbound route matches the number '+4917012345'")]
    [InlineData("sip:\n  domains: [example.com]\nrouting:\n  users:\n    a@other.com: { forward-busy: \"sip:b@other.com\" }\n", "routing.users.a@other.com", 5, "domain 'other.com' is not in sip.domains")]
    [InlineData("sip:\n  domains: [example.com]\nrouting:\n  users:\n    a@example.com: { forward-busy: b@other.com }\n", "routing.users.a@example.com.forward-busy", 5, "not in a domain this server serves")]
    [InlineData("routing:\n  ring-groups:\n    sales@example.com: { members: [] }\n", "routing.ring-groups.sales@example.com.members", 3, "at least one member")]
    [InlineData("routing:\n  ring-groups:\n    sales@example.com: { strategy: sequential }\n", "routing.ring-groups.sales@example.com.members", 3, "is required")]
    [InlineData("routing:\n  ring-groups:\n    sales@example.com: { strategy: random, members: [a] }\n", "routing.ring-groups.sales@example.com.strategy", 3, "must be one of simultaneous, sequential (got 'random')")]
    [InlineData("routing:\n  ring-groups:\n    sales@example.com: { members: [a, \"tel:+491\"] }\n", "routing.ring-groups.sales@example.com.members", 3, "tel: members are not supported")]
    [InlineData("routing:\n  ring-groups:\n    sales@example.com: { members: [a, a@example.com] }\n", "routing.ring-groups.sales@example.com.members", 3, "listed twice")]
    [InlineData("routing:\n  ring-groups:\n    sales@example.com: { members: [a, sales] }\n", "routing.ring-groups.sales@example.com.members", 3, "is the ring group itself")]
    [InlineData("routing:\n  ring-groups:\n    a@example.com: { members: [x] }\n    b@example.com:\n      members: [a, y]\n", "routing.ring-groups.b@example.com.members", 5, "member 'a' is itself a ring group")]
    [InlineData("routing:\n  gateways:\n    gw: { url: \"sip:gw\" }\n", "routing.gateways.gw.url", 3, "unknown key (did you mean 'uri'?)")]
    [InlineData("routing:\n  gateways:\n    gw: { response-timeout-ms: 500 }\n", "routing.gateways.gw.uri", 3, "is required")]
    [InlineData("routing:\n  gateways:\n    gw: { uri: \"sip:trunk@gw.example.net\" }\n", "routing.gateways.gw.uri", 3, "must not have a user part")]
    [InlineData("routing:\n  gateways:\n    gw: { uri: gw.example.net }\n", "routing.gateways.gw.uri", 3, "is not a sip: or sips: URI")]
    [InlineData("routing:\n  gateways:\n    gw: { uri: \"sip:gw\", response-timeout-ms: 5 }\n", "routing.gateways.gw.response-timeout-ms", 3, "must be between 100 and 60000 (got 5)")]
    [InlineData("routing:\n  gateways:\n    \"gw a\": { uri: \"sip:gw\" }\n", "routing.gateways.gw a", 3, "not a valid gateway name")]
    [InlineData("routing:\n  outbound-routes: { a: 1 }\n", "routing.outbound-routes", 2, "must be a list of routes")]
    [InlineData("routing:\n  gateways: { gw: { uri: \"sip:gw\" } }\n  outbound-routes:\n    - { name: r, pattern: \"_X.X\", gateways: [gw] }\n", "routing.outbound-routes[0].pattern", 4, "'.' may only end a pattern")]
    [InlineData("routing:\n  gateways: { gw: { uri: \"sip:gw\" } }\n  outbound-routes:\n    - { name: r, gateways: [gw] }\n", "routing.outbound-routes[0].pattern", 4, "is required")]
    [InlineData("routing:\n  gateways: { gw: { uri: \"sip:gw\" } }\n  outbound-routes:\n    - { name: r, pattern: \"_0X\", gateways: [gw], strip: 3 }\n", "routing.outbound-routes[0].strip", 4, "matches numbers as short as 2")]
    [InlineData("routing:\n  gateways: { gw: { uri: \"sip:gw\" } }\n  outbound-routes:\n    - { name: r, pattern: \"_X.\", gateways: [gw], prepend: \"a b\" }\n", "routing.outbound-routes[0].prepend", 4, "may only contain")]
    [InlineData("routing:\n  gateways: { gw: { uri: \"sip:gw\" } }\n  outbound-routes:\n    - { name: r, pattern: \"_X.\", gateways: [gw, gw] }\n", "routing.outbound-routes[0].gateways", 4, "'gw' is listed twice")]
    [InlineData("routing:\n  gateways: { gw: { uri: \"sip:gw\" } }\n  outbound-routes:\n    - { name: r, pattern: \"_X.\", gateways: [gw] }\n    - { name: r, pattern: \"_+X.\", gateways: [gw] }\n", "routing.outbound-routes[1].name", 5, "route name 'r' is used twice")]
    [InlineData("routing:\n  gateways: { gw: { uri: \"sip:gw\" } }\n  outbound-routes:\n    - { name: r, pattern: \"_X.\", gateways: [gw], allow-trusted-peers: maybe }\n", "routing.outbound-routes[0].allow-trusted-peers", 4, "must be true or false (got 'maybe')")]
    [InlineData("routing:\n  gateways:\n    gw: { uri: \"sip:gw\" }\n  outbound-routes:\n    - name: r\n      pattern: \"_X.\"\n      gateways: [gw, carrier-c]\n", "routing.outbound-routes[0].gateways", 7, "unknown gateway 'carrier-c' (defined: gw)")]
    [InlineData("routing:\n  routes: []\n", "routing.routes", 2, "unknown key")]
    public void Routing_errors_name_file_line_key_and_reason(string yaml, string key, int line, string reason)
    {
        var result = RoutingTestConfig.Load(_dir, yaml);

        var error = Assert.Single(result.Errors);
        Assert.Null(result.Options);
        Assert.Equal(result.File, error.Origin.Source);
        Assert.Equal((key, line), (error.KeyPath, error.Origin.Line));
        Assert.Contains(reason, error.Reason);
        Assert.StartsWith($"{result.File}:{line}: {key}: ", error.ToString());
    }

    [Fact]
    public void Forward_always_loops_are_errors_at_each_member()
    {
        var result = RoutingTestConfig.Load(_dir, """
            routing:
              users:
                a@example.com: { forward-always: b }
                b@example.com: { forward-always: "sip:a@example.com" }
                c@example.com: { forward-always: a, forward-busy: d }
            """);

        Assert.Equal(
            [
                $"{result.File}:3: routing.users.a@example.com.forward-always: forwarding loop: a@example.com → b@example.com → a@example.com",
                $"{result.File}:4: routing.users.b@example.com.forward-always: forwarding loop: b@example.com → a@example.com → b@example.com",
            ],
            result.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Forward_chains_without_a_loop_are_fine()
    {
        var result = RoutingTestConfig.Load(_dir, """
            routing:
              users:
                a@example.com: { forward-always: b }
                b@example.com: { forward-no-answer: a }
            """);

        Assert.Empty(result.Errors);
    }

    [Fact]
    public void Structured_keys_take_yaml_flow_from_the_environment()
    {
        var result = ConfigLoader.Load(null, new Dictionary<string, string>
        {
            ["TANDEM_ROUTING_GATEWAYS"] = "{gw: {uri: \"sip:gw.example.net\"}}",
            ["TANDEM_ROUTING_OUTBOUND_ROUTES"] = "[{name: all, pattern: \"_X.\", gateways: [gw]}]",
            ["TANDEM_ROUTING_TRUSTED_PEERS"] = "192.0.2.0/24, 2001:db8::/32",
        });

        Assert.Empty(result.Errors);
        Assert.Equal("sip:gw.example.net", Assert.Single(result.Options!.Routing.Gateways).Uri);
        Assert.Equal("all", Assert.Single(result.Options.Routing.OutboundRoutes).Name);
        Assert.Equal(2, result.Options.Routing.TrustedPeers.Count);
        Assert.Equal("TANDEM_ROUTING_GATEWAYS", result.Origins["routing.gateways"].ToString());
    }

    [Fact]
    public void Environment_yaml_errors_name_the_variable()
    {
        var result = ConfigLoader.Load(null, new Dictionary<string, string>
        {
            ["TANDEM_ROUTING_OUTBOUND_ROUTES"] = "[{name: all, pattern: \"_X.\", gateways: [nope]}]",
        });

        Assert.Equal(
            "TANDEM_ROUTING_OUTBOUND_ROUTES: routing.outbound-routes[0].gateways: unknown gateway 'nope' (none are defined in routing.gateways)",
            Assert.Single(result.Errors).ToString());
    }

    [Fact]
    public void Several_routing_errors_are_reported_together()
    {
        var result = RoutingTestConfig.Load(_dir, """
            routing:
              gateways:
                gw: { uri: "sip:gw", response-timeout-ms: 1 }
              ring-groups:
                sales@example.com: { members: [], strategy: x }
            """);

        Assert.Equal(
            ["routing.gateways.gw.response-timeout-ms", "routing.ring-groups.sales@example.com.members", "routing.ring-groups.sales@example.com.strategy"],
            result.Errors.Select(e => e.KeyPath).Order(StringComparer.Ordinal));
    }
}
