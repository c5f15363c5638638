using System.Net;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Tandem.Cluster.Addresses;
using Tandem.Cluster.Membership;
using Tandem.Server.Admin;
using Tandem.Server.Config;
using Tandem.Sip.Timers;
using Addr = Tandem.Cluster.Addresses.ServiceAddress;
using MemberAddress = Tandem.Cluster.Membership.ServiceAddress;

namespace Tandem.Server.Cluster;

/// <summary>
/// Runs a node's cluster membership inside <c>tandem run</c> and makes the service addresses follow
/// it (docs/cluster.md): <see cref="MembershipEventKind.AddressAcquired"/> adds the address to its
/// interface and announces it (gratuitous ARP / unsolicited NA), <see cref="MembershipEventKind.AddressReleased"/>
/// removes it, every change is confirmed with <see cref="MembershipService.ReportHeld"/>, and each
/// view is reconciled against <see cref="MembershipView.Owned"/>. Membership callbacks only enqueue:
/// one async worker runs the <c>ip</c> commands, so the membership thread never blocks.
/// </summary>
public sealed partial class ClusterHost : IAsyncDisposable
{
    private static readonly TimeSpan ReconcilePeriod = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private readonly ILogger _logger;
    private readonly MembershipOptions _membershipOptions;
    private readonly MembershipService _membership;
    private readonly ServiceAddressManager _addresses;
    private readonly Dictionary<string, (Addr Address, string Interface)> _configured = new(StringComparer.Ordinal);
    private readonly HashSet<string> _held = new(StringComparer.Ordinal);
    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private Task? _worker;
    private int _stopped;
    private long _acquisitions;
    private long _peerDowns;
    private long _fencesSucceeded;
    private long _fencesFailed;

    /// <param name="options">A validated config with an enabled, non-witness <c>cluster:</c> section.</param>
    /// <param name="probeTarget">The UDP listener the health probe sends OPTIONS to.</param>
    /// <param name="wheel">The transaction timer wheel (health: it must still advance).</param>
    public ClusterHost(TandemOptions options, ILoggerFactory loggerFactory, Func<IPEndPoint?> probeTarget, Func<TimerWheel?> wheel)
    {
        if (!options.Cluster.Enabled)
        {
            throw new InvalidOperationException("the cluster section is not configured (cluster.node-id)");
        }

        if (options.Cluster.IsWitness)
        {
            throw new InvalidOperationException($"this configuration is for the witness '{options.Cluster.NodeId}': run `tandem witness`, not `tandem run`");
        }

        _logger = loggerFactory.CreateLogger("Tandem.Cluster");
        _membershipOptions = options.Cluster.ToMembershipOptions();
        foreach (var a in _membershipOptions.ServiceAddresses)
        {
            _configured[a.Address] = (Addr.Parse(a.Address), a.Interface ?? throw new InvalidOperationException($"service address {a.Address} has no interface"));
        }

        _addresses = new ServiceAddressManager(logger: loggerFactory.CreateLogger("Tandem.Cluster.Addresses"));
        _membership = new MembershipService(_membershipOptions, loggerFactory, new SipHealthProbe(probeTarget, wheel));
    }

    public MembershipService Membership => _membership;

    /// <summary>The last transitions (membership, ownership, addresses, fencing) for the admin API.</summary>
    public ClusterHistory History { get; } = new();

    /// <summary>Times this node decided to take a service address (failovers and first takes).</summary>
    public long Acquisitions => Interlocked.Read(ref _acquisitions);

    public long PeerDowns => Interlocked.Read(ref _peerDowns);

    public long FencesSucceeded => Interlocked.Read(ref _fencesSucceeded);

    public long FencesFailed => Interlocked.Read(ref _fencesFailed);

    /// <summary>The configured service addresses: name (IP/prefix) → interface.</summary>
    public IReadOnlyDictionary<string, string> Configured => _configured.ToDictionary(p => p.Key, p => p.Value.Interface, StringComparer.Ordinal);

    /// <summary>The service addresses this node has on its interfaces now.</summary>
    public IReadOnlyCollection<string> Held
    {
        get
        {
            lock (_held)
            {
                return [.. _held];
            }
        }
    }

    /// <summary>
    /// Removes configured service addresses left over from a crash (idempotent), then starts the membership
    /// engine and the address worker. Call after the SIP listeners are up (the health probe needs them).
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var (name, (address, device)) in _configured)
        {
            try
            {
                var change = await _addresses.ReleaseAsync(address, device, cancellationToken).ConfigureAwait(false);
                LogStartupRelease(_logger, name, device, change.ToString(), DateTimeOffset.UtcNow);
            }
            catch (CommandFailedException ex)
            {
                LogAddressActionFailed(_logger, "release (startup)", name, device, DateTimeOffset.UtcNow, ex.Message);
            }
        }

        _membership.ReportHeld([]);
        _membership.Changed += OnChanged;
        _membership.ViewChanged += OnViewChanged;
        _worker = Task.Run(WorkerAsync, CancellationToken.None);
        _membership.Start();
    }

    // Membership thread: enqueue only.
    private void OnChanged(MembershipEvent e)
    {
        var subject = e.Address is { } a ? a.Address : e.Member is { } m ? m.Value + (e.Link is { } l ? $" link {l}" : "") : "";
        History.Add(new HistoryEntry(e.At, ClusterHistory.KebabCase(e.Kind.ToString()), subject, e.Reason));
        switch (e.Kind)
        {
            case MembershipEventKind.AddressAcquired:
                Interlocked.Increment(ref _acquisitions);
                break;
            case MembershipEventKind.PeerDown:
                Interlocked.Increment(ref _peerDowns);
                break;
            case MembershipEventKind.FenceSucceeded:
                Interlocked.Increment(ref _fencesSucceeded);
                break;
            case MembershipEventKind.FenceFailed:
                Interlocked.Increment(ref _fencesFailed);
                break;
        }

        if (e.Address is { } address && e.Kind is MembershipEventKind.AddressAcquired or MembershipEventKind.AddressReleased)
        {
            _work.Writer.TryWrite(new Work(e.Kind == MembershipEventKind.AddressAcquired ? WorkKind.Acquire : WorkKind.Release, address.Address, e.Reason, null));
        }
    }

    private void OnViewChanged(MembershipView view) =>
        _work.Writer.TryWrite(new Work(WorkKind.Reconcile, null, "view changed", [.. view.Owned.Select(a => a.Address)]));

    private async Task WorkerAsync()
    {
        var reader = _work.Reader;
        while (true)
        {
            Work? item = null;
            try
            {
                using var period = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                period.CancelAfter(ReconcilePeriod);
                if (await reader.WaitToReadAsync(period.Token).ConfigureAwait(false))
                {
                    reader.TryRead(out item);
                }
                else
                {
                    return; // completed: stopping
                }
            }
            catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
            {
                // Periodic reconcile: retries a failed add/remove and catches anything missed.
                item = new Work(WorkKind.Reconcile, null, "periodic check", [.. _membership.View.Owned.Select(a => a.Address)]);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (item is null)
            {
                continue;
            }

            try
            {
                await ApplyAsync(item).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.LogError(ex, "cluster: applying {Work} failed", item);
            }
        }
    }

    private async Task ApplyAsync(Work item)
    {
        switch (item.Kind)
        {
            case WorkKind.Acquire:
                await AcquireAsync(item.Address!, item.Reason).ConfigureAwait(false);
                break;
            case WorkKind.Release:
                await ReleaseAsync(item.Address!, item.Reason).ConfigureAwait(false);
                break;
            default:
                // Owned is the engine's latest decision; a leaving node owns nothing.
                var owned = item.Owned!.ToHashSet(StringComparer.Ordinal);
                foreach (var name in _configured.Keys)
                {
                    bool held;
                    lock (_held)
                    {
                        held = _held.Contains(name);
                    }

                    if (owned.Contains(name) && !held)
                    {
                        await AcquireAsync(name, $"reconcile ({item.Reason}): owned but not held").ConfigureAwait(false);
                    }
                    else if (!owned.Contains(name) && held)
                    {
                        await ReleaseAsync(name, $"reconcile ({item.Reason}): held but not owned").ConfigureAwait(false);
                    }
                }

                break;
        }
    }

    private async Task AcquireAsync(string name, string reason)
    {
        if (!_configured.TryGetValue(name, out var c))
        {
            return;
        }

        // A stale event: the engine changed its mind since (the reconcile that follows will release it).
        if (!_membership.View.Owns(name))
        {
            LogSkipped(_logger, "acquire", name, DateTimeOffset.UtcNow, "no longer owned");
            return;
        }

        try
        {
            var result = await _addresses.AcquireAsync(c.Address, c.Interface, _stop.Token).ConfigureAwait(false);
            lock (_held)
            {
                _held.Add(name);
            }

            LogAcquired(_logger, name, c.Interface, DateTimeOffset.UtcNow, result.Elapsed.TotalMilliseconds, result.Change.ToString(), reason,
                result.AnnouncementFailure?.Message ?? "announced");
            History.Add(new HistoryEntry(DateTimeOffset.UtcNow, "address-added", name,
                $"on {c.Interface} in {result.Elapsed.TotalMilliseconds:F1} ms ({result.Change}, {result.AnnouncementFailure?.Message ?? "announced"}): {reason}"));
        }
        catch (CommandFailedException ex)
        {
            LogAddressActionFailed(_logger, "acquire", name, c.Interface, DateTimeOffset.UtcNow, ex.Message);
            History.Add(new HistoryEntry(DateTimeOffset.UtcNow, "address-failed", name, $"adding on {c.Interface} failed: {ex.Message}"));
        }
        finally
        {
            _membership.ReportHeld(Held);
        }
    }

    private async Task ReleaseAsync(string name, string reason)
    {
        if (!_configured.TryGetValue(name, out var c))
        {
            return;
        }

        try
        {
            var started = DateTimeOffset.UtcNow;
            var change = await _addresses.ReleaseAsync(c.Address, c.Interface, CancellationToken.None).ConfigureAwait(false);
            lock (_held)
            {
                _held.Remove(name);
            }

            LogReleased(_logger, name, c.Interface, DateTimeOffset.UtcNow, (DateTimeOffset.UtcNow - started).TotalMilliseconds, change.ToString(), reason);
            History.Add(new HistoryEntry(DateTimeOffset.UtcNow, "address-removed", name,
                $"from {c.Interface} in {(DateTimeOffset.UtcNow - started).TotalMilliseconds:F1} ms ({change}): {reason}"));
        }
        catch (CommandFailedException ex)
        {
            LogAddressActionFailed(_logger, "release", name, c.Interface, DateTimeOffset.UtcNow, ex.Message);
            History.Add(new HistoryEntry(DateTimeOffset.UtcNow, "address-failed", name, $"removing from {c.Interface} failed: {ex.Message}"));
        }
        finally
        {
            _membership.ReportHeld(Held);
        }
    }

    /// <summary>
    /// Graceful stop: hands the addresses over (<see cref="MembershipService.LeaveAsync"/>, the worker removes
    /// them and confirms), removes anything still held, then stops the engine. Call before closing the SIP listeners.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        LogStopping(_logger, DateTimeOffset.UtcNow);
        try
        {
            await _membership.LeaveAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        // Let the worker act on the releases LeaveAsync produced, then make sure nothing is left.
        var deadline = DateTimeOffset.UtcNow + DrainTimeout;
        while (Held.Count > 0 && DateTimeOffset.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
        }

        _membership.Changed -= OnChanged;
        _membership.ViewChanged -= OnViewChanged;
        _work.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_worker is not null)
        {
            await _worker.ConfigureAwait(false);
        }

        foreach (var name in Held)
        {
            await ReleaseAsync(name, "stopping").ConfigureAwait(false);
        }

        // One more round of heartbeats saying "released, leaving" before going silent.
        await Task.Delay(_membershipOptions.HeartbeatInterval * 2, CancellationToken.None).ConfigureAwait(false);
        await _membership.DisposeAsync().ConfigureAwait(false);
        await _addresses.DisposeAsync().ConfigureAwait(false);
        LogStopped(_logger, DateTimeOffset.UtcNow);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>
    /// Whether a SIP listener on <paramref name="address"/> is a hot-standby listener on a service address
    /// (bound with IP_FREEBIND so that it exists before this node holds the address).
    /// </summary>
    public static bool IsServiceAddress(TandemOptions options, IPAddress address) =>
        options.Cluster.Enabled && options.Cluster.ServiceAddresses.Any(a => a.Address.Equals(address));

    /// <summary>The UDP listener the health probe targets: the first one not on a service address (a wildcard one through loopback).</summary>
    public static IPEndPoint? ProbeTarget(TandemOptions options, IEnumerable<IPEndPoint> udpListeners)
    {
        foreach (var endpoint in udpListeners)
        {
            if (IsServiceAddress(options, endpoint.Address))
            {
                continue;
            }

            if (endpoint.Address.Equals(IPAddress.Any))
            {
                return new IPEndPoint(IPAddress.Loopback, endpoint.Port);
            }

            return endpoint.Address.Equals(IPAddress.IPv6Any) ? new IPEndPoint(IPAddress.IPv6Loopback, endpoint.Port) : endpoint;
        }

        return null;
    }

    private enum WorkKind
    {
        Acquire,
        Release,
        Reconcile,
    }

    private sealed record Work(WorkKind Kind, string? Address, string Reason, IReadOnlyList<string>? Owned);

    // Cluster host events: 680-689 (membership uses 601-612).
    [LoggerMessage(680, LogLevel.Warning, "cluster: address {Address} on {Interface} added at {At:O} in {Ms:F1} ms ({Change}, {Announcement}): {Reason}")]
    private static partial void LogAcquired(ILogger logger, string address, string @interface, DateTimeOffset at, double ms, string change, string reason, string announcement);

    [LoggerMessage(681, LogLevel.Warning, "cluster: address {Address} on {Interface} removed at {At:O} in {Ms:F1} ms ({Change}): {Reason}")]
    private static partial void LogReleased(ILogger logger, string address, string @interface, DateTimeOffset at, double ms, string change, string reason);

    [LoggerMessage(682, LogLevel.Error, "cluster: {Action} of {Address} on {Interface} failed at {At:O}: {Error}")]
    private static partial void LogAddressActionFailed(ILogger logger, string action, string address, string @interface, DateTimeOffset at, string error);

    [LoggerMessage(683, LogLevel.Information, "cluster: startup cleanup of {Address} on {Interface}: {Change} at {At:O}")]
    private static partial void LogStartupRelease(ILogger logger, string address, string @interface, string change, DateTimeOffset at);

    [LoggerMessage(684, LogLevel.Debug, "cluster: skipped {Action} of {Address} at {At:O}: {Reason}")]
    private static partial void LogSkipped(ILogger logger, string action, string address, DateTimeOffset at, string reason);

    [LoggerMessage(685, LogLevel.Information, "cluster: leaving at {At:O}: handing the service addresses over")]
    private static partial void LogStopping(ILogger logger, DateTimeOffset at);

    [LoggerMessage(686, LogLevel.Information, "cluster: stopped at {At:O}")]
    private static partial void LogStopped(ILogger logger, DateTimeOffset at);
}
