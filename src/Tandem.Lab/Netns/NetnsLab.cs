using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tandem.Cluster.Addresses;

namespace Tandem.Lab.Netns;

/// <summary>
/// A throw-away Ethernet segment built from Linux network namespaces:
/// <code>
///   [client ns] eth0 ─veth─ p-client ┐
///   [a ns]      eth0 ─veth─ p-a      ├─ br0   (in the "switch" namespace)
///   [b ns]      eth0 ─veth─ p-b      ┘
/// </code>
/// Every namespace is named <c>tdm-&lt;unix seconds&gt;-&lt;6 hex&gt;-&lt;role&gt;</c> (<c>tdl-</c> for the failover lab; <see cref="RunId"/> is the part
/// before the role), so parallel runs never collide and leftovers of a crashed run are recognisable:
/// <see cref="CreateAsync"/> first deletes namespaces of that pattern older than <see cref="LeftoverAge"/>.
/// IPv6 is disabled in all of them and only addresses from 198.18.0.0/15 are used, so nothing but the
/// test's own IPv4 traffic exists on the segment and nothing leaves it (the segment has no link to the
/// root namespace). <see cref="DisposeAsync"/> kills the processes started in the namespaces and deletes
/// the namespaces (which destroys their veths and the bridge); it never throws.
/// Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2; <see cref="CreateAsync"/> fails with a clear
/// message otherwise.
/// </summary>
public sealed partial class NetnsLab : IAsyncDisposable
{
    /// <summary>Namespaces of this pattern older than this are leftovers of an earlier run (a test class takes &lt; 1 min).</summary>
    public static readonly TimeSpan LeftoverAge = TimeSpan.FromMinutes(3);

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly List<NetnsHost> _hosts = [];
    private readonly List<NetnsProcess> _processes = [];
    private readonly List<string> _namespaces = [];
    private readonly Action<string>? _log;

    private NetnsLab(string runId, Action<string>? log)
    {
        RunId = runId;
        SwitchNamespace = runId + "-sw";
        _log = log;
        // Held (flock) while the lab lives: the leftover sweep of other runs skips it, however old it is.
        Directory.CreateDirectory(LockDirectory);
        _lock = new FileStream(LockPath(runId), FileMode.Create, FileAccess.ReadWrite, FileShare.None);
    }

    /// <summary>Where running labs keep their lock files (<c>{RunId}.lock</c>).</summary>
    public static string LockDirectory { get; } = Path.Combine(Path.GetTempPath(), "tandem-netns-labs");

    private static string LockPath(string runId) => Path.Combine(LockDirectory, runId + ".lock");

    private FileStream? _lock;

    /// <summary>Whether the run that created these namespaces still holds its lock (it is alive, not a leftover).</summary>
    private static bool IsHeldByLiveRun(string runId)
    {
        var path = LockPath(runId);
        if (!File.Exists(path))
        {
            return false;
        }
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true; // locked by the run that made it
        }
    }

    /// <summary>"tdm-&lt;unix seconds&gt;-&lt;6 hex&gt;", the prefix of every namespace of this lab.</summary>
    public string RunId { get; }

    /// <summary>The namespace holding the bridge <c>br0</c> that joins the hosts.</summary>
    public string SwitchNamespace { get; }

    public IReadOnlyList<NetnsHost> Hosts => _hosts;

    /// <summary>Checks root and <c>ip netns</c>, removes leftovers of old runs, and creates the switch namespace and bridge.
    /// <paramref name="prefix"/> starts every namespace name: "tdm" (tests), "tdl" (the failover lab, which runs for
    /// hours: builds without the lock files sweep only "tdm" namespaces older than <see cref="LeftoverAge"/>).</summary>
    public static async Task<NetnsLab> CreateAsync(Action<string>? log = null, string prefix = "tdm")
    {
        if (prefix is not ("tdm" or "tdl"))
        {
            throw new ArgumentException($"prefix '{prefix}' must be tdm or tdl", nameof(prefix));
        }
        await RequireNetnsAsync();
        await CleanupLeftoversAsync(LeftoverAge, log);
        var runId = $"{prefix}-{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        var lab = new NetnsLab(runId, log);
        try
        {
            await lab.CreateNamespaceAsync(lab.SwitchNamespace);
            await IpAsync(lab.SwitchNamespace, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0");
            await IpAsync(lab.SwitchNamespace, "link", "set", "br0", "up");
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
        log?.Invoke($"netns lab {runId}: switch {lab.SwitchNamespace}");
        return lab;
    }

    /// <summary>
    /// Adds a host: namespace <c>{RunId}-{role}</c> with <c>lo</c> up and <c>eth0</c> (a veth whose other end
    /// <c>p-{role}</c> is a port of the bridge) holding <paramref name="address"/> (e.g. "198.18.0.11/24", or null for none).
    /// </summary>
    public async Task<NetnsHost> AddHostAsync(string role, string? address)
    {
        if (!RoleRegex().IsMatch(role))
        {
            throw new ArgumentException($"role '{role}' must be 1-12 of [a-z0-9] (it names the switch port p-{role})", nameof(role));
        }
        ServiceAddress? parsed = null;
        if (address is not null)
        {
            parsed = ServiceAddress.Parse(address);
            if (!IsLabAddress(parsed.Value.Address))
            {
                throw new ArgumentException($"{address}: the lab uses addresses from 198.18.0.0/15 only", nameof(address));
            }
        }
        var ns = $"{RunId}-{role}";
        var port = $"p-{role}";
        await CreateNamespaceAsync(ns);
        // Created in the switch namespace with its peer placed straight into the host's: no name ever exists in the root namespace.
        await IpAsync(SwitchNamespace, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
        await IpAsync(SwitchNamespace, "link", "set", port, "master", "br0", "up");
        if (parsed is not null)
        {
            await IpAsync(ns, "-4", "addr", "add", parsed.Value.ToString(), "dev", "eth0");
        }
        await IpAsync(ns, "link", "set", "eth0", "up");
        var link = await IpAsync(ns, "-j", "link", "show", "dev", "eth0");
        using var json = JsonDocument.Parse(link.StandardOutput);
        var mac = PhysicalAddress.Parse(json.RootElement[0].GetProperty("address").GetString()!.Replace(':', '-'));
        var host = new NetnsHost(this, role, ns, port, parsed?.Address, mac);
        _hosts.Add(host);
        _log?.Invoke($"netns lab {RunId}: host {role} = {ns}, eth0 {address ?? "(no address)"} {host.MacText}");
        return host;
    }

    /// <summary>Takes the switch port of <paramref name="host"/> down (its eth0 loses carrier: a cut cable) or up again;
    /// up waits until both ends carry traffic (see <see cref="WaitForLinksAsync"/>).</summary>
    public async Task SetPortAsync(NetnsHost host, bool up)
    {
        ArgumentNullException.ThrowIfNull(host);
        await IpAsync(SwitchNamespace, "link", "set", host.SwitchPort, up ? "up" : "down");
        if (up)
        {
            await WaitForLinksAsync([host]);
        }
    }

    /// <summary>
    /// Waits until eth0 of every host (default: all) and its switch port are operationally UP. A new veth drops
    /// what it is given until the kernel's link watcher has processed its carrier (up to about a second after
    /// <c>ip link set up</c>), so call this after adding hosts and before measuring anything.
    /// </summary>
    public async Task WaitForLinksAsync(IEnumerable<NetnsHost>? hosts = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        foreach (var host in (hosts ?? _hosts).ToList())
        {
            while (!(await IsOperUpAsync(host.Namespace, host.Interface) && await IsOperUpAsync(SwitchNamespace, host.SwitchPort)))
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"netns lab {RunId}: link of {host.Role} ({host.Namespace} {host.Interface} / {SwitchNamespace} {host.SwitchPort}) not UP in time");
                }
                await Task.Delay(10);
            }
        }
    }

    private static async Task<bool> IsOperUpAsync(string ns, string link)
    {
        var result = await IpAsync(ns, "-j", "link", "show", "dev", link);
        using var json = JsonDocument.Parse(result.StandardOutput);
        return json.RootElement[0].GetProperty("operstate").GetString() == "UP";
    }

    /// <summary>Whether <paramref name="address"/> lies in 198.18.0.0/15, the only range the lab may use.</summary>
    public static bool IsLabAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            return false;
        }
        var bytes = address.GetAddressBytes();
        return bytes[0] == 198 && (bytes[1] & 0xfe) == 18;
    }

    /// <summary>Starts <c>ip netns exec NS file args…</c>; the process is killed when the lab is disposed.</summary>
    internal NetnsProcess Start(string ns, string fileName, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment)
    {
        var process = NetnsProcess.Start(ns, fileName, arguments, environment);
        lock (_processes)
        {
            _processes.Add(process);
        }
        _log?.Invoke($"netns lab {RunId}: started pid {process.Pid}: {process.CommandLine}");
        return process;
    }

    /// <summary>Runs <c>ip -n NS args…</c>; throws with the command and stderr if it fails.</summary>
    public static Task<CommandResult> IpAsync(string ns, params string[] args)
        => CommandRunner.Instance.RunCheckedAsync("ip", ["-n", ns, .. args], Timeout);

    /// <summary>Runs <c>ip netns exec NS file args…</c> to completion; throws if it fails.</summary>
    public static Task<CommandResult> ExecAsync(string ns, string fileName, params string[] args)
        => CommandRunner.Instance.RunCheckedAsync("ip", ["netns", "exec", ns, fileName, .. args], Timeout);

    public async ValueTask DisposeAsync()
    {
        List<NetnsProcess> processes;
        lock (_processes)
        {
            processes = [.. _processes];
            _processes.Clear();
        }
        foreach (var process in processes)
        {
            await process.DisposeAsync();
        }
        // Hosts first, the switch (created first) last; each namespace's remaining processes are killed before it goes.
        List<string> namespaces;
        lock (_namespaces)
        {
            namespaces = [.. Enumerable.Reverse(_namespaces)];
            _namespaces.Clear();
        }
        _hosts.Clear();
        foreach (var ns in namespaces)
        {
            await DeleteNamespaceAsync(ns, _log);
        }
        if (_lock is not null)
        {
            await _lock.DisposeAsync();
            _lock = null;
            File.Delete(LockPath(RunId));
        }
        _log?.Invoke($"netns lab {RunId}: torn down");
    }

    /// <summary>
    /// Fails with a clear message unless this process is root and <c>ip netns</c> works
    /// (the integration tests need real namespaces; CI runs them as root).
    /// </summary>
    public static async Task RequireNetnsAsync()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException("the network-namespace tests need Linux");
        }
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("the network-namespace tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN to run `ip netns add`); run them as root, as CI does");
        }
        CommandResult result;
        try
        {
            result = await CommandRunner.Instance.RunAsync("ip", ["netns", "list"], Timeout);
        }
        catch (CommandFailedException e)
        {
            throw new InvalidOperationException($"the network-namespace tests need iproute2's `ip` (Debian package iproute2): {e.Message}", e);
        }
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"`ip netns list` failed ({result.ExitCode}): {result.StandardError.Trim()}");
        }
    }

    /// <summary>The names of all namespaces with this harness's naming pattern, with their creation time from the name.</summary>
    public static async Task<List<(string Name, DateTimeOffset Created)>> ListLabNamespacesAsync()
    {
        var result = await CommandRunner.Instance.RunCheckedAsync("ip", ["netns", "list"], Timeout);
        var list = new List<(string, DateTimeOffset)>();
        foreach (var line in result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = line.Split(' ', 2)[0];
            var match = NamespaceRegex().Match(name);
            if (match.Success)
            {
                list.Add((name, DateTimeOffset.FromUnixTimeSeconds(long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture))));
            }
        }
        return list;
    }

    /// <summary>Deletes namespaces of this harness's pattern created more than <paramref name="olderThan"/> ago
    /// (killing what runs in them), i.e. what crashed earlier runs left; younger ones may belong to a run in progress.</summary>
    public static async Task<int> CleanupLeftoversAsync(TimeSpan olderThan, Action<string>? log = null)
    {
        var cutoff = DateTimeOffset.UtcNow - olderThan;
        var removed = 0;
        foreach (var (name, created) in await ListLabNamespacesAsync())
        {
            if (created < cutoff && !IsHeldByLiveRun(RunIdOf(name)))
            {
                log?.Invoke($"netns lab: removing leftover namespace {name} (created {created:u})");
                await DeleteNamespaceAsync(name, log);
                removed++;
            }
        }
        return removed;
    }

    private static async Task DeleteNamespaceAsync(string ns, Action<string>? log)
    {
        try
        {
            var pids = await CommandRunner.Instance.RunAsync("ip", ["netns", "pids", ns], Timeout);
            foreach (var pid in pids.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                // Only processes inside this run's namespace: by PID, never by name.
                await CommandRunner.Instance.RunAsync("kill", ["-9", pid], Timeout);
            }
            var deleted = await CommandRunner.Instance.RunAsync("ip", ["netns", "del", ns], Timeout);
            if (!deleted.Succeeded && !deleted.StandardError.Contains("No such file", StringComparison.Ordinal))
            {
                log?.Invoke($"netns lab: could not delete {ns}: {deleted.StandardError.Trim()}");
            }
        }
        catch (CommandFailedException e)
        {
            log?.Invoke($"netns lab: could not delete {ns}: {e.Message}");
        }
    }

    private async Task CreateNamespaceAsync(string ns)
    {
        await CommandRunner.Instance.RunCheckedAsync("ip", ["netns", "add", ns], Timeout);
        // Registered for teardown before anything else can fail.
        lock (_namespaces)
        {
            _namespaces.Add(ns);
        }
        // No IPv6 (no link-local addresses, router solicitations or MLD): the segment carries only the test's IPv4.
        // New interfaces inherit "default", so this comes before any veth exists.
        await ExecAsync(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        await IpAsync(ns, "link", "set", "lo", "up");
    }

    [GeneratedRegex("^[a-z0-9]{1,12}$")]
    private static partial Regex RoleRegex();

    /// <summary>"tdm-1796316902-0a974a-client" → "tdm-1796316902-0a974a".</summary>
    private static string RunIdOf(string name) => name[..name.LastIndexOf('-')];

    [GeneratedRegex("^(tdm|tdl)-([0-9]{9,12})-[0-9a-f]{6}-[a-z0-9]+$")]
    private static partial Regex NamespaceRegex();
}
