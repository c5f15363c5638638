using System.Net;
using Tandem.Cluster.Addresses;
using Tandem.Lab.Netns;
using Xunit.Abstractions;

namespace Tandem.Cluster.Tests.Netns;

/// <summary>The harness itself: topology, link cuts, processes in namespaces, teardown and leftover cleanup.</summary>
[Trait("Category", "Netns")]
public sealed class NetnsLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Hosts_reach_each_other_over_the_bridge_until_a_port_is_cut_and_teardown_removes_everything()
    {
        var lab = await NetnsLab.CreateAsync(output.WriteLine);
        try
        {
            var client = await lab.AddHostAsync("client", "198.18.0.2/24");
            var a = await lab.AddHostAsync("a", "198.18.0.11/24");
            await lab.WaitForLinksAsync();
            var target = new IPEndPoint(a.Address!, 7000);
            using var responder = a.StartUdpResponder(target, freeBind: false);
            using var probe = client.CreateUdpProbe();

            Assert.Equal("a", (await probe.WaitForAnswerAsync(target, null, TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(20)))?.Answer);
            Assert.Equal(a.Mac, (await client.GetNeighbourAsync(a.Address!))?.Mac);

            await lab.SetPortAsync(a, up: false);
            Assert.Null(await probe.TryAsync(target, TimeSpan.FromMilliseconds(200)));

            await lab.SetPortAsync(a, up: true);
            Assert.Equal("a", (await probe.WaitForAnswerAsync(target, null, TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(20)))?.Answer);
        }
        finally
        {
            await lab.DisposeAsync();
        }
        Assert.DoesNotContain(await NetnsLab.ListLabNamespacesAsync(), n => n.Name.StartsWith(lab.RunId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_process_in_a_namespace_can_be_frozen_resumed_and_killed_by_pid()
    {
        await using var lab = await NetnsLab.CreateAsync(output.WriteLine);
        var node = await lab.AddHostAsync("a", "198.18.0.11/24");

        var process = node.Start("sleep", ["30"]);
        // `ip netns exec` execs the command: the PID is sleep's own, and it lives in the namespace.
        await WaitForAsync(() => File.ReadAllText($"/proc/{process.Pid}/comm").Trim() == "sleep");
        var pids = await NetnsLab.ExecAsync(node.Namespace, "true");
        Assert.Equal(0, pids.ExitCode);
        var inNamespace = await CommandRunner.Instance.RunAsync("ip", ["netns", "pids", node.Namespace], TimeSpan.FromSeconds(5));
        Assert.Contains(process.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), inNamespace.StandardOutput.Split('\n'));

        process.Stop();
        await WaitForAsync(() => process.ProcState() == 'T');
        process.Continue();
        await WaitForAsync(() => process.ProcState() is 'S' or 'R');
        process.Kill();
        await process.WaitForExitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(128 + NetnsProcess.SigKill, process.ExitCode);

        // What is still running when the lab goes is killed with it.
        var leftover = node.Start("sleep", ["30"]);
        await lab.DisposeAsync();
        Assert.True(leftover.HasExited);
    }

    [Fact]
    public async Task Leftovers_of_old_runs_are_removed_and_younger_ones_kept()
    {
        await NetnsLab.RequireNetnsAsync();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var suffix = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));
        var old = $"tdm-{now - 3600}-{suffix}-old";
        var young = $"tdm-{now}-{suffix}-young";
        try
        {
            await CommandRunner.Instance.RunCheckedAsync("ip", ["netns", "add", old], TimeSpan.FromSeconds(5));
            await CommandRunner.Instance.RunCheckedAsync("ip", ["netns", "add", young], TimeSpan.FromSeconds(5));

            await NetnsLab.CleanupLeftoversAsync(NetnsLab.LeftoverAge, output.WriteLine);

            var names = (await NetnsLab.ListLabNamespacesAsync()).Select(n => n.Name).ToList();
            Assert.DoesNotContain(old, names);
            Assert.Contains(young, names);
        }
        finally
        {
            await CommandRunner.Instance.RunAsync("ip", ["netns", "del", old], TimeSpan.FromSeconds(5));
            await CommandRunner.Instance.RunAsync("ip", ["netns", "del", young], TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public async Task Only_lab_addresses_are_accepted()
    {
        await using var lab = await NetnsLab.CreateAsync(output.WriteLine);
        await Assert.ThrowsAsync<ArgumentException>(() => lab.AddHostAsync("x", "10.0.0.1/24"));
        Assert.True(NetnsLab.IsLabAddress(IPAddress.Parse("198.19.255.255")));
        Assert.False(NetnsLab.IsLabAddress(IPAddress.Parse("198.20.0.1")));
        Assert.False(NetnsLab.IsLabAddress(IPAddress.Parse("192.168.0.1")));
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 5 s");
            await Task.Delay(10);
        }
    }
}
