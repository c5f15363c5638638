using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tandem.Server.Admin;

/// <summary>
/// The admin API (docs/cluster.md, "Admin API"): HTTP/1.1 + JSON served by Kestrel on the Unix socket
/// <c>&lt;data-dir&gt;/admin.sock</c> (mode 0600) and optionally on TCP (<c>admin.listen</c>).
/// <c>GET /v1/status</c> and <c>GET /metrics</c>; read-only. Requests run on the thread pool and read
/// published state and counters: nothing here touches the SIP path.
/// </summary>
public sealed partial class AdminServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string? _socketPath;
    private readonly ILogger _logger;
    private int _stopped;

    private AdminServer(WebApplication app, string? socketPath, ILogger logger)
    {
        _app = app;
        _socketPath = socketPath;
        _logger = logger;
    }

    /// <summary>Where <c>tandem run</c> serves the admin API for <paramref name="dataDir"/>.</summary>
    public static string SocketPath(string dataDir) => Path.Combine(Path.GetFullPath(dataDir), Config.AdminOptions.SocketFileName);

    /// <summary>Longest Unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL).</summary>
    public const int MaxSocketPathBytes = 107;

    /// <summary>
    /// Starts serving. A socket file left by a crashed node is replaced; one that still answers means
    /// another node runs with the same data directory, which is refused (<see cref="InvalidOperationException"/>).
    /// A data directory whose socket path is too long for a Unix socket only gets a warning (the node
    /// must still run): then only <paramref name="tcp"/> serves, and with no TCP either this returns null.
    /// </summary>
    public static async Task<AdminServer?> StartAsync(string socketPath, IPEndPoint? tcp, Func<AdminStatus> status, Func<AdminStatus, string> metrics,
        ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(status);
        ArgumentNullException.ThrowIfNull(metrics);
        var logger = loggerFactory.CreateLogger("Tandem.Admin");
        var unix = System.Text.Encoding.UTF8.GetByteCount(socketPath) <= MaxSocketPathBytes;
        if (!unix)
        {
            Log.PathTooLong(logger, socketPath, MaxSocketPathBytes);
            if (tcp is null)
            {
                return null;
            }
        }
        else
        {
            await RemoveStaleSocketAsync(socketPath, cancellationToken).ConfigureAwait(false);
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(loggerFactory));
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (unix)
            {
                kestrel.ListenUnixSocket(socketPath);
            }

            if (tcp is not null)
            {
                kestrel.Listen(tcp);
            }

            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = 64;
            kestrel.Limits.MaxRequestBodySize = 0;
        });

        var app = builder.Build();
        app.MapGet("/v1/status", async context =>
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            await JsonSerializer.SerializeAsync(context.Response.Body, status(), AdminJsonContext.Default.AdminStatus, context.RequestAborted).ConfigureAwait(false);
        });
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await context.Response.WriteAsync(metrics(status()), context.RequestAborted).ConfigureAwait(false);
        });

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        if (unix && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var server = new AdminServer(app, unix ? socketPath : null, logger);
        Log.Listening(logger, unix ? socketPath : "(none)", tcp?.ToString() ?? "(no TCP)");
        return server;
    }

    /// <summary>Stops serving and removes the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            if (_socketPath is not null)
            {
                TryDelete(_socketPath);
            }

            Log.Stopped(_logger, _socketPath ?? "(no socket)");
        }
    }

    private static async Task RemoveStaleSocketAsync(string socketPath, CancellationToken cancellationToken)
    {
        if (!File.Exists(socketPath))
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            TryDelete(socketPath); // nobody listens: left by a crash
            return;
        }

        throw new InvalidOperationException($"another Tandem node is running with this data directory (its admin socket {socketPath} answers)");
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

        public void Dispose()
        {
            // The factory belongs to the caller.
        }
    }

    // Admin API events: 690-699.
    private static partial class Log
    {
        [LoggerMessage(690, LogLevel.Information, "admin API listening on unix:{Socket} and {Tcp}")]
        public static partial void Listening(ILogger logger, string socket, string tcp);

        [LoggerMessage(691, LogLevel.Information, "admin API stopped; removed {Socket}")]
        public static partial void Stopped(ILogger logger, string socket);

        [LoggerMessage(692, LogLevel.Warning, "admin API: no Unix socket: {Socket} is longer than {Max} bytes; use a shorter data-dir (tandem cluster status needs the socket) or admin.listen")]
        public static partial void PathTooLong(ILogger logger, string socket, int max);
    }
}
