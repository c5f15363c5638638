using System.Net;

namespace Tandem.Server.Resolution.Dns;

/// <summary>Settings of a <see cref="DnsClient"/>; defaults follow glibc's resolver where it has one.</summary>
public sealed class DnsClientOptions
{
    /// <summary>Recursive servers, asked in order (each attempt walks the whole list).</summary>
    public required IReadOnlyList<IPEndPoint> Servers { get; init; }

    /// <summary>How long to wait for one server's answer (resolv.conf "timeout", default 5 s there; 2 s here).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How many times the server list is walked (resolv.conf "attempts").</summary>
    public int Attempts { get; init; } = 2;

    /// <summary>Most cached answers (positive and negative together); the least recently used goes first.</summary>
    public int CacheCapacity { get; init; } = 1024;

    /// <summary>Upper bound on how long a positive answer is kept, whatever its TTL says.</summary>
    public TimeSpan MaxCacheTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long NXDOMAIN and "no data" answers are kept: the SOA's negative TTL (RFC 2308 §5) when
    /// the answer carries one, but never longer than this; this long when it does not. Zero turns
    /// negative caching off.
    /// </summary>
    public TimeSpan NegativeCacheTtl { get; init; } = TimeSpan.FromSeconds(10);

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Options for the servers and settings in /etc/resolv.conf (or another file in that format).</summary>
    public static DnsClientOptions FromResolvConf(string path = ResolvConf.DefaultPath)
    {
        var conf = ResolvConf.Load(path);
        var defaults = new DnsClientOptions { Servers = conf.Servers };
        return new DnsClientOptions
        {
            Servers = conf.Servers,
            Timeout = conf.Timeout ?? defaults.Timeout,
            Attempts = conf.Attempts ?? defaults.Attempts,
        };
    }

    internal void Validate()
    {
        if (Servers.Count == 0)
        {
            throw new ArgumentException("a DNS client needs at least one server", nameof(Servers));
        }

        if (Timeout <= TimeSpan.Zero || Attempts < 1 || CacheCapacity < 0 || MaxCacheTtl < TimeSpan.Zero
            || NegativeCacheTtl < TimeSpan.Zero)
        {
            throw new ArgumentException("DNS client options out of range: timeout and attempts must be positive, cache settings not negative");
        }
    }
}
