using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Tandem.Server;
using Tandem.Server.Admin;
using Tandem.Server.Config;

namespace Tandem.Host.Commands;

internal static partial class RunCommand
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    public static readonly CommandSpec Spec = new(
        "run",
        "Run the SIP server until SIGINT or SIGTERM.",
        [],
        [new("listen", "TRANSPORT:ADDRESS:PORT", "listen here instead of the configured list (repeatable), e.g. udp:127.0.0.1:5060", Repeatable: true)],
        RunAsync,
        "Logs go to stdout, one line per event. On SIGINT/SIGTERM the server stops gracefully\n" +
        "(pending registrations are written) and the process exits 0. SIGHUP reloads the routing\n" +
        "section of the config file; calls in progress keep the routing they started with.");

    private static async Task<int> RunAsync(ParsedArgs args, CliContext context)
    {
        var listen = args.GetAll("listen");
        var overrides = listen.Count == 0 ? [] : new[] { new ConfigOverride("listen", string.Join(',', listen), "--listen") };
        var config = await CliApp.LoadConfigAsync(args, context, overrides);
        if (config is null)
        {
            return CliApp.Failed;
        }

        if (config.Options!.Cluster.IsWitness)
        {
            await context.Stderr.WriteLineAsync(
                $"tandem run: {config.File ?? "the configuration"} configures the witness '{config.Options.Cluster.NodeId}' (cluster.node-id equals cluster.witness.id); run `tandem witness` with it instead");
            return CliApp.Failed;
        }

        TandemOptions options;
        try
        {
            options = SharedSecretFile.Resolve(config.Options!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            await context.Stderr.WriteLineAsync($"tandem run: cannot read or create the nonce secret: {e.Message}");
            return CliApp.Failed;
        }

        using var loggerFactory = CreateLoggerFactory(options.Logging.Level);
        var logger = loggerFactory.CreateLogger("Tandem.Host");
        using var shutdown = CancellationTokenSource.CreateLinkedTokenSource(context.Shutdown);
        using var signals = context.HandleSignals ? new SignalHandlers(shutdown, logger) : null;

        Log.Starting(logger, CliApp.Version, config.File ?? "built-in defaults", Path.GetFullPath(options.DataDir));

        var exitCode = CliApp.Ok;
        AdminServer? admin = null;
        await using (var server = new TandemServer(options, loggerFactory))
        {
            // Registered before the server starts: a SIGHUP sent as soon as SIP answers (by a script or a
            // test) must reload, not hit the default disposition while the admin API is still starting.
            using var reload = context.HandleSignals
                ? PosixSignalRegistration.Create(PosixSignal.SIGHUP, signal =>
                {
                    signal.Cancel = true;
                    _ = ReloadRoutingAsync(server, config.File, logger);
                })
                : null;
            try
            {
                await server.StartAsync(shutdown.Token);
                admin = await AdminServer.StartAsync(
                    AdminServer.SocketPath(options.DataDir),
                    options.Admin.Listen,
                    () => AdminStatusBuilder.Build(server, CliApp.Version, DateTimeOffset.UtcNow),
                    status => AdminMetrics.Render(server, status),
                    loggerFactory,
                    shutdown.Token);
                Log.Started(logger, string.Join(", ", options.Listen));
                await Task.Delay(Timeout.Infinite, shutdown.Token);
            }
            catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
            {
                // Normal shutdown request.
            }
            catch (Exception e)
            {
                Log.StartFailed(logger, e);
                exitCode = CliApp.Failed;
            }

            Log.Stopping(logger);
            if (admin is not null)
            {
                await admin.DisposeAsync();
            }

            using var stopDeadline = new CancellationTokenSource(StopTimeout);
            try
            {
                await server.StopAsync(stopDeadline.Token);
            }
            catch (Exception e)
            {
                Log.StopFailed(logger, e);
                exitCode = CliApp.Failed;
            }
        }

        Log.Stopped(logger);
        return exitCode;
    }

    private static ILoggerFactory CreateLoggerFactory(LogLevel level) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(level)
        .AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
            console.ColorBehavior = LoggerColorBehavior.Disabled;
        }));

    private static async Task ReloadRoutingAsync(TandemServer server, string? configFile, ILogger logger)
    {
        if (server.Routing is null)
        {
            return;
        }

        var result = await server.Routing.ReloadAsync(configFile);
        if (result.Succeeded)
        {
            Log.RoutingReloaded(logger, configFile ?? "built-in defaults");
            return;
        }

        foreach (var error in result.Errors)
        {
            Log.RoutingReloadFailed(logger, error.ToString());
        }
    }

    /// <summary>SIGINT (Ctrl+C) and SIGTERM (systemd, docker stop) request a graceful stop instead of killing the process.</summary>
    private sealed class SignalHandlers : IDisposable
    {
        private readonly PosixSignalRegistration _interrupt;
        private readonly PosixSignalRegistration _terminate;

        public SignalHandlers(CancellationTokenSource shutdown, ILogger logger)
        {
            void Handle(PosixSignalContext signal)
            {
                signal.Cancel = true; // keep the process alive until the server has stopped
                Log.SignalReceived(logger, signal.Signal);
                shutdown.Cancel();
            }

            _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
            _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
        }

        public void Dispose()
        {
            _interrupt.Dispose();
            _terminate.Dispose();
        }
    }

    // Host events use IDs 1-99.
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "tandem {Version} starting (config {Config}, data {DataDir})")]
        public static partial void Starting(ILogger logger, string version, string config, string dataDir);

        [LoggerMessage(2, LogLevel.Information, "started; listening on {Listen}")]
        public static partial void Started(ILogger logger, string listen);

        [LoggerMessage(3, LogLevel.Critical, "startup failed")]
        public static partial void StartFailed(ILogger logger, Exception exception);

        [LoggerMessage(4, LogLevel.Information, "received {Signal}, shutting down")]
        public static partial void SignalReceived(ILogger logger, PosixSignal signal);

        [LoggerMessage(5, LogLevel.Information, "stopping")]
        public static partial void Stopping(ILogger logger);

        [LoggerMessage(6, LogLevel.Error, "stop did not complete cleanly")]
        public static partial void StopFailed(ILogger logger, Exception exception);

        [LoggerMessage(7, LogLevel.Information, "stopped")]
        public static partial void Stopped(ILogger logger);

        [LoggerMessage(8, LogLevel.Information, "routing reloaded from {Config}")]
        public static partial void RoutingReloaded(ILogger logger, string config);

        [LoggerMessage(9, LogLevel.Error, "routing reload failed, keeping the previous routing: {Error}")]
        public static partial void RoutingReloadFailed(ILogger logger, string error);
    }
}
