using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Tandem.Cluster.Addresses;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover.Kamailio;

/// <summary>
/// The classic HA design as a lab system: on each of nodes a and b (network namespaces of a <see cref="NetnsLab"/>)
/// a Kamailio registrar/proxy with digest auth that replicates registrations to the other node with DMQ +
/// dmq_usrloc, and keepalived moving the service address (VIP) between them with VRRP. Both Kamailios listen on
/// their own address and on the VIP (IP_FREEBIND), so whichever node holds the VIP serves it.
/// <para>
/// Typical use: <c>await using var system = await KamailioKeepalivedSystem.CreateAsync(lab, new() { AdvertInterval =
/// KamailioLabOptions.MinimumAdvertInterval });</c> then <c>await system.StartAsync(ct)</c>. The lab drives the
/// failures through <see cref="ILabSystem"/>; <see cref="DisposeAsync"/> kills every process it started, by PID,
/// removes the VIP from the nodes and deletes the temp files, leaving the hosts reusable for the next system.
/// </para>
/// Needs the Debian packages kamailio (its base package holds dmq, dmq_usrloc, htable, auth, ctl and kamcmd) and
/// keepalived; <see cref="StartAsync"/> fails with a message naming the missing one.
/// </summary>
public sealed class KamailioKeepalivedSystem : ILabSystem
{
    /// <summary>Default own addresses of the nodes when <see cref="CreateAsync"/> has to add them to the lab.</summary>
    public const string DefaultAddressA = "198.18.0.11/24";

    public const string DefaultAddressB = "198.18.0.12/24";

    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(100);
    private readonly NetnsLab _lab;
    private readonly KamailioLabOptions _options;
    private readonly Node[] _nodes;
    private readonly Action<string>? _log;
    private readonly bool _ownsWorkDirectory;
    private readonly string _work;
    private bool _filesWritten;

    /// <summary>
    /// The system on hosts <paramref name="a"/> (preferred: higher VRRP priority) and <paramref name="b"/> of
    /// <paramref name="lab"/>; both need an own address on the VIP's subnet. Nothing starts before <see cref="StartAsync"/>.
    /// </summary>
    public KamailioKeepalivedSystem(NetnsLab lab, NetnsHost a, NetnsHost b, KamailioLabOptions options, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (a.Address is null || b.Address is null)
        {
            throw new ArgumentException("nodes a and b need their own addresses (DMQ and VRRP run between them)");
        }
        _lab = lab;
        _options = options;
        _log = log;
        _ownsWorkDirectory = options.WorkDirectory is null;
        _work = options.WorkDirectory ?? Directory.CreateTempSubdirectory("tandem-lab-kamailio-").FullName;
        _nodes =
        [
            new Node(a, b.Address, preferred: true, options.Priorities.A, Path.Combine(_work, a.Role)),
            new Node(b, a.Address, preferred: false, options.Priorities.B, Path.Combine(_work, b.Role)),
        ];
        Nodes = [a.Role, b.Role];
    }

    /// <summary>
    /// Factory for the lab: uses the lab's hosts "a" and "b", adding them (with <see cref="DefaultAddressA"/> and
    /// <see cref="DefaultAddressB"/>) if the lab has none of that role yet, and waits for their links.
    /// </summary>
    public static async Task<KamailioKeepalivedSystem> CreateAsync(NetnsLab lab, KamailioLabOptions? options = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(lab);
        var a = lab.Hosts.FirstOrDefault(h => h.Role == "a") ?? await lab.AddHostAsync("a", DefaultAddressA);
        var b = lab.Hosts.FirstOrDefault(h => h.Role == "b") ?? await lab.AddHostAsync("b", DefaultAddressB);
        await lab.WaitForLinksAsync([a, b]);
        return new KamailioKeepalivedSystem(lab, a, b, options ?? new KamailioLabOptions(), log);
    }

    public string Name => _options.EffectiveName;

    public IPAddress ServiceAddress => _options.ServiceAddress;

    public int SipPort => _options.SipPort;

    public string Domain => _options.Domain;

    public IReadOnlyList<string> Nodes { get; }

    public IReadOnlyList<(string User, string Password)> Users => _options.Users;

    public KamailioLabOptions Options => _options;

    private IPEndPoint ServiceEndPoint => new(_options.ServiceAddress, _options.SipPort);

    /// <summary>Starts Kamailio on a, then on b (so b's DMQ notification finds a), then keepalived on a and b;
    /// returns once the VIP answers OPTIONS and exactly one node holds it.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        RequireBinaries();
        await WriteFilesAsync();
        foreach (var node in _nodes)
        {
            await RemoveServiceAddressAsync(node);
        }
        foreach (var node in _nodes)
        {
            await StartKamailioAsync(node, cancellationToken);
        }
        await WaitForDmqPeersAsync(cancellationToken);
        foreach (var node in _nodes)
        {
            StartKeepalived(node);
            if (node.Preferred)
            {
                // The other node starts once this one holds the address, so it joins as the backup.
                await WaitForHoldersAsync([node.Name], cancellationToken);
            }
        }
        await WaitForServiceAsync([_nodes[0].Name], cancellationToken);
        foreach (var node in _nodes)
        {
            node.Remember();
        }
        _log?.Invoke($"{Name}: started, {_nodes[0].Name} holds {ServiceAddress}");
    }

    public async Task<IReadOnlyList<string>> HoldersAsync(CancellationToken cancellationToken)
    {
        var holders = new List<string>();
        foreach (var node in _nodes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await HasServiceAddressAsync(node))
            {
                holders.Add(node.Name);
            }
        }
        return holders;
    }

    /// <summary>kill -9 of keepalived (parent and VRRP child) and Kamailio (main and every worker) of the node. All are
    /// first stopped (SIGSTOP), then killed, so none reacts to another's death: keepalived's VRRP child would
    /// otherwise get SIGTERM from its dying parent and send a priority-0 advert, i.e. a graceful handover.</summary>
    public async Task CrashAsync(string node)
    {
        var n = Find(node);
        // The processes remembered at start first: a scan of /proc can take hundreds of ms on a busy machine.
        var known = n.KnownPids();
        ProcessTree.Signal(known, ProcessTree.SigStop);
        LastCrashStoppedAt = Stopwatch.GetTimestamp();
        var pids = n.AllPids(); // anything started since (normally nothing)
        ProcessTree.Signal(pids, ProcessTree.SigStop);
        if (known.Count == 0)
        {
            LastCrashStoppedAt = Stopwatch.GetTimestamp();
        }
        pids = [.. pids.Union(known).Union(n.AllPids())];
        ProcessTree.Signal(pids, ProcessTree.SigKill);
        n.Frozen.Clear();
        if (!await ProcessTree.WaitGoneAsync(pids, TimeSpan.FromSeconds(5)))
        {
            throw new InvalidOperationException($"{Name}: processes of {node} still alive 5 s after kill -9: {string.Join(' ', pids.Where(ProcessTree.IsAlive))}");
        }
        _log?.Invoke($"{Name}: crashed {node} (kill -9 of {pids.Count} processes)");
    }

    /// <summary>
    /// <see cref="Stopwatch.GetTimestamp"/> of the moment the last <see cref="CrashAsync"/> had stopped every process of
    /// the node: from then on the node answers nothing. CrashAsync returns later (the kernel takes tens of ms, on a busy
    /// machine hundreds, to tear down a dozen Kamailio processes with their shared memory), so a gap measured from its
    /// return would leave out part of the outage.
    /// </summary>
    public long LastCrashStoppedAt { get; private set; }

    /// <summary>SIGSTOP of every process of the node: keepalived stops advertising, Kamailio stops answering, the VIP stays configured.</summary>
    public Task FreezeAsync(string node)
    {
        var n = Find(node);
        var known = n.KnownPids();
        ProcessTree.Signal(known, ProcessTree.SigStop);
        var pids = known.Union(n.AllPids()).ToList();
        ProcessTree.Signal(pids, ProcessTree.SigStop);
        n.Frozen.AddRange(pids);
        _log?.Invoke($"{Name}: froze {node} ({pids.Count} processes)");
        return Task.CompletedTask;
    }

    public Task ThawAsync(string node)
    {
        var n = Find(node);
        ProcessTree.Signal(n.Frozen, ProcessTree.SigCont);
        _log?.Invoke($"{Name}: thawed {node} ({n.Frozen.Count} processes)");
        n.Frozen.Clear();
        return Task.CompletedTask;
    }

    /// <summary>SIGTERM to keepalived (it sends a priority-0 advert and removes the VIP: the backup takes over after
    /// its skew time), then to Kamailio (its main process stops the workers); returns when all have exited.</summary>
    public async Task StopAsync(string node, CancellationToken cancellationToken)
    {
        var n = Find(node);
        ProcessTree.Signal(n.Frozen, ProcessTree.SigCont);
        n.Frozen.Clear();
        await TerminateAsync(n, n.Keepalived, "keepalived");
        await TerminateAsync(n, n.Kamailio, "kamailio");
        _log?.Invoke($"{Name}: stopped {node}");
    }

    /// <summary>
    /// Starts a crashed or stopped node again: kills what is left of it, removes a leftover VIP from its namespace
    /// (a crashed node never removed it), starts Kamailio and waits until DMQ has copied the peer's registrations,
    /// then keepalived; returns once one node holds the VIP (a with preempt, else the current holder) and it answers.
    /// </summary>
    public async Task RestartAsync(string node, CancellationToken cancellationToken)
    {
        var n = Find(node);
        var leftovers = n.AllPids();
        ProcessTree.Signal(leftovers, ProcessTree.SigKill);
        await ProcessTree.WaitGoneAsync(leftovers, TimeSpan.FromSeconds(5));
        n.Frozen.Clear();
        await RemoveServiceAddressAsync(n);
        var peer = _nodes.First(x => x != n);
        var peerRunning = peer.Kamailio is { HasExited: false };
        await StartKamailioAsync(n, cancellationToken);
        if (peerRunning)
        {
            await WaitForDmqPeersAsync(cancellationToken);
            await WaitForSyncAsync(n, peer, cancellationToken);
        }
        var holdersBefore = await HoldersAsync(cancellationToken);
        StartKeepalived(n);
        string expected;
        if (!peerRunning || peer.Keepalived is not { HasExited: false })
        {
            expected = n.Name;
        }
        else if (_options.Preempt)
        {
            expected = n.Preferred ? n.Name : peer.Name;
        }
        else
        {
            expected = holdersBefore.Count == 1 ? holdersBefore[0] : n.Name;
        }
        await WaitForServiceAsync([expected], cancellationToken);
        n.Remember();
        _log?.Invoke($"{Name}: restarted {node}; {expected} holds {ServiceAddress}");
    }

    /// <summary>
    /// With preempt and both keepalived running, waits until the preferred node alone holds the VIP and it answers:
    /// after a link comes back up the preferred node stays backup for a whole master-down interval (3 adverts plus
    /// skew) before it takes the address back, which would otherwise land in the middle of the next run.
    /// </summary>
    public async Task SettleAsync(CancellationToken cancellationToken)
    {
        var preferred = _nodes.First(n => n.Preferred);
        if (!_options.Preempt || _nodes.Any(n => n.Keepalived is not { HasExited: false } || n.Kamailio is not { HasExited: false }))
        {
            return;
        }
        await WaitForServiceAsync([preferred.Name], cancellationToken);
    }

    /// <summary>Contacts in the node's location table (kamcmd ul.dump): shows what DMQ replicated.</summary>
    public async Task<int> ContactCountAsync(string node, CancellationToken cancellationToken = default)
    {
        var result = await CommandRunner.Instance.RunAsync(_options.KamcmdBinary, ["-s", "unix:" + Find(node).CtlSocket, "ul.dump"], TimeSpan.FromSeconds(5), cancellationToken);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"kamcmd ul.dump on {node} failed ({result.ExitCode}): {result.StandardError.Trim()} {result.StandardOutput.Trim()}");
        }
        var count = 0;
        foreach (var line in result.StandardOutput.Split('\n'))
        {
            // Each contact is a "Contact: { Address: sip:... Expires: ... }" block in kamcmd's output.
            if (line.TrimStart().StartsWith("Address:", StringComparison.Ordinal))
            {
                count++;
            }
        }
        return count;
    }

    /// <summary>Everything the node's Kamailio and keepalived wrote so far (for failure messages).</summary>
    public string Output(string node)
    {
        var n = Find(node);
        return $"--- kamailio {node} ---\n{n.Kamailio?.Output}\n--- keepalived {node} ---\n{n.Keepalived?.Output}";
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            try
            {
                var pids = node.AllPids();
                ProcessTree.Signal(pids, ProcessTree.SigKill);
                await ProcessTree.WaitGoneAsync(pids, TimeSpan.FromSeconds(5));
                foreach (var process in (NetnsProcess?[])[node.Kamailio, node.Keepalived])
                {
                    if (process is not null)
                    {
                        await process.DisposeAsync();
                    }
                }
                await RemoveServiceAddressAsync(node);
            }
            catch (Exception e)
            {
                _log?.Invoke($"{Name}: cleanup of {node.Name}: {e.Message}");
            }
        }
        if (_ownsWorkDirectory)
        {
            try
            {
                Directory.Delete(_work, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log?.Invoke($"{Name}: could not delete {_work}: {e.Message}");
            }
        }
    }

    private void RequireBinaries()
    {
        foreach (var (binary, package) in (ReadOnlySpan<(string, string)>)[(_options.KamailioBinary, "kamailio"), (_options.KamcmdBinary, "kamailio"), (_options.KeepalivedBinary, "keepalived")])
        {
            if (FindOnPath(binary) is null)
            {
                throw new InvalidOperationException($"{Name}: '{binary}' not found; install the Debian package '{package}' (apt-get install kamailio keepalived)");
            }
        }
    }

    internal static string? FindOnPath(string binary)
    {
        if (binary.Contains('/'))
        {
            return File.Exists(binary) ? binary : null;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            var path = Path.Combine(dir, binary);
            if (File.Exists(path))
            {
                return path;
            }
        }
        return null;
    }

    private async Task WriteFilesAsync()
    {
        if (_filesWritten)
        {
            return;
        }
        foreach (var node in _nodes)
        {
            Directory.CreateDirectory(node.Directory);
            var db = Directory.CreateDirectory(Path.Combine(node.Directory, "db")).FullName;
            Directory.CreateDirectory(node.RunDirectory);
            await File.WriteAllTextAsync(Path.Combine(db, "passwords"), KamailioLabConfigs.PasswordTable(_options));
            await File.WriteAllTextAsync(Path.Combine(db, "version"), KamailioLabConfigs.PasswordTableVersion);
            await File.WriteAllTextAsync(node.KamailioConfig, KamailioLabConfigs.Kamailio(_options, node.Host.Address!, node.PeerAddress, db, node.CtlSocket));
            await File.WriteAllTextAsync(node.KeepalivedConfig, KamailioLabConfigs.Keepalived(_options, node.Name, node.Preferred, node.Priority, node.Host.Address!, node.PeerAddress));
        }
        _filesWritten = true;
    }

    private async Task StartKamailioAsync(Node node, CancellationToken cancellationToken)
    {
        File.Delete(node.CtlSocket); // left behind by a crash
        // -DD: main process in the foreground (its PID is ours to signal) while it still forks workers; -E: log to
        // stderr (captured); -Y: runtime files in our directory, not /run/kamailio; small -m/-M: little memory.
        node.Kamailio = node.Host.Start(FindOnPath(_options.KamailioBinary)!,
            ["-f", node.KamailioConfig, "-DD", "-E", "-Y", node.RunDirectory, "-m", "64", "-M", "8"]);
        using var ping = new SipOptionsPing(node.Host);
        var own = new IPEndPoint(node.Host.Address!, _options.SipPort);
        var deadline = Stopwatch.StartNew();
        while (!await ping.TryAsync(own, ProbeInterval))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (node.Kamailio.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(20))
            {
                throw new InvalidOperationException($"{Name}: kamailio on {node.Name} does not answer OPTIONS on {own} ({(node.Kamailio.HasExited ? "exited " + node.Kamailio.ExitCode : "20 s")}):\n{node.Kamailio.Output}");
            }
        }
    }

    private void StartKeepalived(Node node)
    {
        // A crash leaves the pid files behind; keepalived takes a recycled PID in them for a running instance.
        foreach (var stale in (string[])[node.KeepalivedPidFile, node.VrrpPidFile])
        {
            File.Delete(stale);
        }
        // -n: no daemon (the parent stays ours; it still forks the VRRP child), -P: VRRP only, -l -D: detailed log to
        // stdout; own pid files (-p parent, -r VRRP child) so two instances on one machine do not see each other
        // as "already running" through the default /run/keepalived.pid.
        node.Keepalived = node.Host.Start(FindOnPath(_options.KeepalivedBinary)!,
            ["-n", "-P", "-l", "-D", "-f", node.KeepalivedConfig,
             "-p", node.KeepalivedPidFile, "-r", node.VrrpPidFile]);
    }

    /// <summary>Both Kamailios list the other as an active DMQ node (kamcmd dmq.list_nodes).</summary>
    private async Task WaitForDmqPeersAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        foreach (var node in _nodes)
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var result = await CommandRunner.Instance.RunAsync(_options.KamcmdBinary, ["-s", "unix:" + node.CtlSocket, "dmq.list_nodes"], TimeSpan.FromSeconds(5), cancellationToken);
                if (result.Succeeded && DmqListsActivePeer(result.StandardOutput, node.PeerAddress))
                {
                    break;
                }
                if (deadline.Elapsed > TimeSpan.FromSeconds(15))
                {
                    throw new InvalidOperationException($"{Name}: {node.Name} does not list {node.PeerAddress} as an active DMQ node within 15 s:\n{result.StandardOutput}{result.StandardError}\n{Output(node.Name)}");
                }
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    internal static bool DmqListsActivePeer(string listNodes, IPAddress peer)
    {
        // kamcmd prints one block per node: "host: 198.18.0.12" ... "status: active".
        var blocks = listNodes.Split('{');
        var host = "host: " + peer;
        return blocks.Any(b => b.Contains(host, StringComparison.Ordinal) && b.Contains("status: active", StringComparison.Ordinal));
    }

    /// <summary>Waits (bounded) until the restarted node's location table has as many contacts as the peer's:
    /// dmq_usrloc's start-up sync has copied them.</summary>
    private async Task WaitForSyncAsync(Node node, Node peer, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        int mine = 0, theirs = 0;
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            mine = await ContactCountAsync(node.Name, cancellationToken);
            theirs = await ContactCountAsync(peer.Name, cancellationToken);
            if (mine >= theirs)
            {
                _log?.Invoke($"{Name}: {node.Name} has {mine} contacts after DMQ sync ({peer.Name}: {theirs}), {deadline.ElapsedMilliseconds} ms");
                return;
            }
            await Task.Delay(100, cancellationToken);
        }
        _log?.Invoke($"{Name}: WARNING {node.Name} has {mine} contacts, {peer.Name} {theirs}, after 10 s of DMQ sync");
    }

    private async Task WaitForHoldersAsync(IReadOnlyList<string> expected, CancellationToken cancellationToken)
    {
        // Master_Down_Interval is 3 adverts + skew (< 1 advert); allow that plus start-up time.
        var limit = TimeSpan.FromSeconds(5) + (4 * _options.AdvertInterval);
        var deadline = Stopwatch.StartNew();
        IReadOnlyList<string> holders = [];
        while (deadline.Elapsed < limit)
        {
            holders = await HoldersAsync(cancellationToken);
            if (holders.SequenceEqual(expected))
            {
                return;
            }
            await Task.Delay(20, cancellationToken);
        }
        throw new InvalidOperationException($"{Name}: expected [{string.Join(", ", expected)}] to hold {ServiceAddress}, after {limit.TotalSeconds:0.#} s [{string.Join(", ", holders)}] do\n{string.Join('\n', _nodes.Select(n => Output(n.Name)))}");
    }

    /// <summary>The expected node alone holds the VIP and a SIP OPTIONS to it is answered.</summary>
    private async Task WaitForServiceAsync(IReadOnlyList<string> expected, CancellationToken cancellationToken)
    {
        await WaitForHoldersAsync(expected, cancellationToken);
        var prober = _lab.Hosts.FirstOrDefault(h => h.Address is not null && _nodes.All(n => n.Host != h))
            ?? _nodes.First(n => !expected.Contains(n.Name)).Host;
        using var ping = new SipOptionsPing(prober);
        var answered = await ping.WaitForAnswerAsync(ServiceEndPoint, TimeSpan.FromSeconds(10), ProbeInterval, cancellationToken);
        if (answered is null)
        {
            throw new InvalidOperationException($"{Name}: {ServiceEndPoint} does not answer OPTIONS from {prober.Role} within 10 s\n{string.Join('\n', _nodes.Select(n => Output(n.Name)))}");
        }
    }

    private async Task TerminateAsync(Node node, NetnsProcess? process, string what)
    {
        if (process is null || process.HasExited)
        {
            return;
        }
        var pids = ProcessTree.Collect(process.Pid);
        process.Terminate();
        if (!await ProcessTree.WaitGoneAsync(pids, TimeSpan.FromSeconds(10)))
        {
            _log?.Invoke($"{Name}: {what} on {node.Name} did not stop within 10 s of SIGTERM; kill -9");
            ProcessTree.Signal(pids, ProcessTree.SigKill);
            await ProcessTree.WaitGoneAsync(pids, TimeSpan.FromSeconds(5));
        }
    }

    private async Task<bool> HasServiceAddressAsync(Node node)
    {
        var result = await node.Host.IpAsync("-j", "-4", "addr", "show", "dev", node.Host.Interface);
        using var json = JsonDocument.Parse(string.IsNullOrWhiteSpace(result.StandardOutput) ? "[]" : result.StandardOutput);
        var vip = _options.ServiceAddress.ToString();
        foreach (var link in json.RootElement.EnumerateArray())
        {
            if (link.TryGetProperty("addr_info", out var addresses))
            {
                foreach (var address in addresses.EnumerateArray())
                {
                    if (address.TryGetProperty("local", out var local) && local.GetString() == vip)
                    {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private async Task RemoveServiceAddressAsync(Node node)
    {
        if (await HasServiceAddressAsync(node))
        {
            await node.Host.IpAsync("addr", "del", $"{_options.ServiceAddress}/{_options.PrefixLength.ToString(CultureInfo.InvariantCulture)}", "dev", node.Host.Interface);
            _log?.Invoke($"{Name}: removed leftover {ServiceAddress} from {node.Name}");
        }
    }

    private Node Find(string node) =>
        _nodes.FirstOrDefault(n => n.Name == node) ?? throw new ArgumentException($"{Name} has no node '{node}' (nodes: {string.Join(", ", Nodes)})", nameof(node));

    private sealed class Node(NetnsHost host, IPAddress peerAddress, bool preferred, int priority, string directory)
    {
        public NetnsHost Host { get; } = host;

        public string Name => Host.Role;

        public IPAddress PeerAddress { get; } = peerAddress;

        public bool Preferred { get; } = preferred;

        public int Priority { get; } = priority;

        public string Directory { get; } = directory;

        public string RunDirectory => Path.Combine(Directory, "run");

        public string KamailioConfig => Path.Combine(Directory, "kamailio.cfg");

        public string KeepalivedConfig => Path.Combine(Directory, "keepalived.conf");

        public string CtlSocket => Path.Combine(RunDirectory, "kamailio_ctl");

        public string KeepalivedPidFile => Path.Combine(RunDirectory, "keepalived.pid");

        public string VrrpPidFile => Path.Combine(RunDirectory, "vrrp.pid");

        public NetnsProcess? Kamailio { get; set; }

        public NetnsProcess? Keepalived { get; set; }

        public List<int> Frozen { get; } = [];

        private List<(int Pid, long StartTime)> _remembered = [];

        /// <summary>Notes the node's processes (with start times) once it runs, for a fast <see cref="KnownPids"/>.</summary>
        public void Remember() =>
            _remembered = [.. AllPids().Select(pid => (pid, ProcessTree.StartTimeOf(pid))).Where(p => p.Item2 is not null).Select(p => (p.pid, p.Item2!.Value))];

        /// <summary>The remembered processes that still run (same PID and start time).</summary>
        public List<int> KnownPids() => [.. _remembered.Where(p => ProcessTree.StartTimeOf(p.Pid) == p.StartTime).Select(p => p.Pid)];

        /// <summary>Every live process of the node: keepalived's and Kamailio's trees.</summary>
        public List<int> AllPids()
        {
            var pids = new List<int>();
            foreach (var process in (NetnsProcess?[])[Keepalived, Kamailio])
            {
                if (process is not null)
                {
                    pids.AddRange(ProcessTree.Collect(process.Pid));
                }
            }
            return pids;
        }
    }
}
