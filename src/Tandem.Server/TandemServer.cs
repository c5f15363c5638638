using System.Text;
using Microsoft.Extensions.Logging;
using Tandem.Server.Calls;
using Tandem.Server.Cluster;
using Tandem.Server.Config;
using Tandem.Server.Core;
using Tandem.Server.Proxy;
using Tandem.Server.Registrar;
using Tandem.Server.Resolution;
using Tandem.Server.Routing;
using Tandem.Server.Transport;
using Tandem.Sip.Auth;
using Tandem.Sip.Messages;
using Tandem.Sip.Timers;
using Tandem.Sip.Transactions;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server;

/// <summary>
/// Composition root of a running Tandem node: storage, location service, registrar, SIP core,
/// transaction timers and the listeners. `tandem run` starts one; tests start it in-process.
/// </summary>
public sealed class TandemServer : IAsyncDisposable
{
    private static readonly TimeSpan PurgeInterval = TimeSpan.FromSeconds(1);

    // How often the subscriber cache asks the store whether an account changed (the CLI writes
    // from another process), and how long it keeps an account at most without asking.
    private static readonly TimeSpan SubscriberCheckInterval = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan SubscriberMaxAge = TimeSpan.FromMinutes(5);

    private readonly TandemOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<UdpTransport> _udp = [];
    private readonly List<TcpTransport> _tcp = [];
    private TandemStorage? _storage;
    private TimerWheel? _wheel;
    private ITimer? _purgeTimer;
    private ITimer? _subscriberCheckTimer;
    private IdleHeapCompactor? _compactor;
    private SipRegistrar? _registrar;
    private int _purging;
    private int _stopped;

    private NatKeepAlive? _keepAlive;
    private DialogTracker? _calls;
    private Cluster.ClusterHost? _cluster; // cluster wiring (ClusterHost), see src/Tandem.Server/Cluster/

    public TandemServer(TandemOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null)
    {
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Tandem.Server");
        _time = time ?? TimeProvider.System;
    }

    public LocationService Locations { get; } = new();

    public TandemOptions Options => _options;

    /// <summary>When <see cref="StartAsync"/> was called (the admin API's uptime).</summary>
    public DateTimeOffset StartedAt { get; private set; }

    /// <summary>Membership and service addresses; null on a standalone node or before start.</summary>
    public ClusterHost? ClusterHost => _cluster;

    /// <summary>Calls being set up or established now.</summary>
    public int ActiveDialogs => _calls?.Count ?? 0;

    /// <summary>State replication (cluster.replication.listen set); null on a standalone node.</summary>
    public ReplicationBridge? Replication { get; private set; }

    public TransportCounters TransportCounters { get; } = new();

    public SipServerCore? Core { get; private set; }

    /// <summary>The PBX routing in force; <see cref="RoutingTable.ReloadAsync"/> swaps it without touching calls in progress.</summary>
    public RoutingTable? Routing { get; private set; }

    /// <summary>Where the listeners ended up (port 0 in config becomes a real port).</summary>
    public IReadOnlyList<(SipTransportProtocol Protocol, System.Net.IPEndPoint EndPoint)> ListeningOn { get; private set; } = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        StartedAt = _time.GetUtcNow();
        var options = _options.Auth.Enabled && _options.Auth.SharedSecret is null ? SharedSecretFile.Resolve(_options) : _options;

        Directory.CreateDirectory(options.DataDir);
        _storage = StorageFactory.Open(options.DataDir, options.Storage.Mode, new WriteBehindOptions
        {
            FlushInterval = options.Storage.FlushInterval,
            MaxBatchSize = options.Storage.MaxBatchSize,
            OnWriteError = ex => _logger.LogError(ex, "Writing bindings to the store failed"),
        });

        var loaded = Locations.Load(await _storage.Bindings.LoadAllAsync(cancellationToken), _time.GetUtcNow());
        ServerLog.LoadedBindings(_logger, loaded);

        // --- State replication (ReplicationBridge): before the SIP listeners; merges replicated bindings. ---
        if (options.Cluster.ReplicationEnabled)
        {
            Replication = await ReplicationBridge.StartAsync(options, _storage, Locations, _time, _loggerFactory, cancellationToken);
        }

        // --- end state replication ---

        _wheel = new TimerWheel(_time, TimeSpan.FromMilliseconds(10))
        {
            CallbackFailed = ex => _logger.LogError(ex, "A SIP timer callback failed"),
        };
        _wheel.Start();

        IRequestAuthenticator? authenticator = null;
        var subscribers = new SubscriberCache(_storage.Subscribers, _time, SubscriberMaxAge);
        await subscribers.CheckForChangesAsync(cancellationToken);
        _subscriberCheckTimer = _time.CreateTimer(_ => _ = CheckSubscribersAsync(subscribers), null, SubscriberCheckInterval, SubscriberCheckInterval);
        if (Replication is not null)
        {
            // Accounts written from the cluster or the change journal are seen by the next REGISTER.
            Replication.SubscriberChanged += subscribers.Invalidate;
        }
        else
        {
            await new SqliteSubscriberStore(_storage.Database).DiscardChangesIfNeverReplicatedAsync(cancellationToken);
        }

        if (options.Auth.Enabled)
        {
            var nonces = new NonceService(Encoding.UTF8.GetBytes(options.Auth.SharedSecret!), _time, options.Auth.NonceLifetime);
            var digest = new DigestAuthenticator(nonces, options.Auth.Algorithms, new NonceCountTracker(options.Auth.NonceLifetime, _time));
            authenticator = new DigestRequestAuthenticator(digest, subscribers);
        }

        var settings = new RegistrarSettings
        {
            MinExpires = options.Registrar.MinExpires,
            MaxExpires = options.Registrar.MaxExpires,
            DefaultExpires = options.Registrar.DefaultExpires,
            MaxContactsPerAor = options.Registrar.MaxContactsPerAor,
            Domains = options.Sip.Domains,
        };
        _registrar = new SipRegistrar(Locations, _storage.Bindings, settings, authenticator, _time, _loggerFactory.CreateLogger("Tandem.Registrar"), Replication);

        var timers = new SipTimerSettings { T1 = options.Sip.T1, T2 = options.Sip.T2, T4 = options.Sip.T4 };
        var limits = new SipParserLimits { MaxMessageSize = options.Sip.MaxMessageSize };
        Core = new SipServerCore(limits, _registrar, _wheel, timers, options.Sip.MaxTransactions, options.Sip.ServerHeader, _loggerFactory.CreateLogger("Tandem.Sip"), _stopping.Token);

        var listening = new List<(SipTransportProtocol, System.Net.IPEndPoint)>();
        var transportLogger = _loggerFactory.CreateLogger("Tandem.Transport");
        foreach (var endpoint in options.Listen)
        {
            try
            {
                StartListener(endpoint, options, listening, transportLogger);
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                throw new InvalidOperationException($"cannot listen on {endpoint}: {ex.Message}", ex);
            }
        }

        ListeningOn = listening;
        var transports = new SipTransportSet(_udp, _tcp);
        _calls = new DialogTracker(_storage.Cdrs, _time, new DialogTrackerOptions
        {
            NodeName = options.Cluster.NodeId ?? Environment.MachineName,
            OnError = ex => _logger.LogError(ex, "Call record tracking failed"),
        });

        // --- State replication: calls in progress and their CDRs (ReplicationBridge.Calls.cs). ---
        Replication?.AttachCalls(_calls, _storage.Cdrs);

        var identity = new LocalIdentity(listening, options.Sip.Domains, subscribers.HasDomain);
        var proxy = new ProxyCore(
            new ProxyDependencies(
                identity,
                Locations,
                authenticator,
                () => Routing!.Planner,
                address => Routing!.TrustedPeers.Contains(address),
                Rfc3263Resolver.FromResolvConf(),
                _calls,
                transports,
                _wheel,
                _time,
                options.Sip.ServerHeader,
                options.Sip.MaxCalls,
                _loggerFactory.CreateLogger("Tandem.Proxy")),
            Core.Context,
            Core.ClientTransactions);
        Routing = new RoutingTable(options, (user, domain) => subscribers.Exists(user, domain) || Locations.Get($"sip:{user}@{domain}").Count > 0, _time);
        Replication?.AttachRouting(Routing);
        Core.Identity = identity;
        Core.Proxy = proxy;
        if (options.Registrar.NatKeepAliveIntervalS > 0)
        {
            _keepAlive = new NatKeepAlive(Locations, transports, _time, TimeSpan.FromSeconds(options.Registrar.NatKeepAliveIntervalS));
        }
        _purgeTimer = _time.CreateTimer(_ => _ = PurgeAsync(), null, PurgeInterval, PurgeInterval);
        var core = Core;
        _compactor = new IdleHeapCompactor(() => core.TransactionCount + core.CompletedAnswerCount, _logger, _time, compact: !options.Cluster.Enabled);

        // --- cluster: begin (membership + service addresses, after the SIP listeners are up) ---
        if (options.Cluster.Enabled)
        {
            var probeTarget = Cluster.ClusterHost.ProbeTarget(options, _udp.Select(u => u.LocalEndPoint));
            _cluster = new Cluster.ClusterHost(options, _loggerFactory, () => probeTarget, () => _wheel);
            await _cluster.StartAsync(cancellationToken);
        }
        // --- cluster: end ---
    }

    private void StartListener(ListenEndpoint endpoint, TandemOptions options, List<(SipTransportProtocol, System.Net.IPEndPoint)> listening, ILogger transportLogger)
    {
        if (endpoint.Transport == ListenTransport.Udp)
        {
            var udp = new UdpTransport(endpoint.EndPoint, Core!, TransportCounters, transportLogger, freeBind: Cluster.ClusterHost.IsServiceAddress(options, endpoint.EndPoint.Address));
            udp.Start(options.Sip.ReceiveLoops);
            _udp.Add(udp);
            listening.Add((SipTransportProtocol.Udp, udp.LocalEndPoint));
            ServerLog.Listening(_logger, "UDP", udp.LocalEndPoint);
        }
        else
        {
            var tcp = new TcpTransport(endpoint.EndPoint, Core!, TransportCounters, transportLogger, options.Sip.MaxMessageSize, options.Sip.TcpIdleTimeout, _time, freeBind: Cluster.ClusterHost.IsServiceAddress(options, endpoint.EndPoint.Address));
            tcp.Start();
            _tcp.Add(tcp);
            listening.Add((SipTransportProtocol.Tcp, tcp.LocalEndPoint));
            ServerLog.Listening(_logger, "TCP", tcp.LocalEndPoint);
        }
    }

    private async Task CheckSubscribersAsync(SubscriberCache subscribers)
    {
        try
        {
            await subscribers.CheckForChangesAsync(_stopping.Token);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            // Forget rather than serve accounts that may have changed; the next REGISTER reads again.
            subscribers.InvalidateAll();
            _logger.LogError(ex, "Checking the subscriber store for changes failed");
        }
    }

    private async Task PurgeAsync()
    {
        // One purge at a time; a slow disk must not stack them up.
        if (Interlocked.Exchange(ref _purging, 1) != 0)
        {
            return;
        }

        try
        {
            Core?.ExpireCompletedAnswers();
            await _registrar!.PurgeExpiredAsync(_stopping.Token);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Purging expired bindings failed");
        }
        finally
        {
            Volatile.Write(ref _purging, 0);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        // --- cluster: begin (hand the service addresses over before anything else stops) ---
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
            _cluster = null;
        }
        // --- cluster: end ---

        if (_purgeTimer is not null)
        {
            await _purgeTimer.DisposeAsync();
            _purgeTimer = null;
        }

        if (_subscriberCheckTimer is not null)
        {
            await _subscriberCheckTimer.DisposeAsync();
            _subscriberCheckTimer = null;
        }

        _compactor?.Dispose();
        _compactor = null;
        if (_keepAlive is not null)
        {
            await _keepAlive.DisposeAsync();
            _keepAlive = null;
        }

        // Stop taking new work first, then make sure every acknowledged binding is on disk.
        foreach (var udp in _udp)
        {
            await udp.DisposeAsync();
        }

        foreach (var tcp in _tcp)
        {
            await tcp.DisposeAsync();
        }

        _udp.Clear();
        _tcp.Clear();
        _calls?.Dispose();
        _calls = null;
        await _stopping.CancelAsync();
        if (Replication is not null)
        {
            // State replication: stop after the listeners, before the binding store it writes to.
            await Replication.DisposeAsync();
            Replication = null;
        }

        if (_storage is not null)
        {
            await _storage.Bindings.FlushAsync(cancellationToken);
            await _storage.DisposeAsync();
            _storage = null;
        }

        _wheel?.Dispose();
        _wheel = null;
        _logger.LogInformation("Tandem stopped");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }
}
