using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tandem.Cluster.Addresses;

/// <summary>Settings of a <see cref="ServiceAddressManager"/>.</summary>
public sealed class ServiceAddressOptions
{
    /// <summary>Named network namespace (<c>ip netns</c>) to manage addresses in, for tests and the failover lab
    /// that run several nodes in one process. Null (the default): the namespace this process runs in.</summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>
    /// Add and remove addresses with rtnetlink requests from this process (no fork) when no custom
    /// <see cref="ICommandRunner"/> is given; the <c>ip</c> command is used when netlink fails, and for listing.
    /// </summary>
    public bool UseNetlink { get; init; } = true;

    /// <summary>The iproute2 binary.</summary>
    public string IpCommand { get; init; } = "ip";

    /// <summary>How long one <c>ip</c> invocation may take before it is killed and the operation fails.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>When to send the announcements (gratuitous ARP / unsolicited NA) of an acquired address, as offsets
    /// from the moment it was added. The first (normally 0) is sent before AcquireAsync returns, the rest in the
    /// background; releasing the address stops them. Empty: no announcements.</summary>
    public IReadOnlyList<TimeSpan> AnnouncementSchedule { get; init; } =
        [TimeSpan.Zero, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100)];
}

/// <summary>An address this manager added and has not released.</summary>
public readonly record struct HeldAddress(ServiceAddress Address, string Interface)
{
    public override string ToString() => $"{Address} dev {Interface}";
}

/// <summary>The outcome of <see cref="ServiceAddressManager.AcquireAsync"/>.</summary>
/// <param name="Change"><see cref="AddressChange.Added"/>, or <see cref="AddressChange.AlreadyPresent"/> if the interface had it.</param>
/// <param name="AnnouncementFailure">Why the first announcement could not be sent (the address is held anyway;
/// clients with a stale neighbour entry then reach it only after their entry expires). Null when it was sent.</param>
/// <param name="Elapsed">From the call to the first announcement sent.</param>
public sealed record AcquireResult(HeldAddress Held, AddressChange Change, Exception? AnnouncementFailure, TimeSpan Elapsed);

/// <summary>
/// Adds service addresses (virtual IPs) to and removes them from local interfaces on Linux, and announces
/// an added address to the link so that neighbours send its traffic here at once.
/// <list type="bullet">
/// <item>Addresses are changed with one rtnetlink request each (<see cref="RtNetlink"/>, no process started), falling
/// back to iproute2 (<c>ip -4|-6 addr add|del ADDR/PREFIX dev IF</c>, run through <see cref="ICommandRunner"/> with a
/// timeout) when netlink fails or a custom runner is given; IPv6 without duplicate address detection so it is usable immediately.</item>
/// <item>Both operations are idempotent: adding a present address or removing an absent one succeeds and says so.</item>
/// <item>Announcements are built and sent by <see cref="IAddressAnnouncer"/> (by default raw frames, see
/// <see cref="RawSocketAnnouncer"/>) on <see cref="ServiceAddressOptions.AnnouncementSchedule"/>.</item>
/// <item>Operations are serialized; the manager remembers what it added (<see cref="Held"/>) so a graceful stop
/// can hand everything back with <see cref="ReleaseAllAsync"/>.</item>
/// </list>
/// Needs CAP_NET_ADMIN (address changes) and CAP_NET_RAW (announcements).
/// </summary>
public sealed partial class ServiceAddressManager : IAsyncDisposable
{
    private readonly ServiceAddressOptions _options;
    private readonly ICommandRunner _runner;
    private readonly bool _netlink;
    private readonly IAddressAnnouncer _announcer;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<HeldAddress, Burst?> _held = [];
    private readonly Dictionary<string, LinkInfo> _links = new(StringComparer.Ordinal);
    private readonly Lock _stateLock = new();
    private bool _disposed;
    private long _announcementsSent;
    private long _announcementFailures;

    public ServiceAddressManager(ServiceAddressOptions? options = null, ICommandRunner? runner = null, IAddressAnnouncer? announcer = null, ILogger? logger = null)
    {
        _options = options ?? new ServiceAddressOptions();
        _runner = runner ?? CommandRunner.Instance;
        _netlink = _options.UseNetlink && runner is null && OperatingSystem.IsLinux();
        _announcer = announcer ?? new RawSocketAnnouncer(_options.NetworkNamespace);
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The addresses this manager added and has not released (not those configured by anyone else).</summary>
    public IReadOnlyCollection<HeldAddress> Held
    {
        get
        {
            lock (_stateLock)
            {
                return [.. _held.Keys];
            }
        }
    }

    /// <summary>Announcements (gratuitous ARP / unsolicited NA packets) sent since this manager was created.</summary>
    public long AnnouncementsSent => Interlocked.Read(ref _announcementsSent);

    /// <summary>Announcements that could not be sent (each is logged as a warning).</summary>
    public long AnnouncementFailures => Interlocked.Read(ref _announcementFailures);

    /// <summary>
    /// Adds <paramref name="address"/> to <paramref name="interfaceName"/> (if absent) and starts announcing it.
    /// It is announced also when it was already present, so calling this again re-asserts ownership.
    /// Throws <see cref="CommandFailedException"/> if the address can neither be added nor is present
    /// (no such interface, no permission, timeout).
    /// </summary>
    public async Task<AcquireResult> AcquireAsync(ServiceAddress address, string interfaceName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        var started = Stopwatch.GetTimestamp();
        var held = new HeldAddress(address, interfaceName);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // The link (index, MAC) is looked up before the address is added so the first announcement
            // follows the add without another command in between.
            var link = await GetLinkCoreAsync(interfaceName, refresh: false, cancellationToken).ConfigureAwait(false);

            var change = TryNetlink(add: true, held, link.Index) ?? await AddWithIpAsync(held, cancellationToken).ConfigureAwait(false);
            var added = Stopwatch.GetTimestamp();

            Burst? previous;
            lock (_stateLock)
            {
                _held.TryGetValue(held, out previous);
                _held[held] = null;
            }
            if (previous is not null)
            {
                await previous.StopAsync().ConfigureAwait(false);
            }

            Exception? announcementFailure = null;
            var schedule = _options.AnnouncementSchedule;
            if (schedule.Count > 0)
            {
                if (schedule[0] > TimeSpan.Zero)
                {
                    await Task.Delay(schedule[0], cancellationToken).ConfigureAwait(false);
                }
                announcementFailure = await AnnounceOnceAsync(held, link, cancellationToken).ConfigureAwait(false);
                if (schedule.Count > 1)
                {
                    var burst = new Burst();
                    burst.Task = RunBurstAsync(held, link, added, burst.Cancellation.Token);
                    lock (_stateLock)
                    {
                        _held[held] = burst;
                    }
                }
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            LogAcquired(address, interfaceName, change, elapsed.TotalMilliseconds, announcementFailure?.Message ?? "sent");
            return new AcquireResult(held, change, announcementFailure, elapsed);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Stops announcing <paramref name="address"/> and removes it from <paramref name="interfaceName"/> (if present).
    /// Throws <see cref="CommandFailedException"/> if it is present and cannot be removed.
    /// </summary>
    public async Task<AddressChange> ReleaseAsync(ServiceAddress address, string interfaceName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        var started = Stopwatch.GetTimestamp();
        var held = new HeldAddress(address, interfaceName);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return await ReleaseCoreAsync(held, started, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Releases every address in <see cref="Held"/> (for a graceful stop, after the peer has taken them over).
    /// Tries all of them; if some could not be removed, throws an <see cref="AggregateException"/> at the end.
    /// </summary>
    public async Task ReleaseAllAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            List<Exception>? failures = null;
            foreach (var held in Held)
            {
                try
                {
                    await ReleaseCoreAsync(held, Stopwatch.GetTimestamp(), cancellationToken).ConfigureAwait(false);
                }
                catch (CommandFailedException e)
                {
                    (failures ??= []).Add(e);
                }
            }
            if (failures is not null)
            {
                throw new AggregateException("some service addresses could not be released", failures);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The addresses configured on <paramref name="interfaceName"/> (all interfaces when null), as the kernel
    /// reports them now (<c>ip -j addr show</c>), including ones this manager did not add.</summary>
    public async Task<IReadOnlyList<InterfaceAddress>> ListAddressesAsync(string? interfaceName = null, CancellationToken cancellationToken = default)
    {
        var result = await _runner.RunCheckedAsync(_options.IpCommand, IpRoute2.ShowAddresses(_options.NetworkNamespace, interfaceName), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        return IpRoute2.ParseAddresses(result.StandardOutput);
    }

    /// <summary>Whether <paramref name="address"/> (with that prefix) is configured on <paramref name="interfaceName"/> now.</summary>
    public Task<bool> IsPresentAsync(ServiceAddress address, string interfaceName, CancellationToken cancellationToken = default)
        => IsPresentCoreAsync(new HeldAddress(address, interfaceName), cancellationToken);

    /// <summary>The interface's index, MAC and state (<c>ip -j link show</c>), looked up now.</summary>
    public Task<LinkInfo> GetLinkAsync(string interfaceName, CancellationToken cancellationToken = default)
        => GetLinkCoreAsync(interfaceName, refresh: true, cancellationToken);

    /// <summary>Stops the announcement bursts. Does not remove any address: a node that stops without
    /// <see cref="ReleaseAllAsync"/> leaves them for its peer (or a restart) to deal with.</summary>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            List<Burst> bursts;
            lock (_stateLock)
            {
                bursts = [.. _held.Values.OfType<Burst>()];
            }
            foreach (var burst in bursts)
            {
                await burst.StopAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
        _gate.Dispose();
    }

    /// <summary>Completes when the announcements of <paramref name="address"/> started by the last acquire are all sent (tests).</summary>
    internal Task WhenAnnouncedAsync(ServiceAddress address, string interfaceName)
    {
        lock (_stateLock)
        {
            return _held.TryGetValue(new HeldAddress(address, interfaceName), out var burst) && burst is not null ? burst.Task : Task.CompletedTask;
        }
    }

    private async Task<AddressChange> ReleaseCoreAsync(HeldAddress held, long started, CancellationToken cancellationToken)
    {
        Burst? burst;
        lock (_stateLock)
        {
            _held.TryGetValue(held, out burst);
        }
        if (burst is not null)
        {
            // No announcement of an address after it is gone.
            await burst.StopAsync().ConfigureAwait(false);
        }

        var link = _netlink ? await TryGetLinkAsync(held.Interface, cancellationToken).ConfigureAwait(false) : null;
        var change = (link is null ? null : TryNetlink(add: false, held, link.Index)) ?? await DeleteWithIpAsync(held, cancellationToken).ConfigureAwait(false);
        lock (_stateLock)
        {
            _held.Remove(held);
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        LogReleased(held.Address, held.Interface, change, elapsed.TotalMilliseconds);
        return change;
    }

    private async Task<AddressChange> AddWithIpAsync(HeldAddress held, CancellationToken cancellationToken)
    {
        var add = await _runner.RunAsync(_options.IpCommand, IpRoute2.AddAddress(_options.NetworkNamespace, held.Address, held.Interface), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (add.Succeeded)
        {
            return AddressChange.Added;
        }

        // "Address already assigned" / "File exists" (older iproute2): check instead of trusting the message.
        if (await IsPresentCoreAsync(held, cancellationToken).ConfigureAwait(false))
        {
            return AddressChange.AlreadyPresent;
        }

        throw new CommandFailedException($"cannot add {held.Address} to {held.Interface}: `{add.CommandLine}` exited with {add.ExitCode}: {CommandRunnerExtensions.FirstLines(add.StandardError)}", add);
    }

    private async Task<AddressChange> DeleteWithIpAsync(HeldAddress held, CancellationToken cancellationToken)
    {
        var delete = await _runner.RunAsync(_options.IpCommand, IpRoute2.DeleteAddress(_options.NetworkNamespace, held.Address, held.Interface), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (delete.Succeeded)
        {
            return AddressChange.Removed;
        }

        // "Address not found" / "Cannot assign requested address" (older iproute2): check instead of
        // trusting the message. An interface that is gone holds no address either.
        if (!InterfaceMissing(delete) && await IsPresentCoreAsync(held, cancellationToken).ConfigureAwait(false))
        {
            throw new CommandFailedException($"cannot remove {held.Address} from {held.Interface}: `{delete.CommandLine}` exited with {delete.ExitCode}: {CommandRunnerExtensions.FirstLines(delete.StandardError)}", delete);
        }

        return AddressChange.AlreadyAbsent;
    }

    /// <summary>The change made with one rtnetlink request, or null to fall back to <c>ip</c> (netlink off or failed: <c>ip</c> then says why).</summary>
    private AddressChange? TryNetlink(bool add, HeldAddress held, int interfaceIndex)
    {
        if (!_netlink)
        {
            return null;
        }

        try
        {
            return RtNetlink.ChangeAddress(_options.NetworkNamespace, add, held.Address, interfaceIndex) switch
            {
                0 => add ? AddressChange.Added : AddressChange.Removed,
                RtNetlink.EEXIST when add => AddressChange.AlreadyPresent,
                RtNetlink.EADDRNOTAVAIL when !add => AddressChange.AlreadyAbsent,
                _ => null,
            };
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return null;
        }
    }

    private async Task<LinkInfo?> TryGetLinkAsync(string interfaceName, CancellationToken cancellationToken)
    {
        try
        {
            return await GetLinkCoreAsync(interfaceName, refresh: false, cancellationToken).ConfigureAwait(false);
        }
        catch (CommandFailedException)
        {
            return null; // no such interface: `ip addr del` reports it
        }
    }

    private static bool InterfaceMissing(CommandResult result)
        => result.StandardError.Contains("Cannot find device", StringComparison.Ordinal)
           || result.StandardError.Contains("does not exist", StringComparison.Ordinal);

    private async Task<bool> IsPresentCoreAsync(HeldAddress held, CancellationToken cancellationToken)
    {
        var addresses = await ListAddressesAsync(held.Interface, cancellationToken).ConfigureAwait(false);
        return addresses.Any(a => a.Interface == held.Interface && a.Address == held.Address);
    }

    private async Task<LinkInfo> GetLinkCoreAsync(string interfaceName, bool refresh, CancellationToken cancellationToken)
    {
        lock (_stateLock)
        {
            if (!refresh && _links.TryGetValue(interfaceName, out var cached))
            {
                return cached;
            }
        }
        var result = await _runner.RunAsync(_options.IpCommand, IpRoute2.ShowLink(_options.NetworkNamespace, interfaceName), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new CommandFailedException($"no interface {interfaceName}{InNamespace}: `{result.CommandLine}` exited with {result.ExitCode}: {CommandRunnerExtensions.FirstLines(result.StandardError)}", result);
        }
        var link = IpRoute2.ParseLink(result.StandardOutput, interfaceName);
        lock (_stateLock)
        {
            _links[interfaceName] = link;
        }
        return link;
    }

    private string InNamespace => _options.NetworkNamespace is null ? "" : $" in network namespace {_options.NetworkNamespace}";

    /// <summary>Sends one announcement; if the cached link looks stale (interface recreated), looks it up again and retries once.</summary>
    private async Task<Exception?> AnnounceOnceAsync(HeldAddress held, LinkInfo link, CancellationToken cancellationToken)
    {
        try
        {
            _announcer.Announce(held.Address, link);
            Interlocked.Increment(ref _announcementsSent);
            return null;
        }
        catch (Exception first) when (first is not OperationCanceledException)
        {
            try
            {
                var fresh = await GetLinkCoreAsync(held.Interface, refresh: true, cancellationToken).ConfigureAwait(false);
                if (fresh == link)
                {
                    Interlocked.Increment(ref _announcementFailures);
                    return first;
                }
                _announcer.Announce(held.Address, fresh);
                Interlocked.Increment(ref _announcementsSent);
                return null;
            }
            catch (Exception second) when (second is not OperationCanceledException)
            {
                Interlocked.Increment(ref _announcementFailures);
                return second;
            }
        }
    }

    private async Task RunBurstAsync(HeldAddress held, LinkInfo link, long added, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var schedule = _options.AnnouncementSchedule;
        try
        {
            for (var i = 1; i < schedule.Count; i++)
            {
                var wait = schedule[i] - Stopwatch.GetElapsedTime(added);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                }
                cancellationToken.ThrowIfCancellationRequested();
                var failure = await AnnounceOnceAsync(held, link, cancellationToken).ConfigureAwait(false);
                if (failure is not null)
                {
                    LogAnnouncementFailed(held.Address, held.Interface, i, failure.Message);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Released or disposed: stop announcing.
        }
    }

    private sealed class Burst
    {
        public CancellationTokenSource Cancellation { get; } = new();

        public Task Task { get; set; } = Task.CompletedTask;

        public async Task StopAsync()
        {
            await Cancellation.CancelAsync().ConfigureAwait(false);
            await Task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            Cancellation.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "acquired service address {Address} on {Interface}: {Change} in {ElapsedMs:0.0} ms, first announcement {Announcement}")]
    private partial void LogAcquired(ServiceAddress address, string @interface, AddressChange change, double elapsedMs, string announcement);

    [LoggerMessage(Level = LogLevel.Information, Message = "released service address {Address} on {Interface}: {Change} in {ElapsedMs:0.0} ms")]
    private partial void LogReleased(ServiceAddress address, string @interface, AddressChange change, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "announcement {Number} of service address {Address} on {Interface} failed: {Reason}")]
    private partial void LogAnnouncementFailed(ServiceAddress address, string @interface, int number, string reason);
}
