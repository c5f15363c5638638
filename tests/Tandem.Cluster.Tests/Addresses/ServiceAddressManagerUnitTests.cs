using System.Net;
using System.Net.NetworkInformation;
using Tandem.Cluster.Addresses;

namespace Tandem.Cluster.Tests.Addresses;

/// <summary>The manager's logic against a recorded iproute2 (no privileges needed).</summary>
public sealed class ServiceAddressManagerUnitTests
{
    private const string Link = """[{"ifindex":7,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"operstate":"UP","address":"02:00:00:00:00:07"}]""";

    private static string Addresses(params string[] cidrs)
        => "[{\"ifindex\":7,\"ifname\":\"eth0\",\"addr_info\":[" + string.Join(',', cidrs.Select(c =>
        {
            var a = ServiceAddress.Parse(c);
            return $"{{\"family\":\"{(a.IsIPv6 ? "inet6" : "inet")}\",\"local\":\"{a.Address}\",\"prefixlen\":{a.PrefixLength},\"scope\":\"global\",\"label\":\"eth0\"}}";
        })) + "]}]";

    [Fact]
    public async Task Acquire_runs_ip_addr_add_and_announces_on_the_schedule()
    {
        var runner = new FakeRunner();
        runner.On("link show", 0, Link);
        runner.On("addr add", 0, "");
        var announcer = new RecordingAnnouncer();
        // The later announcements come well after the first, so a busy machine cannot send the second
        // before the assertion on the first.
        var schedule = new[] { TimeSpan.Zero, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(400) };
        await using var manager = new ServiceAddressManager(new ServiceAddressOptions { NetworkNamespace = "ns1", AnnouncementSchedule = schedule }, runner, announcer);

        var result = await manager.AcquireAsync(ServiceAddress.Parse("198.18.0.100/24"), "eth0");
        Assert.Equal(AddressChange.Added, result.Change);
        Assert.Single(announcer.Sent); // the first one before returning
        await manager.WhenAnnouncedAsync(ServiceAddress.Parse("198.18.0.100/24"), "eth0");

        Assert.Contains("ip -n ns1 -j link show dev eth0", runner.Calls);
        Assert.Contains("ip -n ns1 -4 addr add 198.18.0.100/24 dev eth0", runner.Calls);
        Assert.Equal(3, announcer.Sent.Count);
        Assert.All(announcer.Sent, s => Assert.Equal(7, s.Link.Index));
        Assert.Equal(PhysicalAddress.Parse("02-00-00-00-00-07"), announcer.Sent[0].Link.MacAddress);
        Assert.Equal(3, manager.AnnouncementsSent);
        Assert.Equal([new HeldAddress(ServiceAddress.Parse("198.18.0.100/24"), "eth0")], manager.Held);
    }

    [Fact]
    public async Task Ipv6_is_added_without_duplicate_address_detection()
    {
        var runner = new FakeRunner();
        runner.On("link show", 0, Link);
        runner.On("addr add", 0, "");
        await using var manager = new ServiceAddressManager(new ServiceAddressOptions { AnnouncementSchedule = [] }, runner, new RecordingAnnouncer());

        await manager.AcquireAsync(ServiceAddress.Parse("2001:db8::10/64"), "eth0");

        Assert.Contains("ip -6 addr add 2001:db8::10/64 dev eth0 nodad", runner.Calls);
    }

    [Fact]
    public async Task Adding_a_present_address_is_already_present_not_an_error()
    {
        var runner = new FakeRunner();
        runner.On("link show", 0, Link);
        runner.On("addr add", 2, "", "Error: ipv4: Address already assigned.");
        runner.On("addr show", 0, Addresses("198.18.0.11/24", "198.18.0.100/24"));
        await using var manager = new ServiceAddressManager(new ServiceAddressOptions(), runner, new RecordingAnnouncer());

        var result = await manager.AcquireAsync(ServiceAddress.Parse("198.18.0.100/24"), "eth0");

        Assert.Equal(AddressChange.AlreadyPresent, result.Change);
        Assert.Single(manager.Held);
    }

    [Fact]
    public async Task A_failed_add_quotes_the_command_and_its_error()
    {
        var runner = new FakeRunner();
        runner.On("link show", 0, Link);
        runner.On("addr add", 2, "", "RTNETLINK answers: Operation not permitted");
        runner.On("addr show", 0, Addresses("198.18.0.11/24"));
        await using var manager = new ServiceAddressManager(new ServiceAddressOptions(), runner, new RecordingAnnouncer());

        var error = await Assert.ThrowsAsync<CommandFailedException>(() => manager.AcquireAsync(ServiceAddress.Parse("198.18.0.100/24"), "eth0"));

        Assert.Contains("ip -4 addr add 198.18.0.100/24 dev eth0", error.Message, StringComparison.Ordinal);
        Assert.Contains("Operation not permitted", error.Message, StringComparison.Ordinal);
        Assert.Empty(manager.Held);
    }

    [Fact]
    public async Task Removing_an_absent_address_is_already_absent_and_a_stuck_one_is_an_error()
    {
        var runner = new FakeRunner();
        runner.On("addr del", 2, "", "Error: ipv4: Address not found.");
        runner.On("addr show", 0, Addresses("198.18.0.11/24"));
        await using var manager = new ServiceAddressManager(new ServiceAddressOptions(), runner, new RecordingAnnouncer());

        Assert.Equal(AddressChange.AlreadyAbsent, await manager.ReleaseAsync(ServiceAddress.Parse("198.18.0.100/24"), "eth0"));

        runner.On("addr show", 0, Addresses("198.18.0.11/24", "198.18.0.100/24"));
        runner.On("addr del", 2, "", "RTNETLINK answers: Operation not permitted");
        var error = await Assert.ThrowsAsync<CommandFailedException>(() => manager.ReleaseAsync(ServiceAddress.Parse("198.18.0.100/24"), "eth0"));
        Assert.Contains("Operation not permitted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Release_stops_the_announcements_of_that_address()
    {
        var runner = new FakeRunner();
        runner.On("link show", 0, Link);
        runner.On("addr add", 0, "");
        runner.On("addr del", 0, "");
        var announcer = new RecordingAnnouncer();
        var schedule = new[] { TimeSpan.Zero, TimeSpan.FromSeconds(30) };
        await using var manager = new ServiceAddressManager(new ServiceAddressOptions { AnnouncementSchedule = schedule }, runner, announcer);
        var vip = ServiceAddress.Parse("198.18.0.100/32");

        await manager.AcquireAsync(vip, "eth0");
        Assert.Equal(AddressChange.Removed, await manager.ReleaseAsync(vip, "eth0"));
        await Task.Delay(50);

        Assert.Single(announcer.Sent);
        Assert.Empty(manager.Held);
    }

    [Fact]
    public async Task Release_all_tries_every_address_and_reports_failures_together()
    {
        var runner = new FakeRunner();
        runner.On("link show", 0, Link);
        runner.On("addr add", 0, "");
        await using var manager = new ServiceAddressManager(new ServiceAddressOptions { AnnouncementSchedule = [] }, runner, new RecordingAnnouncer());
        await manager.AcquireAsync(ServiceAddress.Parse("198.18.0.100/32"), "eth0");
        await manager.AcquireAsync(ServiceAddress.Parse("198.18.0.101/32"), "eth0");
        runner.On("addr del 198.18.0.100", 0, "");
        runner.On("addr del 198.18.0.101", 2, "", "RTNETLINK answers: Operation not permitted");
        runner.On("addr show", 0, Addresses("198.18.0.101/32"));

        var error = await Assert.ThrowsAsync<AggregateException>(() => manager.ReleaseAllAsync());

        Assert.Single(error.InnerExceptions);
        Assert.Contains(runner.Calls, c => c.Contains("addr del 198.18.0.100/32", StringComparison.Ordinal));
        Assert.Equal([new HeldAddress(ServiceAddress.Parse("198.18.0.101/32"), "eth0")], manager.Held);
    }

    [Fact]
    public async Task A_failing_announcement_is_reported_but_the_address_is_held()
    {
        var runner = new FakeRunner();
        runner.On("link show", 0, Link);
        runner.On("addr add", 0, "");
        var announcer = new RecordingAnnouncer { Fail = true };
        await using var manager = new ServiceAddressManager(new ServiceAddressOptions { AnnouncementSchedule = [TimeSpan.Zero] }, runner, announcer);

        var result = await manager.AcquireAsync(ServiceAddress.Parse("198.18.0.100/32"), "eth0");

        Assert.NotNull(result.AnnouncementFailure);
        Assert.Equal(1, manager.AnnouncementFailures);
        Assert.Single(manager.Held);
    }

    [Fact]
    public async Task Command_runner_reports_exit_code_output_and_timeouts()
    {
        var ok = await CommandRunner.Instance.RunAsync("sh", ["-c", "echo out; echo err >&2; exit 3"], TimeSpan.FromSeconds(10));
        Assert.Equal(3, ok.ExitCode);
        Assert.Equal("out\n", ok.StandardOutput);
        Assert.Equal("err\n", ok.StandardError);
        Assert.Equal("sh -c 'echo out; echo err >&2; exit 3'", ok.CommandLine);

        var checkedError = await Assert.ThrowsAsync<CommandFailedException>(() => CommandRunner.Instance.RunCheckedAsync("sh", ["-c", "echo boom >&2; exit 1"], TimeSpan.FromSeconds(10)));
        Assert.Contains("boom", checkedError.Message, StringComparison.Ordinal);

        var timeout = await Assert.ThrowsAsync<CommandFailedException>(() => CommandRunner.Instance.RunAsync("sleep", ["10"], TimeSpan.FromMilliseconds(200)));
        Assert.Contains("did not finish within 200 ms", timeout.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<CommandFailedException>(() => CommandRunner.Instance.RunAsync("/nonexistent/tool", [], TimeSpan.FromSeconds(1)));
        Assert.Contains("cannot start", missing.Message, StringComparison.Ordinal);
    }

    private sealed class FakeRunner : ICommandRunner
    {
        private readonly List<(string Match, CommandResult Result)> _rules = [];

        public List<string> Calls { get; } = [];

        /// <summary>Commands containing <paramref name="match"/> get this result (the latest rule wins).</summary>
        public void On(string match, int exitCode, string stdout, string stderr = "")
            => _rules.Insert(0, (match, new CommandResult("", exitCode, stdout, stderr)));

        public Task<CommandResult> RunAsync(string fileName, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            var line = CommandRunner.FormatCommandLine(fileName, arguments);
            lock (Calls)
            {
                Calls.Add(line);
            }
            foreach (var (match, result) in _rules)
            {
                if (line.Contains(match, StringComparison.Ordinal))
                {
                    return Task.FromResult(result with { CommandLine = line });
                }
            }
            throw new InvalidOperationException($"unexpected command {line}");
        }
    }

    private sealed class RecordingAnnouncer : IAddressAnnouncer
    {
        public bool Fail { get; init; }

        public List<(ServiceAddress Address, LinkInfo Link)> Sent { get; } = [];

        public void Announce(ServiceAddress address, LinkInfo link)
        {
            if (Fail)
            {
                throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.NetworkDown);
            }
            lock (Sent)
            {
                Sent.Add((address, link));
            }
        }
    }
}

public sealed class ServiceAddressParsingTests
{
    [Theory]
    [InlineData("198.18.0.100/24", "198.18.0.100/24")]
    [InlineData("198.18.0.100", "198.18.0.100/32")]
    [InlineData("2001:db8::10/64", "2001:db8::10/64")]
    [InlineData("2001:db8::10", "2001:db8::10/128")]
    public void Parses_address_and_prefix(string text, string expected)
        => Assert.Equal(expected, ServiceAddress.Parse(text).ToString());

    [Theory]
    [InlineData("")]
    [InlineData("198.18.0.100/33")]
    [InlineData("198.18.0.100/-1")]
    [InlineData("198.18.0.100/")]
    [InlineData("fe80::1%2/64")]
    [InlineData("::ffff:198.18.0.1")]
    [InlineData("not-an-address")]
    public void Rejects_malformed(string text) => Assert.False(ServiceAddress.TryParse(text, out _));

    [Fact]
    public void Parses_ip_json_output()
    {
        const string json = """
            [{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo"}]},
             {"ifindex":3,"link":"d1","ifname":"eth0","flags":["BROADCAST","UP"],"address":"aa:52:19:d5:22:17","addr_info":[
               {"family":"inet","local":"198.18.0.11","prefixlen":24,"scope":"global","label":"eth0"},
               {"family":"inet","local":"198.18.0.100","prefixlen":24,"scope":"global","secondary":true,"label":"eth0"},
               {"family":"inet6","local":"2001:db8::10","prefixlen":64,"scope":"global","tentative":true}]}]
            """;
        var list = IpRoute2.ParseAddresses(json);
        Assert.Equal(4, list.Count);
        Assert.Equal(new InterfaceAddress("eth0", 3, ServiceAddress.Parse("198.18.0.100/24"), true, "eth0", false), list[2]);
        Assert.True(list[3].Tentative);
        Assert.Empty(IpRoute2.ParseAddresses(""));

        var link = IpRoute2.ParseLink("""[{"ifindex":3,"ifname":"eth0","flags":["NO-CARRIER","BROADCAST","UP"],"operstate":"LOWERLAYERDOWN","address":"aa:52:19:d5:22:17"}]""", "eth0");
        Assert.Equal(new LinkInfo("eth0", 3, PhysicalAddress.Parse("AA-52-19-D5-22-17"), "LOWERLAYERDOWN", true), link);
        Assert.Throws<InvalidOperationException>(() => IpRoute2.ParseMac("00:00:00:00", "tun0"));
    }
}

public sealed class AnnouncementFrameTests
{
    [Fact]
    public void Gratuitous_arp_is_a_broadcast_request_for_the_address_itself()
    {
        var frame = RawSocketAnnouncer.BuildGratuitousArp(PhysicalAddress.Parse("02-00-00-00-00-07"), IPAddress.Parse("198.18.0.100"));
        Assert.Equal(
            "FFFFFFFFFFFF" + "020000000007" + "0806" + "0001" + "0800" + "06" + "04" + "0001"
            + "020000000007" + "C6120064" + "000000000000" + "C6120064" + new string('0', 36),
            Convert.ToHexString(frame));
    }

    [Fact]
    public void Unsolicited_neighbour_advertisement_overrides_and_carries_the_mac()
    {
        var message = RawSocketAnnouncer.BuildUnsolicitedNeighborAdvertisement(PhysicalAddress.Parse("02-00-00-00-00-07"), IPAddress.Parse("2001:db8::10"));
        Assert.Equal(
            "88" + "00" + "0000" + "20000000" + "20010DB8000000000000000000000010" + "02" + "01" + "020000000007",
            Convert.ToHexString(message));
    }

    [Fact]
    public void Link_layer_endpoint_serializes_sockaddr_ll()
    {
        var endPoint = new LinkLayerEndPoint(7, 0x0806, PhysicalAddress.Parse("FF-FF-FF-FF-FF-FF"));
        var serialized = endPoint.Serialize();
        Assert.Equal(20, serialized.Size);
        var bytes = serialized.Buffer.Span;
        Assert.Equal(17, bytes[0]); // AF_PACKET
        Assert.Equal([0x08, 0x06], bytes[2..4].ToArray());
        Assert.Equal(7, BitConverter.ToInt32(bytes[4..8]));
        Assert.Equal(6, bytes[11]);
        var back = (LinkLayerEndPoint)endPoint.Create(serialized);
        Assert.Equal(7, back.InterfaceIndex);
        Assert.Equal(0x0806, back.Protocol);
        Assert.Equal(endPoint.Address, back.Address);
    }
}
