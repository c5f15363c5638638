using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using Tandem.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests.Cluster;

/// <summary>
/// Two real `tandem run` processes on loopback replicating state (no service addresses, so no
/// namespaces are needed): `tandem user add` run as its own process on a's data directory while a
/// runs must let bob register with SIPp (digest) on b; a SIGHUP on a after editing its routing must
/// put the new routing in force on b. Timings are printed, only loose bounds are asserted.
/// </summary>
[Trait("Category", "Cluster")]
public sealed partial class ConfigReplicationProcessTests(ITestOutputHelper output)
{
    private const string Secret = "e2e-config-replication-0123456789";
    private const int SigHup = 1;
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(20);
    private static readonly TestUser Bob = TestUser.Bob;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    private sealed record NodeConfig(string Id, int Sip, int Heartbeat, int Replication);

    private static string Routing(string member) =>
        "routing:\n" +
        "  ring-groups:\n" +
        $"    sales@example.com: {{ members: [{member}] }}\n";

    private static string Config(string dataDir, NodeConfig self, NodeConfig peer, string routing) =>
        $"data-dir: {dataDir}\n" +
        $"listen: [udp:127.0.0.1:{self.Sip}, tcp:127.0.0.1:{self.Sip}]\n" +
        "sip:\n  domains: [example.com]\n" +
        routing +
        "cluster:\n" +
        $"  node-id: {self.Id}\n" +
        $"  secret: \"{Secret}\"\n" +
        $"  listen: [127.0.0.1:{self.Heartbeat}]\n" +
        $"  peers:\n    - {{ id: {peer.Id}, addresses: [127.0.0.1:{peer.Heartbeat}], replication: 127.0.0.1:{peer.Replication} }}\n" +
        "  allow-two-node-without-witness: true\n" +
        $"  replication: {{ mode: async, listen: 127.0.0.1:{self.Replication} }}\n";

    [Fact]
    public async Task Cli_user_add_on_running_a_registers_on_b_and_a_sighup_on_a_reroutes_b()
    {
        var work = Directory.CreateTempSubdirectory("tandem-config-replication-");
        BackgroundProcess? nodeA = null;
        BackgroundProcess? nodeB = null;
        try
        {
            var a = new NodeConfig("a", FreePorts.Next(), FreePorts.Next(), FreePorts.Next());
            var b = new NodeConfig("b", FreePorts.Next(), FreePorts.Next(), FreePorts.Next());
            var dataA = Path.Combine(work.FullName, "a");
            var dataB = Path.Combine(work.FullName, "b");
            var configA = Path.Combine(work.FullName, "a.yaml");
            var configB = Path.Combine(work.FullName, "b.yaml");
            await File.WriteAllTextAsync(configA, Config(dataA, a, b, Routing("alice")));
            await File.WriteAllTextAsync(configB, Config(dataB, b, a, Routing("alice")));

            nodeA = BackgroundProcess.Start(TandemCli.StartInfo(["run", "--config", configA], work.FullName));
            nodeB = BackgroundProcess.Start(TandemCli.StartInfo(["run", "--config", configB], work.FullName));
            var sipA = new IPEndPoint(IPAddress.Loopback, a.Sip);
            var sipB = new IPEndPoint(IPAddress.Loopback, b.Sip);
            await SipProbe.WaitUntilReadyAsync(sipA, nodeA, TimeSpan.FromSeconds(30), "tandem run (a)");
            await SipProbe.WaitUntilReadyAsync(sipB, nodeB, TimeSpan.FromSeconds(30), "tandem run (b)");

            var before = await Sipp.RunAsync("register-auth", sipB, SipTransport.Udp, [Bob], timeoutSeconds: 5);
            Assert.False(before.Succeeded, "bob registered on b before he was added anywhere");

            // The CLI as its own process, writing a's database while a runs.
            var added = await TandemCli.RunAsync(work.FullName, "user", "add", Bob.Aor, "--password", Bob.Password, "--config", configA);
            Assert.True(added.ExitCode == 0, added.ToString());
            var clock = Stopwatch.StartNew();
            SippResult? registered = null;
            while (clock.Elapsed < Bounded && registered is not { Succeeded: true })
            {
                registered = await Sipp.RunAsync("register-auth", sipB, SipTransport.Udp, [Bob], timeoutSeconds: 5);
            }

            Assert.True(registered is { Succeeded: true }, $"bob, added on a, cannot register on b\n{registered}\n--- a ---\n{nodeA.Output.Tail()}\n--- b ---\n{nodeB.Output.Tail()}");
            output.WriteLine($"tandem user add on a exited -> SIPp REGISTER (digest) accepted by b after {clock.ElapsedMilliseconds} ms (SIPp runs included)");

            // Routing: edit a's file only, reload a with SIGHUP; b logs the replicated routing in force.
            await File.WriteAllTextAsync(configA, Config(dataA, a, b, Routing("carol")));
            clock.Restart();
            Assert.Equal(0, kill(nodeA.Pid, SigHup));
            while (clock.Elapsed < Bounded && !nodeB.Output.ToString().Contains("Routing replaced by the replicated routing of", StringComparison.Ordinal))
            {
                await Task.Delay(20);
            }

            var logB = nodeB.Output.ToString();
            Assert.True(logB.Contains($"Routing replaced by the replicated routing of {configA} on node a", StringComparison.Ordinal), $"b did not take a's reload\n--- a ---\n{nodeA.Output.Tail()}\n--- b ---\n{nodeB.Output.Tail()}");
            output.WriteLine($"SIGHUP on a -> routing in force on b after {clock.ElapsedMilliseconds} ms (log polling included)");
            Assert.Contains("published to the cluster", nodeA.Output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            if (nodeA is not null)
            {
                await nodeA.DisposeAsync();
            }

            if (nodeB is not null)
            {
                await nodeB.DisposeAsync();
            }

            work.Delete(recursive: true);
        }
    }
}
