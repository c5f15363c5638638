// STAND-IN written by the storage/config/CLI work so that `tandem run` compiles.
// The real TandemServer (transports, registrar) is being written separately and REPLACES this
// file; keep the constructor and method shapes, which the CLI (src/Tandem.Host) codes against.
using Microsoft.Extensions.Logging;
using Tandem.Server.Config;

namespace Tandem.Server;

public sealed class TandemServer : IAsyncDisposable
{
    private readonly TandemOptions _options;
    private readonly ILogger _logger;

    public TandemServer(TandemOptions options, ILoggerFactory loggerFactory)
    {
        _options = options;
        _logger = loggerFactory.CreateLogger<TandemServer>();
    }

    public Task StartAsync(CancellationToken ct)
    {
        _logger.LogWarning("stand-in TandemServer: not listening on {Listen}", string.Join(", ", _options.Listen));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct)
    {
        _logger.LogInformation("stand-in TandemServer stopped");
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
