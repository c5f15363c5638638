using System.Net;
using Tandem.Server.Routing;

namespace Tandem.Server.Tests.Routing;

public sealed class RoutingTableTests : IDisposable
{
    private const string Before = """
        routing:
          trusted-peers: [198.18.0.0/15]
          ring-groups:
            sales@example.com: { members: [alice, bob] }
        """;

    private const string After = """
        routing:
          trusted-peers: ["2001:db8::/32"]
          ring-groups:
            sales@example.com: { members: [carol] }
        """;

    private static readonly Dictionary<string, string> NoEnvironment = [];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CallContext CallTo(string user) => new("carol", "example.com", false, $"sip:{user}@example.com", user, "example.com", true);

    private static string[] Aors(RoutePlan plan) => [.. plan.Stages.SelectMany(s => s.Targets).Cast<UserTarget>().Select(t => t.Aor)];

    private RoutingTable Table(out string path)
    {
        var options = RoutingTestConfig.Options(_dir, Before);
        path = _dir.Combine("tandem.yaml");
        return new RoutingTable(options, (_, _) => false);
    }

    [Fact]
    public async Task Reload_swaps_planner_and_peers_and_leaves_started_calls_alone()
    {
        var table = Table(out var path);
        var inFlight = table.Planner.Plan(CallTo("sales"));
        Assert.True(table.TrustedPeers.Contains(IPAddress.Parse("198.18.1.1")));

        File.WriteAllText(path, After);
        var result = await table.ReloadAsync(path, NoEnvironment);

        Assert.True(result.Succeeded);
        Assert.Empty(result.Errors);
        Assert.Same(table.Current, result.Current);
        Assert.Equal(["sip:carol@example.com"], Aors(table.Planner.Plan(CallTo("sales"))));
        Assert.Equal(["sip:alice@example.com", "sip:bob@example.com"], Aors(inFlight)); // the started call's plan is untouched
        Assert.False(table.TrustedPeers.Contains(IPAddress.Parse("198.18.1.1")));
        Assert.True(table.TrustedPeers.Contains(IPAddress.Parse("2001:db8::7")));
    }

    [Fact]
    public async Task A_bad_file_keeps_the_old_tables_and_reports_file_key_and_reason()
    {
        var table = Table(out var path);
        var before = table.Current;

        File.WriteAllText(path, "routing:\n  ring-groups:\n    sales@example.com: { members: [] }\n");
        var result = await table.ReloadAsync(path, NoEnvironment);

        Assert.False(result.Succeeded);
        Assert.Same(before, table.Current);
        Assert.Same(before, result.Current);
        Assert.Equal($"{path}:3: routing.ring-groups.sales@example.com.members: must list at least one member", Assert.Single(result.Errors).ToString());
        Assert.Equal(["sip:alice@example.com", "sip:bob@example.com"], Aors(table.Planner.Plan(CallTo("sales"))));
    }

    [Fact]
    public async Task A_missing_file_keeps_the_old_tables()
    {
        var table = Table(out _);
        var before = table.Current;

        var result = await table.ReloadAsync(_dir.Combine("gone.yaml"), NoEnvironment);

        Assert.False(result.Succeeded);
        Assert.Contains("cannot read the file", Assert.Single(result.Errors).Reason);
        Assert.Same(before, table.Current);
    }
}
