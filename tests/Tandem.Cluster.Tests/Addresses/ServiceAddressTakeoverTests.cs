using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tandem.Cluster.Addresses;
using Tandem.Lab.Netns;
using Xunit.Abstractions;

namespace Tandem.Cluster.Tests.Addresses;

/// <summary>
/// Service address takeover on a real segment: a client and two nodes in network namespaces joined by a bridge.
/// Both nodes run a UDP responder bound (IP_FREEBIND) to the VIP all the time, like the hot-standby SIP
/// service; the answer's text says which node got the datagram. Needs root (see <see cref="NetnsLab"/>).
/// </summary>
[Trait("Category", "Netns")]
public sealed class ServiceAddressTakeoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly ServiceAddress Vip = ServiceAddress.Parse("198.18.0.100/24");
    private static readonly IPEndPoint VipEndPoint = new(Vip.Address, 5060);
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(5);

    private NetnsLab _lab = null!;
    private NetnsHost _client = null!;
    private NetnsHost _a = null!;
    private NetnsHost _b = null!;
    private readonly List<IDisposable> _disposables = [];
    private readonly List<ServiceAddressManager> _managers = [];

    public async Task InitializeAsync()
    {
        _lab = await NetnsLab.CreateAsync(output.WriteLine);
        try
        {
            _client = await _lab.AddHostAsync("client", "198.18.0.2/24");
            _a = await _lab.AddHostAsync("a", "198.18.0.11/24");
            _b = await _lab.AddHostAsync("b", "198.18.0.12/24");
            await _lab.WaitForLinksAsync();
        }
        catch
        {
            // xunit does not call DisposeAsync when InitializeAsync fails.
            await _lab.DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            foreach (var disposable in Enumerable.Reverse(_disposables))
            {
                disposable.Dispose();
            }
            foreach (var manager in _managers)
            {
                await manager.DisposeAsync();
            }
        }
        finally
        {
            await _lab.DisposeAsync();
        }
    }

    [Fact]
    public async Task Acquired_vip_is_reached_at_the_holder()
    {
        StartResponders();
        var a = Manager(_a);
        var probe = Track(_client.CreateUdpProbe());

        var started = Stopwatch.GetTimestamp();
        var acquired = await a.AcquireAsync(Vip, _a.Interface);
        var reached = await probe.WaitForAnswerAsync(VipEndPoint, null, TimeSpan.FromSeconds(3), ProbeInterval);
        var total = Stopwatch.GetElapsedTime(started);

        Assert.Equal(AddressChange.Added, acquired.Change);
        Assert.Null(acquired.AnnouncementFailure);
        Assert.NotNull(reached);
        Assert.Equal("a", reached.Value.Answer);
        output.WriteLine($"acquire took {acquired.Elapsed.TotalMilliseconds:0.0} ms (ip addr add + first GARP); VIP answered {total.TotalMilliseconds:0.0} ms after the acquire started");
        Assert.Equal(_a.Mac, (await _client.GetNeighbourAsync(Vip.Address))?.Mac);
        Assert.Contains(new HeldAddress(Vip, _a.Interface), a.Held);
        Assert.Contains(await a.ListAddressesAsync(_a.Interface), x => x.Address == Vip && x.Secondary);

        // Idempotent both ways.
        Assert.Equal(AddressChange.AlreadyPresent, (await a.AcquireAsync(Vip, _a.Interface)).Change);
        Assert.Equal(AddressChange.Removed, await a.ReleaseAsync(Vip, _a.Interface));
        Assert.Equal(AddressChange.AlreadyAbsent, await a.ReleaseAsync(Vip, _a.Interface));
        Assert.Empty(a.Held);
        Assert.False(await a.IsPresentAsync(Vip, _a.Interface));
    }

    [Fact]
    public async Task Rtnetlink_adds_and_removes_the_address_without_ip_and_reports_already_there_or_gone()
    {
        var a = Manager(_a);
        var index = (await a.GetLinkAsync(_a.Interface)).Index;

        Assert.Equal(0, RtNetlink.ChangeAddress(_a.Namespace, add: true, Vip, index));
        Assert.True(await a.IsPresentAsync(Vip, _a.Interface)); // seen by `ip addr`
        Assert.Equal(RtNetlink.EEXIST, RtNetlink.ChangeAddress(_a.Namespace, add: true, Vip, index));
        Assert.Equal(0, RtNetlink.ChangeAddress(_a.Namespace, add: false, Vip, index));
        Assert.False(await a.IsPresentAsync(Vip, _a.Interface));
        Assert.Equal(RtNetlink.EADDRNOTAVAIL, RtNetlink.ChangeAddress(_a.Namespace, add: false, Vip, index));

        // What the fork saves: 10 adds and removes each way, in a's namespace (printed, not asserted).
        var ip = new ServiceAddressManager(new ServiceAddressOptions { NetworkNamespace = _a.Namespace, AnnouncementSchedule = [], UseNetlink = false });
        var netlink = new ServiceAddressManager(new ServiceAddressOptions { NetworkNamespace = _a.Namespace, AnnouncementSchedule = [] });
        await using (ip)
        await using (netlink)
        {
            foreach (var (name, manager) in new[] { ("ip addr add", ip), ("rtnetlink", netlink) })
            {
                await manager.GetLinkAsync(_a.Interface); // cached, as in a takeover
                var times = new List<double>();
                for (var i = 0; i < 10; i++)
                {
                    var result = await manager.AcquireAsync(Vip, _a.Interface);
                    Assert.Equal(AddressChange.Added, result.Change);
                    times.Add(result.Elapsed.TotalMilliseconds);
                    Assert.Equal(AddressChange.Removed, await manager.ReleaseAsync(Vip, _a.Interface));
                }

                times.Sort();
                output.WriteLine($"{name}: add median {times[times.Count / 2]:0.00} ms, max {times[^1]:0.00} ms (10 runs)");
            }
        }
    }

    [Fact]
    public async Task Moving_the_vip_flips_the_clients_neighbour_entry_by_gratuitous_arp_alone()
    {
        StartResponders();
        var a = Manager(_a);
        var b = Manager(_b);
        var probe = Track(_client.CreateUdpProbe());
        await a.AcquireAsync(Vip, _a.Interface);
        Assert.Equal("a", (await probe.WaitForAnswerAsync(VipEndPoint, "a", TimeSpan.FromSeconds(3), ProbeInterval))?.Answer);
        var before = await _client.GetNeighbourAsync(Vip.Address);
        Assert.Equal(_a.Mac, before?.Mac);
        output.WriteLine($"client's entry for {Vip.Address} before the move: {before?.State} {NetnsHost.FormatMac(before!.Value.Mac!)} (a)");

        // From here on the client sends nothing until its entry has flipped.
        using var capture = await ArpCapture.StartAsync(_client);
        var started = Stopwatch.GetTimestamp();
        await a.ReleaseAsync(Vip, _a.Interface);
        var acquired = await b.AcquireAsync(Vip, _b.Interface);
        TimeSpan? flippedAfter = null;
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(2))
        {
            if ((await _client.GetNeighbourAsync(Vip.Address))?.Mac?.Equals(_b.Mac) == true)
            {
                flippedAfter = Stopwatch.GetElapsedTime(started);
                break;
            }
            await Task.Delay(2);
        }
        await b.WhenAnnouncedAsync(Vip, _b.Interface);
        await Task.Delay(50);
        var packets = capture.Packets;
        foreach (var packet in packets)
        {
            output.WriteLine(packet.ToString());
        }

        Assert.NotNull(flippedAfter);
        var after = await _client.GetNeighbourAsync(Vip.Address);
        output.WriteLine($"client's entry flipped to b ({_b.MacText}) {flippedAfter.Value.TotalMilliseconds:0.0} ms after the release on a started (acquire on b: {acquired.Elapsed.TotalMilliseconds:0.0} ms); now {after?.State}");
        // The client asked nothing: every ARP packet on its link is b's announcement of the VIP.
        Assert.DoesNotContain(packets, p => p.EthernetSource.Equals(_client.Mac));
        var announcements = packets.Where(p => p.IsGratuitous && p.SenderIp.Equals(Vip.Address) && p.SenderMac.Equals(_b.Mac) && p.Operation == 1).ToList();
        Assert.Equal(0, b.AnnouncementFailures);
        Assert.Equal(3, b.AnnouncementsSent);
        Assert.Equal(3, announcements.Count);
        Assert.Equal(packets.Count, announcements.Count);

        var reached = await probe.WaitForAnswerAsync(VipEndPoint, null, TimeSpan.FromSeconds(3), ProbeInterval);
        Assert.Equal("b", reached?.Answer);
    }

    [Fact]
    public async Task Freebind_socket_bound_before_the_acquire_receives_once_the_address_is_added()
    {
        // Without IP_FREEBIND the bind fails: the address is not on the node.
        using (var plain = _a.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            var refused = Assert.Throws<SocketException>(() => plain.Bind(VipEndPoint));
            Assert.Equal(SocketError.AddressNotAvailable, refused.SocketErrorCode);
        }

        var responder = Track(_a.StartUdpResponder(VipEndPoint, freeBind: true));
        var probe = Track(_client.CreateUdpProbe());
        Assert.Null(await probe.TryAsync(VipEndPoint, TimeSpan.FromMilliseconds(300)));
        Assert.Equal(0, responder.Answered);

        var a = Manager(_a);
        var started = Stopwatch.GetTimestamp();
        await a.AcquireAsync(Vip, _a.Interface);
        var reached = await probe.WaitForAnswerAsync(VipEndPoint, "a", TimeSpan.FromSeconds(3), ProbeInterval);

        Assert.NotNull(reached);
        output.WriteLine($"socket bound before the acquire answered {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0.0} ms after the acquire started (the client had an INCOMPLETE entry; the GARP resolved it)");
        Assert.True(responder.Answered >= 1);
    }

    [Fact]
    public async Task After_a_link_cut_on_the_holder_the_other_node_takes_the_vip_over()
    {
        StartResponders();
        var a = Manager(_a);
        var b = Manager(_b);
        var probe = Track(_client.CreateUdpProbe());
        await a.AcquireAsync(Vip, _a.Interface);
        Assert.Equal("a", (await probe.WaitForAnswerAsync(VipEndPoint, "a", TimeSpan.FromSeconds(3), ProbeInterval))?.Answer);

        // a's cable is cut: it keeps the address (it cannot know), the client's entry still points at it.
        await _lab.SetPortAsync(_a, up: false);
        Assert.Null(await probe.TryAsync(VipEndPoint, TimeSpan.FromMilliseconds(200)));

        var started = Stopwatch.GetTimestamp();
        await b.AcquireAsync(Vip, _b.Interface);
        var reached = await probe.WaitForAnswerAsync(VipEndPoint, "b", TimeSpan.FromSeconds(3), ProbeInterval);

        Assert.NotNull(reached);
        output.WriteLine($"after the link cut, the VIP answered from b {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0.0} ms after b's acquire started");
        Assert.Equal(_b.Mac, (await _client.GetNeighbourAsync(Vip.Address))?.Mac);
        Assert.True(await a.IsPresentAsync(Vip, _a.Interface), "a still holds the address behind its cut link");
    }

    [Fact]
    public async Task Release_all_hands_back_every_held_address()
    {
        var a = Manager(_a);
        var second = ServiceAddress.Parse("198.18.0.101/32");
        await a.AcquireAsync(Vip, _a.Interface);
        await a.AcquireAsync(second, _a.Interface);
        Assert.Equal(2, a.Held.Count);

        await a.ReleaseAllAsync();

        Assert.Empty(a.Held);
        var left = await a.ListAddressesAsync(_a.Interface);
        Assert.DoesNotContain(left, x => x.Address == Vip || x.Address == second);
        Assert.Contains(left, x => x.Address == ServiceAddress.Parse("198.18.0.11/24"));
    }

    [Fact]
    public async Task Acquire_on_a_missing_interface_fails_clearly()
    {
        var a = Manager(_a);
        var error = await Assert.ThrowsAsync<CommandFailedException>(() => a.AcquireAsync(Vip, "nosuch0"));
        output.WriteLine(error.Message);
        Assert.Contains("nosuch0", error.Message, StringComparison.Ordinal);
        Assert.Contains(_a.Namespace, error.Message, StringComparison.Ordinal);
        Assert.Empty(a.Held);
    }

    private void StartResponders()
    {
        Track(_a.StartUdpResponder(VipEndPoint, freeBind: true));
        Track(_b.StartUdpResponder(VipEndPoint, freeBind: true));
    }

    private ServiceAddressManager Manager(NetnsHost host)
    {
        var manager = host.CreateAddressManager(output.WriteLine);
        _managers.Add(manager);
        return manager;
    }

    private T Track<T>(T disposable) where T : IDisposable
    {
        _disposables.Add(disposable);
        return disposable;
    }
}
