using Microsoft.Extensions.Logging;
using Tandem.Sip.Auth;
using Tandem.Storage;

namespace Tandem.Server.Config;

/// <summary>
/// Everything <c>tandem run</c> is configured with, after the YAML file, environment variables and
/// command-line options are merged and validated (<see cref="ConfigLoader"/>). Defaults here are the
/// documented defaults (docs/configuration.md, config/tandem.example.yaml). Only the routing
/// section can be reloaded at runtime (<see cref="Tandem.Server.Routing.RoutingTable"/>); the rest applies on restart.
/// </summary>
public sealed record TandemOptions
{
    public const string DefaultDataDir = "./tandem-data";

    /// <summary>Sockets to listen on; key <c>listen</c>.</summary>
    public IReadOnlyList<ListenEndpoint> Listen { get; init; } =
    [
        new(ListenTransport.Udp, System.Net.IPAddress.Any, ListenEndpoint.DefaultPort),
        new(ListenTransport.Tcp, System.Net.IPAddress.Any, ListenEndpoint.DefaultPort),
    ];

    /// <summary>Directory of tandem.db and the nonce secret; relative paths are relative to the working directory.</summary>
    public string DataDir { get; init; } = DefaultDataDir;

    public SipOptions Sip { get; init; } = new();

    public RegistrarOptions Registrar { get; init; } = new();

    public AuthOptions Auth { get; init; } = new();

    public StorageOptions Storage { get; init; } = new();

    public LoggingOptions Logging { get; init; } = new();

    /// <summary>Section <c>routing</c>: the PBX routing tables; the one section re-read on reload.</summary>
    public RoutingOptions Routing { get; init; } = new();

    /// <summary>Section <c>cluster</c>: membership, service addresses, failover; standalone when <see cref="ClusterOptions.NodeId"/> is null.</summary>
    public ClusterOptions Cluster { get; init; } = new();

    /// <summary>Section <c>admin</c>: the admin API (status, metrics) of <c>tandem run</c>.</summary>
    public AdminOptions Admin { get; init; } = new();
}

/// <summary>
/// The admin API (docs/cluster.md, "Admin API"): always on the Unix socket <c>&lt;data-dir&gt;/admin.sock</c>
/// (mode 0600), and also on TCP at <see cref="Listen"/> when set.
/// </summary>
public sealed record AdminOptions
{
    public const string SocketFileName = "admin.sock";

    /// <summary>Also serve the admin API over plain HTTP here (e.g. 127.0.0.1:9060, for a Prometheus scraper); null = Unix socket only.</summary>
    public System.Net.IPEndPoint? Listen { get; init; }
}

public sealed record SipOptions
{
    /// <summary>Domains this server is responsible for (lower case); empty accepts any.</summary>
    public IReadOnlyList<string> Domains { get; init; } = [];

    /// <summary>Value of the Server and User-Agent headers Tandem sends; empty sends none.</summary>
    public string ServerHeader { get; init; } = "Tandem";

    /// <summary>Largest SIP message accepted, in bytes.</summary>
    public int MaxMessageSize { get; init; } = 65535;

    /// <summary>RFC 3261 §17.1.1.1 T1 (RTT estimate), ms.</summary>
    public int T1Ms { get; init; } = 500;

    /// <summary>RFC 3261 §17.1.2.2 T2 (maximum retransmit interval for non-INVITE), ms.</summary>
    public int T2Ms { get; init; } = 4000;

    /// <summary>RFC 3261 §17.1.2.2 T4 (maximum time a message stays in the network), ms.</summary>
    public int T4Ms { get; init; } = 5000;

    /// <summary>A TCP connection with no traffic for this long is closed, seconds.</summary>
    public int TcpIdleTimeoutS { get; init; } = 300;

    /// <summary>Concurrent receive loops per UDP socket.</summary>
    public int ReceiveLoops { get; init; } = Environment.ProcessorCount;

    /// <summary>Live server transactions at most; beyond it new requests get 503 with Retry-After.</summary>
    // A completed REGISTER keeps its transaction 32 s (Timer J), so this bounds the sustained
    // REGISTER rate at MaxTransactions / 32: 500,000 allows ~15,000/s (docs/benchmarks.md).
    public int MaxTransactions { get; init; } = 500_000;

    /// <summary>Calls being set up or ringing at most; beyond it new INVITEs get 503 with Retry-After.</summary>
    public int MaxCalls { get; init; } = 10_000;

    public TimeSpan T1 => TimeSpan.FromMilliseconds(T1Ms);

    public TimeSpan T2 => TimeSpan.FromMilliseconds(T2Ms);

    public TimeSpan T4 => TimeSpan.FromMilliseconds(T4Ms);

    public TimeSpan TcpIdleTimeout => TimeSpan.FromSeconds(TcpIdleTimeoutS);
}

/// <summary>Expiry limits in seconds (RFC 3261 §10.3).</summary>
public sealed record RegistrarOptions
{
    /// <summary>Shorter requested expiries are answered 423 Interval Too Brief with this Min-Expires.</summary>
    public int MinExpires { get; init; } = 60;

    /// <summary>Longer requested expiries are shortened to this.</summary>
    public int MaxExpires { get; init; } = 3600;

    /// <summary>Used when the REGISTER gives no expiry.</summary>
    public int DefaultExpires { get; init; } = 3600;

    public int MaxContactsPerAor { get; init; } = 10;

    /// <summary>Seconds between OPTIONS keep-alives to contacts behind NAT; 0 turns them off.</summary>
    public int NatKeepAliveIntervalS { get; init; }
}

public sealed record AuthOptions
{
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// Challenge algorithms, one WWW-Authenticate each, in this order. The default offers MD5 only:
    /// many deployed UAs give up on a challenge they do not know instead of skipping it, as RFC 8760
    /// asks (baresip/libre 1.x fails with ENOSYS, SIPp 3.6 aborts on SHA-256). Add SHA-256 when
    /// every UA copes with it; the verifier accepts both whenever they are offered.
    /// </summary>
    public IReadOnlyList<DigestAlgorithm> Algorithms { get; init; } = [DigestAlgorithm.Md5];

    public int NonceLifetimeS { get; init; } = 300;

    /// <summary>
    /// Key for stateless nonces, shared by all nodes. Null in the file means: <c>tandem run</c> reads
    /// (or creates at first start) <c>&lt;data-dir&gt;/secret</c>, see <see cref="SharedSecretFile"/>.
    /// </summary>
    public string? SharedSecret { get; init; }

    public TimeSpan NonceLifetime => TimeSpan.FromSeconds(NonceLifetimeS);
}

public sealed record StorageOptions
{
    public StorageMode Mode { get; init; } = StorageMode.WriteThrough;

    public int FlushIntervalMs { get; init; } = 200;

    public int MaxBatchSize { get; init; } = 1000;

    public TimeSpan FlushInterval => TimeSpan.FromMilliseconds(FlushIntervalMs);
}

public sealed record LoggingOptions
{
    public LogLevel Level { get; init; } = LogLevel.Information;
}
