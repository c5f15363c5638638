using System.Net;
using Tandem.Host;
using Tandem.Server.Cluster;
using Tandem.Server.Config;

namespace Tandem.Server.Tests.Cluster;

public sealed class ClusterHostTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static readonly TandemOptions Clustered = new()
    {
        Cluster = new ClusterOptions
        {
            NodeId = "a",
            ServiceAddresses = [new ClusterServiceAddress(IPAddress.Parse("198.18.0.100"), 24, "eth0", ["a", "b"])],
        },
    };

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Only_service_addresses_of_an_enabled_cluster_are_free_bound()
    {
        Assert.True(ClusterHost.IsServiceAddress(Clustered, IPAddress.Parse("198.18.0.100")));
        Assert.False(ClusterHost.IsServiceAddress(Clustered, IPAddress.Parse("198.18.0.11")));
        Assert.False(ClusterHost.IsServiceAddress(Clustered, IPAddress.Any));
        Assert.False(ClusterHost.IsServiceAddress(new TandemOptions(), IPAddress.Parse("198.18.0.100")));
    }

    [Fact]
    public void The_health_probe_targets_the_first_listener_that_is_not_a_service_address()
    {
        var vip = new IPEndPoint(IPAddress.Parse("198.18.0.100"), 5060);
        var own = new IPEndPoint(IPAddress.Parse("198.18.0.11"), 5060);
        Assert.Equal(own, ClusterHost.ProbeTarget(Clustered, [vip, own]));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 5070), ClusterHost.ProbeTarget(Clustered, [vip, new IPEndPoint(IPAddress.Any, 5070)]));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 5080), ClusterHost.ProbeTarget(Clustered, [new IPEndPoint(IPAddress.IPv6Any, 5080)]));
        Assert.Null(ClusterHost.ProbeTarget(Clustered, [vip]));
    }

    [Fact]
    public async Task Tandem_run_refuses_a_witness_configuration()
    {
        var config = _dir.Combine("witness.yaml");
        await File.WriteAllTextAsync(config, """
            cluster:
              node-id: w
              secret: 0123456789abcdef0123
              peers:
                - { id: a, addresses: ["198.18.0.11:7946"] }
                - { id: b, addresses: ["198.18.0.12:7946"] }
              witness: { id: w, address: "198.18.0.13:7946" }
            """);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await CliApp.RunAsync(["run", "--config", config, "--data-dir", _dir.Combine("data")], new CliContext
        {
            Stdout = stdout,
            Stderr = stderr,
            Stdin = new StringReader(""),
            Environment = new Dictionary<string, string>(),
            CurrentDirectory = _dir.Path,
        });
        Assert.NotEqual(0, code);
        Assert.Contains("tandem witness", stderr.ToString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Combine("data")));
    }
}

public sealed class SipHealthProbeTests
{
    [Fact]
    public async Task A_running_server_is_healthy()
    {
        await using var fixture = await Core.ServerFixture.StartAsync();
        using var wheel = new Tandem.Sip.Timers.TimerWheel(TimeProvider.System, TimeSpan.FromMilliseconds(10));
        wheel.Start();
        var probe = new SipHealthProbe(() => fixture.Udp, () => wheel);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var report = await probe.CheckAsync(timeout.Token);
        Assert.True(report.IsHealthy, report.Reason);
    }

    [Fact]
    public async Task No_answer_or_a_stopped_timer_wheel_is_unhealthy()
    {
        await using var fixture = await Core.ServerFixture.StartAsync();
        using var silent = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var wheel = new Tandem.Sip.Timers.TimerWheel(TimeProvider.System, TimeSpan.FromMilliseconds(10));
        wheel.Start();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            var report = await new SipHealthProbe(() => (IPEndPoint)silent.Client.LocalEndPoint!, () => wheel).CheckAsync(timeout.Token);
            Assert.False(report.IsHealthy);
        }

        using var stopped = new Tandem.Sip.Timers.TimerWheel(TimeProvider.System, TimeSpan.FromMilliseconds(10)); // never started
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            var report = await new SipHealthProbe(() => fixture.Udp, () => stopped).CheckAsync(timeout.Token);
            Assert.False(report.IsHealthy);
            Assert.Contains("timer wheel", report.Reason, StringComparison.Ordinal);
        }

        var none = await new SipHealthProbe(() => null, () => wheel).CheckAsync(CancellationToken.None);
        Assert.False(none.IsHealthy);
    }
}
