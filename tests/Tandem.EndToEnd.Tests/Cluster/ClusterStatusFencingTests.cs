using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Tandem.EndToEnd.Tests.Infrastructure;
using Tandem.Lab.Netns;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests.Cluster;

/// <summary>
/// Real `tandem run` nodes a and b and a `tandem witness` in network namespaces (as in
/// <see cref="ClusterFailoverTests"/>), with a fencing command that records its environment in a
/// file. kill -9 of the holder a: b runs the fence, then takes the service address; every step is
/// read through `tandem cluster status --json` (the admin socket of each node's data directory).
/// </summary>
[Trait("Category", "Cluster")]
public sealed class ClusterStatusFencingTests(ITestOutputHelper output)
{
    private const string Vip = "198.18.0.100";
    private const string Secret = "e2e-cluster-secret-0123456789";

    [Fact]
    public async Task Kill9OfTheHolderIsFencedBeforeTheTakeoverAndClusterStatusShowsIt()
    {
        await using var lab = await NetnsLab.CreateAsync(output.WriteLine);
        var work = Directory.CreateTempSubdirectory("tandem-status-e2e-");
        var fenced = Path.Combine(work.FullName, "fenced");
        try
        {
            var a = await lab.AddHostAsync("a", "198.18.0.11/24");
            var b = await lab.AddHostAsync("b", "198.18.0.12/24");
            var w = await lab.AddHostAsync("w", "198.18.0.13/24");
            await lab.WaitForLinksAsync();
            var configA = WriteConfig(work, "a", "198.18.0.11", fenced);
            var configB = WriteConfig(work, "b", "198.18.0.12", fenced);
            var configW = WriteConfig(work, "w", "198.18.0.13", fenced);

            var witness = w.Start(Processes.DotnetHost, [TandemCli.Dll, "witness", "--config", configW]);
            var nodeA = a.Start(Processes.DotnetHost, [TandemCli.Dll, "run", "--config", configA]);
            var statusA = await WaitForStatusAsync(work, configA, s => Address(s).GetProperty("heldHere").GetBoolean(), TimeSpan.FromSeconds(30),
                () => $"a did not take {Vip}\n--- a ---\n{nodeA.Output}");
            Assert.Equal("a", Address(statusA).GetProperty("holder").GetString());

            var nodeB = b.Start(Processes.DotnetHost, [TandemCli.Dll, "run", "--config", configB]);
            var statusB = await WaitForStatusAsync(work, configB, s => Member(s, "a").GetProperty("claims").EnumerateArray().Any(c => c.GetString() == $"{Vip}/24"),
                TimeSpan.FromSeconds(30), () => $"b does not see a's claim\n--- b ---\n{nodeB.Output}");
            Assert.Equal("a", Address(statusB).GetProperty("holder").GetString());
            Assert.False(Address(statusB).GetProperty("heldHere").GetBoolean());
            Assert.True(statusB.GetProperty("cluster").GetProperty("quorum").GetProperty("has").GetBoolean());
            Assert.Equal(3, statusB.GetProperty("cluster").GetProperty("quorum").GetProperty("votesSeen").GetInt32());
            Assert.Equal("up", Member(statusB, "w").GetProperty("state").GetString());

            nodeA.Kill();
            var killed = Stopwatch.StartNew();
            statusB = await WaitForStatusAsync(work, configB, s => Address(s).GetProperty("heldHere").GetBoolean(), TimeSpan.FromSeconds(20),
                () => $"b did not take over\n--- b ---\n{nodeB.Output}");
            output.WriteLine($"kill -9 a -> b holds {Vip} (fenced first) after {killed.Elapsed.TotalMilliseconds:F0} ms, as seen through cluster status");

            Assert.True(File.Exists(fenced), $"the fencing command did not run\n--- b ---\n{nodeB.Output}");
            Assert.Equal($"a {Vip}/24 b", (await File.ReadAllTextAsync(fenced)).Trim());
            var memberA = Member(statusB, "a");
            Assert.Equal("down", memberA.GetProperty("state").GetString());
            Assert.Equal("fenced", memberA.GetProperty("fence").GetString());
            Assert.Equal("b", Address(statusB).GetProperty("holder").GetString());
            var kinds = statusB.GetProperty("history").EnumerateArray()
                .Select(e => (Kind: e.GetProperty("kind").GetString()!, Subject: e.GetProperty("subject").GetString()!)).ToList();
            output.WriteLine("b's history: " + string.Join(", ", kinds.Select(k => $"{k.Kind} {k.Subject}")));
            var down = kinds.IndexOf(("peer-down", "a"));
            var started = kinds.IndexOf(("fence-started", "a"));
            var succeeded = kinds.IndexOf(("fence-succeeded", "a"));
            var acquired = kinds.IndexOf(("address-acquired", $"{Vip}/24"));
            var added = kinds.IndexOf(("address-added", $"{Vip}/24"));
            Assert.True(down >= 0 && down < started && started < succeeded && succeeded < acquired && acquired < added,
                $"expected peer-down, fence-started, fence-succeeded, address-acquired, address-added in order: {string.Join(", ", kinds)}");

            var text = await TandemCli.RunAsync(work.FullName, "cluster", "status", "--config", configB);
            Assert.Equal(0, text.ExitCode);
            output.WriteLine(text.Stdout);
            Assert.Contains("fenced (exit status 0", text.Stdout);
            Assert.Contains("fence-succeeded a:", text.Stdout);

            nodeB.Terminate();
            Assert.Equal(0, await nodeB.WaitForExitAsync(TimeSpan.FromSeconds(15)));
            var gone = await TandemCli.RunAsync(work.FullName, "cluster", "status", "--config", configB);
            Assert.Equal(1, gone.ExitCode);
            Assert.Contains("no Tandem node running with data dir", gone.Stderr);
            witness.Terminate();
            await witness.WaitForExitAsync(TimeSpan.FromSeconds(5));
        }
        finally
        {
            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static JsonElement Address(JsonElement status) => status.GetProperty("cluster").GetProperty("addresses")[0];

    private static JsonElement Member(JsonElement status, string id) =>
        status.GetProperty("cluster").GetProperty("members").EnumerateArray().Single(m => m.GetProperty("id").GetString() == id);

    private static async Task<JsonElement> WaitForStatusAsync(DirectoryInfo work, string config, Func<JsonElement, bool> condition, TimeSpan timeout, Func<string> failure)
    {
        var watch = Stopwatch.StartNew();
        var last = "";
        while (watch.Elapsed < timeout)
        {
            var result = await TandemCli.RunAsync(work.FullName, "cluster", "status", "--json", "--config", config);
            last = result.Stdout + result.Stderr;
            if (result.ExitCode == 0)
            {
                var status = JsonDocument.Parse(result.Stdout).RootElement.Clone();
                if (condition(status))
                {
                    return status;
                }
            }

            await Task.Delay(100);
        }

        Assert.Fail($"{failure()}\n--- last status ---\n{last}");
        return default;
    }

    private static string WriteConfig(DirectoryInfo work, string id, string address, string fenced)
    {
        var dir = Directory.CreateDirectory(Path.Combine(work.FullName, id));
        var nodes = new[] { ("a", "198.18.0.11"), ("b", "198.18.0.12") };
        var yaml = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"data-dir: {Path.Combine(dir.FullName, "data")}")
            .AppendLine(CultureInfo.InvariantCulture, $"listen: [udp:{address}:5060, udp:{Vip}:5060]")
            .AppendLine("auth: { enabled: false }")
            .AppendLine("cluster:")
            .AppendLine(CultureInfo.InvariantCulture, $"  node-id: {id}")
            .AppendLine(CultureInfo.InvariantCulture, $"  secret: {Secret}")
            .AppendLine(CultureInfo.InvariantCulture, $"  listen: [\"{address}:7946\"]")
            .AppendLine("  peers:");
        foreach (var (peer, peerAddress) in nodes.Where(n => n.Item1 != id))
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"    - {{ id: {peer}, addresses: [\"{peerAddress}:7946\"] }}");
        }

        yaml.AppendLine("  witness: { id: w, address: \"198.18.0.13:7946\" }")
            .AppendLine("  service-addresses:")
            .AppendLine(CultureInfo.InvariantCulture, $"    - {{ address: {Vip}/24, interface: eth0, preference: [a, b] }}")
            .AppendLine("  failback: { policy: sticky }")
            .AppendLine(CultureInfo.InvariantCulture, $"  fencing-command: 'echo \"$TANDEM_FENCE_NODE $TANDEM_FENCE_ADDRESS $TANDEM_FENCE_SELF\" > {fenced}'")
            .AppendLine("  fencing-timeout-ms: 5000");
        var path = Path.Combine(dir.FullName, "tandem.yaml");
        File.WriteAllText(path, yaml.ToString());
        return path;
    }
}
