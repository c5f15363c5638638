using Tandem.Server.Config;

namespace Tandem.Server.Routing;

/// <summary>One consistent set of routing tables: the planner and the trusted peers built from the same file.</summary>
/// <param name="Source">Where the tables came from: the file, or a document replicated from another node.</param>
public sealed record RoutingSnapshot(IRoutePlanner Planner, TrustedPeers TrustedPeers, RoutingOptions Options, DateTimeOffset LoadedAt, string Source = "");

/// <summary>The outcome of <see cref="RoutingTable.ReloadAsync"/>: on failure the errors, and the snapshot still in use.</summary>
public sealed record RoutingReloadResult(bool Succeeded, IReadOnlyList<ConfigError> Errors, RoutingSnapshot Current);

/// <summary>
/// Holds the routing tables in use and swaps them atomically on reload. Read <see cref="Current"/>
/// once per new request and use that snapshot for the whole request: a call keeps the
/// <see cref="RoutePlan"/> it started with, so a reload never changes or drops a call in progress.
/// </summary>
public sealed class RoutingTable
{
    private readonly TandemOptions _startup;
    private readonly IReadOnlyList<string> _localDomains;
    private readonly Func<string, string, bool> _subscriberExists;
    private readonly TimeProvider _time;
    private readonly Lock _reloadGate = new();
    private RoutingSnapshot _current;

    /// <param name="options">The validated startup configuration.</param>
    /// <param name="subscriberExists">See <see cref="PbxRoutePlanner(RoutingOptions, IReadOnlyList{string}, Func{string, string, bool})"/>; reused by every reload.</param>
    /// <param name="time">Clock for <see cref="RoutingSnapshot.LoadedAt"/>.</param>
    public RoutingTable(TandemOptions options, Func<string, string, bool> subscriberExists, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _startup = options;
        _localDomains = options.Sip.Domains;
        _subscriberExists = subscriberExists ?? throw new ArgumentNullException(nameof(subscriberExists));
        _time = time ?? TimeProvider.System;
        _current = Build(options.Routing, options.Routing.File ?? "configuration");
    }

    /// <summary>
    /// Raised after <see cref="ReloadAsync"/> swapped in tables read from the file (an operator's
    /// explicit reload), not after <see cref="ApplyDocument"/>. Cluster replication publishes it.
    /// </summary>
    public event Action<RoutingSnapshot>? Reloaded;

    public RoutingSnapshot Current => Volatile.Read(ref _current);

    public IRoutePlanner Planner => Current.Planner;

    public TrustedPeers TrustedPeers => Current.TrustedPeers;

    /// <summary>
    /// Re-reads <paramref name="configPath"/> (with the TANDEM_* environment, as at start) and, when the
    /// whole configuration is valid, swaps in new routing tables built from its <c>routing:</c> section.
    /// Other sections are not applied (they need a restart); <c>sip.domains</c> stays as started.
    /// On any error nothing changes and the errors are returned.
    /// </summary>
    /// <param name="configPath">The file the server started with; null re-reads defaults and environment only.</param>
    /// <param name="environment">Variables to use instead of the process environment (tests).</param>
    public async Task<RoutingReloadResult> ReloadAsync(
        string? configPath, IReadOnlyDictionary<string, string>? environment = null, CancellationToken cancellationToken = default)
    {
        // Reading and validating the file is blocking IO: keep it off the caller (a signal handler).
        // One reload at a time, so two quick SIGHUPs cannot swap in an older file last.
        return await Task.Run(
            () =>
            {
                lock (_reloadGate)
                {
                    var loaded = ConfigLoader.Load(configPath, environment ?? ConfigLoader.ProcessEnvironment());
                    if (loaded.Options is not { } options)
                    {
                        return new RoutingReloadResult(false, loaded.Errors, Current);
                    }

                    var next = Build(options.Routing, configPath ?? "built-in defaults");
                    Interlocked.Exchange(ref _current, next);
                    Reloaded?.Invoke(next);
                    return new RoutingReloadResult(true, [], next);
                }
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Validates <paramref name="document"/> (a <see cref="RoutingOptions.Document"/>, e.g. replicated
    /// from another node) against this node's startup configuration — <c>sip.domains</c> included —
    /// and, when valid, swaps in tables built from it. On any error nothing changes.
    /// </summary>
    /// <param name="source">Names the document in errors and in <see cref="RoutingSnapshot.Source"/>.</param>
    public RoutingReloadResult ApplyDocument(string document, string source)
    {
        lock (_reloadGate)
        {
            var loaded = ConfigLoader.LoadRouting(document, source, _startup);
            if (loaded.Options is not { } options)
            {
                return new RoutingReloadResult(false, loaded.Errors, Current);
            }

            var next = Build(options.Routing, source);
            Interlocked.Exchange(ref _current, next);
            return new RoutingReloadResult(true, [], next);
        }
    }

    private RoutingSnapshot Build(RoutingOptions routing, string source) =>
        new(new PbxRoutePlanner(routing, _localDomains, _subscriberExists), new TrustedPeers(routing.TrustedPeers), routing, _time.GetUtcNow(), source);
}
