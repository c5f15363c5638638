using System.Globalization;
using System.Runtime.InteropServices;
using Tandem.Lab.Failover;

namespace Tandem.Host.Commands;

/// <summary><c>tandem lab failover</c>: the failover experiment of docs/failover.md ("The failover lab").</summary>
internal static class LabCommands
{
    public static readonly CommandSpec Failover = new(
        "lab failover",
        "Measure failover: build a namespace lab, run SIPp load, inject failures, write runs.csv, report.md and gaps.svg.",
        [],
        [
            new("runs", "N", "runs per failure type (default 30)"),
            new("failure", "KIND", "kill, linkdown, stop, freeze, partition, or all (default; a comma-separated list works too)"),
            new("system", "NAME", "tandem (default), kamailio, or all"),
            new("out", "DIR", "where to write runs.csv, report.md, gaps.svg and the work files (required)"),
            new("seed", "S", "seed of the random failure moments (default: random, printed)"),
        ],
        RunAsync,
        "Needs root, iproute2 (ip), SIPp (Debian: sip-tester) and, for partition, nftables. Builds network namespaces\n" +
        "(client, nodes a and b, witness w; 198.18.0.0/24, service address 198.18.0.100) that never reach the host's\n" +
        "network, runs the nodes as real processes of this same binary, and tears everything down at the end, on error\n" +
        "and on Ctrl-C (SIGINT/SIGTERM). A run: the REGISTER loop (1 at a time, 5 s pause), the call loop (3 at a time,\n" +
        "5 s hold) and a dense OPTIONS stream (250/s) run; the holder of the service address fails at a random moment;\n" +
        "the service gap, lost requests, lost registrations and dropped calls are measured from timestamps; the node is\n" +
        "restored and the cluster settles before the next run. See docs/failover.md.");

    private static async Task<int> RunAsync(ParsedArgs args, CliContext context)
    {
        const string name = "lab failover";
        var usage = $"usage: {Failover.Usage}\n";
        var runs = 30;
        if (args.Get("runs") is { } runsText && (!int.TryParse(runsText, NumberStyles.None, CultureInfo.InvariantCulture, out runs) || runs < 1 || runs > 1000))
        {
            return await CliApp.UsageFailure(context, $"tandem {name}: --runs must be a whole number from 1 to 1000, not '{runsText}'", usage);
        }
        if (!FailureKinds.TryParse(args.Get("failure") ?? "all", out var failures))
        {
            return await CliApp.UsageFailure(context, $"tandem {name}: --failure must be kill, linkdown, stop, freeze, partition or all, not '{args.Get("failure")}'", usage);
        }
        var systemText = args.Get("system") ?? "tandem";
        if (systemText != "all" && !LabSystems.Known.Contains(systemText))
        {
            return await CliApp.UsageFailure(context, $"tandem {name}: --system must be tandem, kamailio or all, not '{systemText}'", usage);
        }
        if (args.Get("out") is not { Length: > 0 } output)
        {
            return await CliApp.UsageFailure(context, $"tandem {name}: --out DIR is required", usage);
        }
        int seed;
        if (args.Get("seed") is { } seedText)
        {
            if (!int.TryParse(seedText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out seed))
            {
                return await CliApp.UsageFailure(context, $"tandem {name}: --seed must be an integer, not '{seedText}'", usage);
            }
        }
        else
        {
            seed = Random.Shared.Next();
        }

        var unavailable = (systemText == "all" ? LabSystems.Known : [systemText]).Select(LabSystems.Unavailable).FirstOrDefault(reason => reason is not null);
        if (unavailable is not null)
        {
            await context.Stderr.WriteLineAsync($"tandem {name}: {unavailable}");
            return CliApp.Failed;
        }
        var systems = LabSystems.Expand(systemText);
        var missing = await FailoverExperiment.MissingPrerequisitesAsync(failures);
        if (missing.Count > 0)
        {
            await context.Stderr.WriteLineAsync($"tandem {name}: missing prerequisites:");
            foreach (var item in missing)
            {
                await context.Stderr.WriteLineAsync($"  - {item}");
            }
            return CliApp.Failed;
        }

        var outputDirectory = Path.GetFullPath(output, context.CurrentDirectory);
        var command = $"tandem lab failover --runs {runs} --failure {args.Get("failure") ?? "all"} --system {systemText} --out {output} --seed {seed}";
        await context.Stdout.WriteLineAsync($"seed {seed} (repeat with: {command})");
        var options = new FailoverOptions
        {
            Runs = runs,
            Failures = failures,
            Systems = systems,
            OutputDirectory = outputDirectory,
            Seed = seed,
            Settings = TandemCommand(),
            Command = command,
        };

        using var shutdown = CancellationTokenSource.CreateLinkedTokenSource(context.Shutdown);
        using var interrupt = context.HandleSignals ? PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel) : null;
        using var terminate = context.HandleSignals ? PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel) : null;
        var stdout = TextWriter.Synchronized(context.Stdout);
        var experiment = new FailoverExperiment(options, line => stdout.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}"));
        try
        {
            await experiment.RunAsync(shutdown.Token);
            // A signal during a step that finishes without waiting on the token (the last run's
            // measurement) still ends as an interruption.
            shutdown.Token.ThrowIfCancellationRequested();
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            await context.Stderr.WriteLineAsync($"tandem {name}: interrupted after {experiment.Runs.Count} run(s); the lab is torn down, partial results in {outputDirectory}");
            return CliApp.Failed;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or Tandem.Cluster.Addresses.CommandFailedException)
        {
            await context.Stderr.WriteLineAsync($"tandem {name}: {e.Message}");
            await context.Stderr.WriteLineAsync($"the lab is torn down; {experiment.Runs.Count} run(s) done, partial results in {outputDirectory}");
            return CliApp.Failed;
        }
        await context.Stdout.WriteLineAsync($"{experiment.Runs.Count} runs: {Path.Combine(outputDirectory, "runs.csv")}, {Path.Combine(outputDirectory, "report.md")}, {Path.Combine(outputDirectory, "gaps.svg")}");
        return CliApp.Ok;

        void Cancel(PosixSignalContext signal)
        {
            signal.Cancel = true;
            shutdown.Cancel();
        }
    }

    /// <summary>The nodes run this very binary: the apphost itself, or <c>dotnet tandem.dll</c> when started that way.</summary>
    internal static LabSystemSettings TandemCommand()
    {
        var process = Environment.ProcessPath ?? "dotnet";
        var dll = Path.Combine(AppContext.BaseDirectory, "tandem.dll");
        return Path.GetFileNameWithoutExtension(process) == "tandem" ? new LabSystemSettings(process, []) : new LabSystemSettings(process, [dll]);
    }
}
