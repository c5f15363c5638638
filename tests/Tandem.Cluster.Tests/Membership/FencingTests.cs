using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tandem.Cluster.Membership;

namespace Tandem.Cluster.Tests.Membership;

/// <summary>Fencing: the decision in the engine (simulated network, manual clock) and the shell fencer with real commands.</summary>
public sealed class FencingTests : IDisposable
{
    private static readonly ServiceAddress Vip1 = new("198.18.0.100/24", "br-svc", [new("a"), new("b")]);
    private static readonly FencingOptions Fencing = new("true", TimeSpan.FromSeconds(5));
    private static readonly NodeId A = new("a");

    private readonly string _dir = Directory.CreateTempSubdirectory("tandem-fence-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SimulatedCluster HeldByA()
    {
        var c = new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1], fencing: Fencing);
        c.RunMs(500);
        Assert.Equal(["198.18.0.100/24"], c.Owned("a"));
        c.Core("a").ReportHeld(1);
        c.RunMs(100);
        Assert.Empty(c.Core("b").TakeFenceRequests()); // nobody held it before a: no fence for a's first take
        return c;
    }

    [Fact]
    public void A_dead_holders_address_is_taken_only_after_the_fence_succeeded()
    {
        var c = HeldByA();

        c.Crash("a");
        c.RunUntil(() => c.View("b").Member(A)!.State == MemberState.Down);
        c.RunMs(300);

        var request = Assert.Single(c.Core("b").TakeFenceRequests());
        Assert.Equal(A, request.Node);
        Assert.Equal(["198.18.0.100/24"], request.Addresses.Select(x => x.Address));
        Assert.Empty(c.Owned("b"));
        Assert.Equal(FenceStatus.Running, c.View("b").Member(A)!.Fence);
        Assert.Contains(c.Events, e => e.Member == "b" && e.Event.Kind == MembershipEventKind.FenceStarted);

        c.Core("b").FenceCompleted(A, succeeded: true, "exit status 0", c.Now, c.Wall);
        c.RunMs(50);

        Assert.Equal(["198.18.0.100/24"], c.Owned("b"));
        Assert.Contains(c.Events, e => e.Member == "b" && e.Event.Kind == MembershipEventKind.FenceSucceeded);
        Assert.Empty(c.Core("b").TakeFenceRequests());
    }

    [Fact]
    public void A_failed_fence_blocks_the_takeover_and_is_retried_at_most_once_a_second()
    {
        var c = HeldByA();
        c.Crash("a");
        c.RunUntil(() => c.View("b").Member(A)!.State == MemberState.Down);
        c.RunMs(100);
        Assert.Single(c.Core("b").TakeFenceRequests());

        c.Core("b").FenceCompleted(A, succeeded: false, "timed out after 5000 ms (killed)", c.Now, c.Wall);
        c.RunMs(900);
        Assert.Empty(c.Owned("b"));
        Assert.Empty(c.Core("b").TakeFenceRequests()); // no retry before a second
        Assert.Equal(FenceStatus.Failed, c.View("b").Member(A)!.Fence);
        Assert.Contains("timed out", c.View("b").Member(A)!.FenceDetail);
        Assert.Contains(c.Events, e => e.Member == "b" && e.Event.Kind == MembershipEventKind.FenceFailed && e.Event.Reason.Contains("timed out", StringComparison.Ordinal));

        c.RunMs(200);
        var retry = Assert.Single(c.Core("b").TakeFenceRequests());
        Assert.Equal(2, retry.Attempt);
        Assert.Empty(c.Owned("b"));

        c.Core("b").FenceCompleted(A, succeeded: true, "exit status 0", c.Now, c.Wall);
        c.RunMs(50);
        Assert.Equal(["198.18.0.100/24"], c.Owned("b"));
    }

    [Fact]
    public void A_graceful_handover_needs_no_fence()
    {
        var c = HeldByA();

        c.Leave("a");
        c.Core("a").ReportHeld(0); // the address manager removed it
        c.RunMs(60);
        c.Crash("a"); // the process exits after its last heartbeats
        c.RunMs(500);

        Assert.Equal(["198.18.0.100/24"], c.Owned("b"));
        Assert.Empty(c.Core("b").TakeFenceRequests());
        Assert.DoesNotContain(c.Events, e => e.Event.Kind == MembershipEventKind.FenceStarted);
    }

    [Fact]
    public void Without_fencing_configured_the_takeover_is_immediate()
    {
        var c = new SimulatedCluster(["a", "b"], witness: "w", addresses: [Vip1]);
        c.RunMs(500);
        c.Core("a").ReportHeld(1);
        c.RunMs(100);

        c.Crash("a");
        c.RunUntil(() => c.Owned("b").Length == 1);

        Assert.Empty(c.Core("b").TakeFenceRequests());
    }

    [Fact]
    public async Task The_shell_fencer_passes_the_node_and_addresses_and_succeeds_on_exit_0()
    {
        var output = Path.Combine(_dir, "fenced");
        var fencer = new ShellFencer(new FencingOptions($"echo \"$TANDEM_FENCE_NODE $TANDEM_FENCE_NODE_ADDRESSES $TANDEM_FENCE_ADDRESS $TANDEM_FENCE_ADDRESSES $TANDEM_FENCE_SELF $TANDEM_FENCE_ATTEMPT\" > '{output}'", TimeSpan.FromSeconds(5)), new NodeId("b"));
        var request = new FenceRequest(A, 3, [Vip1, new ServiceAddress("198.18.0.101/24", "br-svc", [A])],
            [new IPEndPoint(IPAddress.Parse("198.18.0.11"), 7946), new IPEndPoint(IPAddress.Parse("198.18.1.11"), 7946)]);

        var result = await fencer.FenceAsync(request, CancellationToken.None);

        Assert.True(result.Succeeded, result.Detail);
        Assert.StartsWith("exit status 0", result.Detail);
        Assert.Equal("a 198.18.0.11,198.18.1.11 198.18.0.100/24 198.18.0.100/24,198.18.0.101/24 b 3", (await File.ReadAllTextAsync(output)).Trim());
    }

    [Fact]
    public async Task The_shell_fencer_fails_on_a_non_zero_exit_and_on_timeout()
    {
        var request = new FenceRequest(A, 1, [Vip1], [new IPEndPoint(IPAddress.Loopback, 7946)]);

        var failed = await new ShellFencer(new FencingOptions("echo 'ipmi: no route' >&2; exit 3", TimeSpan.FromSeconds(5)), new NodeId("b")).FenceAsync(request, CancellationToken.None);
        Assert.False(failed.Succeeded);
        Assert.Contains("exit status 3", failed.Detail);
        Assert.Contains("ipmi: no route", failed.Detail);

        var watch = Stopwatch.StartNew();
        var timedOut = await new ShellFencer(new FencingOptions("sleep 30", TimeSpan.FromMilliseconds(300)), new NodeId("b")).FenceAsync(request, CancellationToken.None);
        Assert.False(timedOut.Succeeded);
        Assert.Contains("timed out after 300 ms", timedOut.Detail);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    /// <summary>Two real membership services on loopback: b fences the crashed a with a script that writes a file, then takes a's address.</summary>
    [Fact]
    public async Task A_real_node_runs_the_fencing_script_before_taking_over_a_crashed_peers_address()
    {
        var marker = Path.Combine(_dir, "fenced-node");
        var script = Path.Combine(_dir, "fence.sh");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\nsleep 0.2\necho \"$TANDEM_FENCE_NODE $TANDEM_FENCE_ADDRESS\" > '{marker}'\n");
        var ports = FreeUdpPorts(2);
        var vip = new ServiceAddress("198.18.0.100/24", null, [new("a"), new("b")]);
        MembershipOptions Options(string self, int own, string peer, int peerPort) => new()
        {
            Self = new NodeId(self),
            Peers = [new PeerOptions(new NodeId(peer), [new IPEndPoint(IPAddress.Loopback, peerPort)])],
            Listen = [new IPEndPoint(IPAddress.Loopback, own)],
            Secret = SimulatedCluster.Secret,
            AllowTwoNodeWithoutWitness = true,
            ServiceAddresses = [vip],
            Fencing = new FencingOptions($"sh '{script}'", TimeSpan.FromSeconds(5)),
        };

        var a = new MembershipService(Options("a", ports[0], "b", ports[1]));
        await using var b = new MembershipService(Options("b", ports[1], "a", ports[0]));
        try
        {
            a.Start();
            b.Start();
            await WaitUntil(() => a.View.Owns(vip.Address), "a takes the address");
            a.ReportHeld([vip.Address]);
            await WaitUntil(() => b.View.Member(A)!.Holds.Contains(vip.Address), "b hears a's claim");

            var crash = Stopwatch.StartNew();
            a.Dispose(); // a crash: no leave, no release
            await WaitUntil(() => b.View.Member(A)!.State == MemberState.Down, "b declares a down");
            var down = crash.Elapsed;
            Assert.False(b.View.Owns(vip.Address));
            await WaitUntil(() => b.View.Owns(vip.Address), "b takes the address after fencing");
            var taken = crash.Elapsed;

            Assert.True(File.Exists(marker), "the fencing script ran before the takeover");
            Assert.Equal($"a {vip.Address}", (await File.ReadAllTextAsync(marker)).Trim());
            Assert.Equal(FenceStatus.Fenced, b.View.Member(A)!.Fence);
            Console.WriteLine($"fencing: a down after {down.TotalMilliseconds:0} ms, address taken after {taken.TotalMilliseconds:0} ms (script sleeps 200 ms)");
        }
        finally
        {
            a.Dispose();
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(10);
        }
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
