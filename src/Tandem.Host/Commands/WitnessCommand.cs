using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Tandem.Cluster.Membership;
using Tandem.Server.Admin;

namespace Tandem.Host.Commands;

internal static partial class WitnessCommand
{
    public static readonly CommandSpec Spec = new(
        "witness",
        "Run the vote-only cluster witness until SIGINT or SIGTERM.",
        [],
        [],
        RunAsync,
        "Reads the cluster section of the configuration; cluster.node-id must be the witness id\n" +
        "(cluster.witness.id). The witness exchanges heartbeats with every node and votes for quorum;\n" +
        "it holds no service address and runs no SIP. See docs/cluster.md.");

    private static async Task<int> RunAsync(ParsedArgs args, CliContext context)
    {
        var config = await CliApp.LoadConfigAsync(args, context);
        if (config is null)
        {
            return CliApp.Failed;
        }

        var cluster = config.Options!.Cluster;
        if (!cluster.IsWitness)
        {
            await context.Stderr.WriteLineAsync(
                $"tandem witness: cluster.node-id ({cluster.NodeId ?? "unset"}) must be the witness id (cluster.witness.id: {cluster.Witness?.Id ?? "unset"})");
            return CliApp.Failed;
        }

        MembershipOptions options;
        try
        {
            options = cluster.ToMembershipOptions();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await context.Stderr.WriteLineAsync($"tandem witness: cannot read the cluster secret: {e.Message}");
            return CliApp.Failed;
        }

        using var loggerFactory = LoggerFactory.Create(builder => builder
            .SetMinimumLevel(config.Options.Logging.Level)
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
                console.ColorBehavior = LoggerColorBehavior.Disabled;
            }));
        var logger = loggerFactory.CreateLogger("Tandem.Host");
        using var shutdown = CancellationTokenSource.CreateLinkedTokenSource(context.Shutdown);
        using var signals = context.HandleSignals ? new SignalHandlers(shutdown) : null;

        await using var witness = new WitnessService(options, loggerFactory);
        var history = new ClusterHistory();
        witness.Changed += e => history.Add(new HistoryEntry(e.At, ClusterHistory.KebabCase(e.Kind.ToString()),
            e.Member is { } m ? m.Value + (e.Link is { } l ? $" link {l}" : "") : "", e.Reason));
        try
        {
            witness.Start();
        }
        catch (System.Net.Sockets.SocketException e)
        {
            Log.StartFailed(logger, options.Listen[0].ToString(), e.Message);
            return CliApp.Failed;
        }

        // The admin API, as on a node: `tandem cluster status` with the witness's data directory.
        var dataDir = Path.GetFullPath(config.Options.DataDir);
        var started = DateTimeOffset.UtcNow;
        AdminStatus Status()
        {
            var now = DateTimeOffset.UtcNow;
            return new AdminStatus(CliApp.Version, options.Self.Value, "witness", now, Math.Round((now - started).TotalSeconds, 3), dataDir,
                new SipStatus([], 0, 0, 0, 0, 0, 0), AdminStatusBuilder.Cluster(witness.View, [], [], fencing: false, now), null, history.Snapshot());
        }

        AdminServer? admin;
        try
        {
            Directory.CreateDirectory(dataDir);
            admin = await AdminServer.StartAsync(AdminServer.SocketPath(dataDir), config.Options.Admin.Listen, Status, AdminMetrics.RenderWitness,
                loggerFactory, shutdown.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            Log.AdminFailed(logger, e.Message);
            return CliApp.Failed;
        }

        await using var adminScope = admin ?? (IAsyncDisposable)NoAdmin.Instance;

        try
        {
            await Task.Delay(Timeout.Infinite, shutdown.Token);
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            // Normal shutdown request.
        }

        Log.Stopped(logger);
        return CliApp.Ok;
    }

    private sealed class NoAdmin : IAsyncDisposable
    {
        public static readonly NoAdmin Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class SignalHandlers : IDisposable
    {
        private readonly System.Runtime.InteropServices.PosixSignalRegistration _interrupt;
        private readonly System.Runtime.InteropServices.PosixSignalRegistration _terminate;

        public SignalHandlers(CancellationTokenSource shutdown)
        {
            void Handle(System.Runtime.InteropServices.PosixSignalContext signal)
            {
                signal.Cancel = true;
                shutdown.Cancel();
            }

            _interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Handle);
            _terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Handle);
        }

        public void Dispose()
        {
            _interrupt.Dispose();
            _terminate.Dispose();
        }
    }

    // Witness command events use IDs 20-29.
    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Critical, "witness could not bind {Address}: {Reason}")]
        public static partial void StartFailed(ILogger logger, string address, string reason);

        [LoggerMessage(22, LogLevel.Critical, "witness could not start its admin API: {Reason}")]
        public static partial void AdminFailed(ILogger logger, string reason);

        [LoggerMessage(21, LogLevel.Information, "witness stopped")]
        public static partial void Stopped(ILogger logger);
    }
}
