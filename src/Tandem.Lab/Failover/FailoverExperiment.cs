using System.Globalization;
using System.Net;
using Tandem.Cluster.Addresses;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover;

/// <summary>What <c>tandem lab failover</c> was asked to do.</summary>
public sealed record FailoverOptions
{
    public int Runs { get; init; } = 30;

    public IReadOnlyList<FailureKind> Failures { get; init; } = FailureKinds.All;

    public IReadOnlyList<string> Systems { get; init; } = ["tandem"];

    public required string OutputDirectory { get; init; }

    public required int Seed { get; init; }

    public required LabSystemSettings Settings { get; init; }

    /// <summary>The command line, for the report.</summary>
    public string Command { get; init; } = "tandem lab failover";
}

/// <summary>
/// The failover experiment (docs/failover.md, "The failover lab"): per system, a fresh namespace topology and cluster;
/// the dense OPTIONS stream runs throughout; per run the theses' REGISTER and call loops start, the sentinel users
/// register, the failure hits the holder at a random moment (seeded), the lab observes until the service is back and
/// the pre-failure calls have hung up, measures, restores the node and waits until the cluster has settled.
/// </summary>
public sealed class FailoverExperiment(FailoverOptions options, Action<string> log)
{
    private const int RegisterLoopPort = 5071;
    private const int CallLoopPort = 5072;
    private const int SentinelPort = 5073;
    private static readonly TimeSpan MaxObservation = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan MinObservation = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan AnswerGrace = TimeSpan.FromSeconds(1);
    private readonly Random _random = new(options.Seed);
    private readonly List<FailoverRun> _runs = [];

    public IReadOnlyList<FailoverRun> Runs => _runs;

    /// <summary>Missing tools, each with how to install it; empty when all are there.</summary>
    public static async Task<List<string>> MissingPrerequisitesAsync(IReadOnlyList<FailureKind> failures)
    {
        var missing = new List<string>();
        if (!OperatingSystem.IsLinux())
        {
            missing.Add("Linux (network namespaces)");
            return missing;
        }
        if (!Environment.IsPrivilegedProcess)
        {
            missing.Add("root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN): run it with sudo");
        }
        var tools = new List<(string File, string[] Args, string Install)>
        {
            ("ip", ["-V"], "iproute2 (apt-get install iproute2)"),
            ("sipp", ["-v"], "SIPp (apt-get install sip-tester)"),
        };
        if (failures.Contains(FailureKind.Partition))
        {
            tools.Add(("nft", ["--version"], "nftables, for --failure partition (apt-get install nftables)"));
        }
        foreach (var (file, args, install) in tools)
        {
            try
            {
                await CommandRunner.Instance.RunAsync(file, args, TimeSpan.FromSeconds(10));
            }
            catch (CommandFailedException)
            {
                missing.Add(install);
            }
        }
        return missing;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        Directory.CreateDirectory(options.OutputDirectory);
        var csvPath = Path.Combine(options.OutputDirectory, "runs.csv");
        await File.WriteAllTextAsync(csvPath, RunsCsv.Header + "\n", cancellationToken);
        log($"failover lab: seed {options.Seed}, {options.Runs} run(s) × [{string.Join(", ", options.Failures.Select(FailureKinds.Name))}] × [{string.Join(", ", options.Systems)}], output {options.OutputDirectory}");
        try
        {
            foreach (var systemName in options.Systems)
            {
                await RunSystemAsync(systemName, csvPath, cancellationToken);
            }
        }
        finally
        {
            // Also after Ctrl-C or an error: what was measured is reported.
            var context = new ReportContext(options.Command, options.Seed, MachineInfo(), started, DateTimeOffset.UtcNow);
            await File.WriteAllTextAsync(Path.Combine(options.OutputDirectory, "report.md"), FailoverReport.Markdown(_runs, context), CancellationToken.None);
            await File.WriteAllTextAsync(Path.Combine(options.OutputDirectory, "gaps.svg"), FailoverReport.Svg(_runs), CancellationToken.None);
        }
    }

    private async Task RunSystemAsync(string systemName, string csvPath, CancellationToken cancellationToken)
    {
        var work = Path.Combine(options.OutputDirectory, "work", systemName);
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true);
        }
        await using var topology = await LabTopology.CreateAsync(work, log);
        await using var system = LabSystems.Create(systemName, topology, options.Settings);
        var scenarios = Path.Combine(work, "sipp");
        SippProcess.WriteScenarios(scenarios);
        var registerUsers = SippProcess.WriteUsers(Path.Combine(work, "register-users.csv"), system.Users.Where(u => u.User is "1000" or "1001"), system.Domain);
        var callerUsers = SippProcess.WriteUsers(Path.Combine(work, "caller.csv"), system.Users.Where(u => u.User == "1002"), system.Domain);
        var sentinels = system.Users.Where(u => u.User.StartsWith('3')).ToList();
        var sentinelUsers = SippProcess.WriteUsers(Path.Combine(work, "sentinels.csv"), sentinels, system.Domain);

        log($"{systemName}: starting");
        await system.StartAsync(cancellationToken);
        var target = new IPEndPoint(system.ServiceAddress, system.SipPort);
        await using var callee = new Callee(topology, scenarios, Path.Combine(work, "callee"), $"{system.ServiceAddress}:{system.SipPort}",
            SippProcess.WriteUsers(Path.Combine(work, "callee.csv"), system.Users.Where(u => u.User == LabTopology.CalleeUser), system.Domain));
        await callee.EnsureRegisteredAsync(cancellationToken);
        await using var prober = new OptionsProber(topology.Client, target);
        prober.Start();
        if (!await prober.WaitHealthyAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20), cancellationToken))
        {
            throw new InvalidOperationException($"{systemName}: the service address does not answer the OPTIONS stream steadily after start");
        }
        log($"{systemName}: up, holder {string.Join("+", await system.HoldersAsync(cancellationToken))}");

        foreach (var failure in options.Failures)
        {
            for (var run = 1; run <= options.Runs; run++)
            {
                var runDirectory = Path.Combine(work, "runs", $"{FailureKinds.Name(failure)}-{run:00}");
                await callee.EnsureRegisteredAsync(cancellationToken);
                var result = await RunOnceAsync(system, topology, prober, failure, run, runDirectory, scenarios, registerUsers, callerUsers, sentinelUsers, sentinels.Count, cancellationToken);
                _runs.Add(result);
                await File.AppendAllTextAsync(csvPath, RunsCsv.Row(result) + "\n", CancellationToken.None);
                log($"{systemName} {FailureKinds.Name(failure)} run {run}: gap {result.Gap.GapMs:0.0} ms, lost {result.Gap.RequestsLost} requests, " +
                    $"{result.RegistrationsLost} registrations, {result.CallsDropped}/{result.CallsInProgress} calls; holder {result.HolderBefore} -> {result.HolderAfter}" +
                    (result.Note.Length > 0 ? $" ({result.Note})" : ""));
                prober.Forget(LabClock.NowUs() - 60_000_000);
            }
        }
    }

    private async Task<FailoverRun> RunOnceAsync(
        ILabSystem system, LabTopology topology, OptionsProber prober, FailureKind failure, int run, string runDirectory, string scenarios,
        string registerUsers, string callerUsers, string sentinelUsers, int sentinelCount, CancellationToken cancellationToken)
    {
        var holder = await WaitSettledAsync(system, prober, cancellationToken);
        var target = $"{system.ServiceAddress}:{system.SipPort}";
        var notes = new List<string>();

        await using var registerLoop = SippProcess.Start(topology.Client, scenarios, "register-loop.xml", runDirectory, "register-loop",
            [target, "-inf", registerUsers, "-l", "1", "-p", SippProcess.Port(RegisterLoopPort)]);
        await using var callLoop = SippProcess.Start(topology.Client, scenarios, "call-loop-uac.xml", runDirectory, "call-loop",
            [target, "-inf", callerUsers, "-s", LabTopology.CalleeUser, "-l", "3", "-d", "5000", "-p", SippProcess.Port(CallLoopPort)]);
        await using (var register = SippProcess.Start(topology.Client, scenarios, "register-once.xml", runDirectory, "sentinels",
            [target, "-inf", sentinelUsers, "-m", SippProcess.Port(sentinelCount), "-p", SippProcess.Port(SentinelPort), "-timeout", "10s"]))
        {
            await WaitOrKillAsync(register, TimeSpan.FromSeconds(15), "sentinel registration", notes);
            var registered = register.Events().Count(e => e.Kind == "registered");
            if (registered != sentinelCount)
            {
                notes.Add($"only {registered}/{sentinelCount} sentinels registered");
            }
        }

        // The failure at a random moment 1.5-4 s into the load (seeded: the same seed gives the same moments).
        await Task.Delay(1500 + _random.Next(2500), cancellationToken);
        var holderHost = topology.Nodes[holder];
        var failureUs = LabClock.NowUs();
        switch (failure)
        {
            case FailureKind.Kill:
                await system.CrashAsync(holder);
#if LAB_KAMAILIO
                // The classic design's crash stops a dozen processes before killing them: the moment all were
                // stopped is the failure (the node answers nothing from then on).
                if (system is Kamailio.KamailioKeepalivedSystem { LastCrashStoppedAt: > 0 } kamailio)
                {
                    failureUs = Math.Max(failureUs, LabClock.FromTimestamp(kamailio.LastCrashStoppedAt));
                }
#endif
                break;
            case FailureKind.Stop:
                await system.StopAsync(holder, cancellationToken);
                break;
            case FailureKind.Freeze:
                await system.FreezeAsync(holder);
                break;
            case FailureKind.Linkdown:
                await topology.Lab.SetPortAsync(holderHost, up: false);
                break;
            case FailureKind.Partition:
                await topology.SetPartitionAsync(partitioned: true);
                break;
        }

        // Observe: until the stream has been answered for a second again (or the limit), and long enough for the
        // calls up at the failure to reach their BYE (5 s hold) and its retransmissions.
        var observeStart = DateTime.UtcNow;
        while (DateTime.UtcNow - observeStart < MaxObservation)
        {
            await Task.Delay(100, cancellationToken);
            var elapsed = DateTime.UtcNow - observeStart;
            if (elapsed >= MinObservation && prober.AnsweredThroughout(TimeSpan.FromSeconds(1), AnswerGrace))
            {
                break;
            }
        }
        var windowEndUs = LabClock.NowUs() - (long)AnswerGrace.TotalMicroseconds;
        var gap = GapAnalysis.Analyze(prober.Samples(failureUs - 2_000_000), failureUs, windowEndUs);
        var configuredOn = await system.HoldersAsync(cancellationToken);
        var holderAfter = FailoverRun.LiveHolders(configuredOn, failure, holder);
        var arpTo = await ClientArpToAsync(topology, system.ServiceAddress);
        if (failure == FailureKind.Partition && configuredOn.Count > 1)
        {
            notes.Add($"split brain: {string.Join(" and ", configuredOn)} both hold the address");
        }
        else if (failure != FailureKind.Partition && configuredOn.Contains(holder))
        {
            notes.Add($"{holder} ({FailureKinds.Name(failure)}) still has the address configured, {(holderAfter == "none" ? "nobody else has it" : holderAfter + " serves it")}");
        }
        if (arpTo == holder && holderAfter != holder)
        {
            notes.Add($"the client's ARP entry still points to the failed node {holder}");
        }

        // Which sentinels does the service address (the new holder) still list?
        var registrationsLost = -1;
        await using (var query = SippProcess.Start(topology.Client, scenarios, "register-query.xml", runDirectory, "query",
            [target, "-inf", sentinelUsers, "-m", SippProcess.Port(sentinelCount), "-p", SippProcess.Port(SentinelPort), "-timeout", "10s"]))
        {
            await WaitOrKillAsync(query, TimeSpan.FromSeconds(15), "sentinel query", notes);
            var answers = query.Events().Where(e => e.Kind == "query").ToList();
            if (answers.Count == sentinelCount)
            {
                registrationsLost = answers.Count(e => !e.Extra.Contains("lab-sentinel@", StringComparison.Ordinal));
            }
            else
            {
                notes.Add($"sentinel query answered {answers.Count}/{sentinelCount}");
            }
        }

        await Task.WhenAll(registerLoop.StopAsync(TimeSpan.FromSeconds(12)), callLoop.StopAsync(TimeSpan.FromSeconds(12)));
        var registerEvents = registerLoop.Events();
        var callEvents = callLoop.Events();
        var registerSummary = SippLog.Summarize(registerEvents);
        var callSummary = SippLog.Summarize(callEvents);
        var (inProgress, dropped) = SippLog.CallsAcross(callEvents, failureUs);

        await RestoreAsync(system, topology, failure, holder, cancellationToken);
        await system.SettleAsync(cancellationToken);

        return new FailoverRun
        {
            System = system.Name,
            Failure = failure,
            Run = run,
            FailureAt = LabClock.ToDateTime(failureUs),
            HolderBefore = holder,
            HolderAfter = holderAfter,
            AddressConfiguredOn = configuredOn.Count == 0 ? "none" : string.Join('+', configuredOn),
            ClientArpTo = arpTo,
            Gap = gap,
            RegistrationsLost = registrationsLost,
            Sentinels = sentinelCount,
            CallsDropped = dropped,
            CallsInProgress = inProgress,
            RegisterLoop = registerSummary,
            CallLoop = callSummary,
            ThesisDowntimeRegisterSeconds = registerSummary.MedianIterationSeconds > 0
                ? Statistics.ThesisDowntime(registerSummary.DurationSeconds, registerSummary.Completed, 1, registerSummary.MedianIterationSeconds) : null,
            ThesisDowntimeCallSeconds = callSummary.MedianIterationSeconds > 0
                ? Statistics.ThesisDowntime(callSummary.DurationSeconds, callSummary.Completed, 3, callSummary.MedianIterationSeconds) : null,
            Note = string.Join("; ", notes),
        };
    }

    /// <summary>The node whose MAC the client's neighbour table has for the service address: where its packets go.</summary>
    private static async Task<string> ClientArpToAsync(LabTopology topology, IPAddress serviceAddress)
    {
        var entry = await topology.Client.GetNeighbourAsync(serviceAddress);
        if (entry is not { Mac: { } mac })
        {
            return "";
        }
        return topology.Nodes.FirstOrDefault(n => n.Value.Mac.Equals(mac)).Key ?? "";
    }

    /// <summary>Waits for a one-shot SIPp run; one that hangs is killed and noted, the run goes on.</summary>
    private static async Task WaitOrKillAsync(SippProcess sipp, TimeSpan timeout, string what, List<string> notes)
    {
        try
        {
            await sipp.Process.WaitForExitAsync(timeout);
        }
        catch (TimeoutException)
        {
            notes.Add($"{what} still running after {timeout.TotalSeconds:0} s, killed");
            sipp.Process.Kill();
            await sipp.Process.WaitForExitAsync(TimeSpan.FromSeconds(5));
        }
    }

    private static async Task RestoreAsync(ILabSystem system, LabTopology topology, FailureKind failure, string holder, CancellationToken cancellationToken)
    {
        switch (failure)
        {
            case FailureKind.Kill:
            case FailureKind.Stop:
                await system.RestartAsync(holder, cancellationToken);
                break;
            case FailureKind.Freeze:
                await system.ThawAsync(holder);
                break;
            case FailureKind.Linkdown:
                await topology.Lab.SetPortAsync(topology.Nodes[holder], up: true);
                break;
            case FailureKind.Partition:
                await topology.SetPartitionAsync(partitioned: false);
                break;
        }
    }

    /// <summary>Waits until exactly one node holds the address and the stream has been answered for a while; returns the holder.</summary>
    private static async Task<string> WaitSettledAsync(ILabSystem system, OptionsProber prober, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var holders = await system.HoldersAsync(cancellationToken);
            if (holders.Count == 1 && prober.AnsweredThroughout(TimeSpan.FromSeconds(1.5), TimeSpan.FromMilliseconds(200)))
            {
                // The client's kernel ignores a gratuitous ARP within 1 s (locktime) of its last update of the entry:
                // give the last move that long before the next failure.
                await Task.Delay(1200, cancellationToken);
                if ((await system.HoldersAsync(cancellationToken)).SequenceEqual(holders))
                {
                    return holders[0];
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{system.Name}: not settled within 30 s (holders: [{string.Join(", ", holders)}])");
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>CPU model, cores, kernel, .NET: the report's "machine" line.</summary>
    public static string MachineInfo()
    {
        var cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"{cpu}, {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}");
    }

    /// <summary>
    /// The callee (user 2000): SIPp registers it from <see cref="LabTopology.CalleePort"/> (Expires 3600), then a SIPp
    /// server answers every call on that port. SIPp cannot do both in one run, so the registration is refreshed between
    /// runs, once it is half an hour old, by stopping the server for a moment.
    /// </summary>
    private sealed class Callee(LabTopology topology, string scenarios, string directory, string target, string users) : IAsyncDisposable
    {
        private SippProcess? _server;
        private DateTime _registeredAt = DateTime.MinValue;
        private int _generation;

        public async Task EnsureRegisteredAsync(CancellationToken cancellationToken)
        {
            if (DateTime.UtcNow - _registeredAt < TimeSpan.FromMinutes(30) && _server is { Process.HasExited: false })
            {
                return;
            }
            if (_server is not null)
            {
                await _server.DisposeAsync();
            }
            _generation++;
            await using (var register = SippProcess.Start(topology.Client, scenarios, "register-once.xml", directory, $"register-{_generation}",
                [target, "-inf", users, "-m", "1", "-p", SippProcess.Port(LabTopology.CalleePort), "-timeout", "10s"]))
            {
                await register.Process.WaitForExitAsync(TimeSpan.FromSeconds(15));
                if (!register.Events().Any(e => e.Kind == "registered"))
                {
                    throw new InvalidOperationException($"the callee {LabTopology.CalleeUser} could not register with {target} (see {register.LogFile})");
                }
            }
            _registeredAt = DateTime.UtcNow;
            _server = SippProcess.Start(topology.Client, scenarios, "callee-uas.xml", directory, $"callee-{_generation}", ["-p", SippProcess.Port(LabTopology.CalleePort)]);
            await Task.Delay(200, cancellationToken); // listening before the first INVITE
        }

        public async ValueTask DisposeAsync()
        {
            if (_server is not null)
            {
                await _server.DisposeAsync();
            }
        }
    }
}
