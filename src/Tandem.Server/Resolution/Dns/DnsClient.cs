namespace Tandem.Server.Resolution.Dns;

/// <summary>
/// A stub resolver: sends each question to the configured recursive servers over UDP (TCP when
/// the answer comes back truncated), with a per-server timeout and a number of passes over the
/// list, and caches answers by TTL. Build it from a server list or from /etc/resolv.conf with
/// <see cref="DnsClientOptions.FromResolvConf"/>. Thread-safe; one instance serves the process.
/// </summary>
public sealed partial class DnsClient : IDnsClient
{
    // A CNAME chain longer than this in one answer is treated as having no data.
    private const int MaxCNameChain = 8;

    private readonly DnsClientOptions _options;
    private readonly DnsCache _cache;

    public DnsClient(DnsClientOptions options)
    {
        options.Validate();
        _options = options;
        _cache = new DnsCache(options.CacheCapacity, options.TimeProvider);
    }

    /// <summary>A client for these servers with default settings.</summary>
    public DnsClient(IReadOnlyList<System.Net.IPEndPoint> servers)
        : this(new DnsClientOptions { Servers = servers })
    {
    }

    /// <summary>Entries in the cache now, expired ones not yet evicted included (for tests and metrics).</summary>
    public int CachedAnswers => _cache.Count;

    public async ValueTask<DnsQueryResult> QueryAsync(string name, DnsRecordType type, CancellationToken cancellationToken)
    {
        name = Normalize(name);
        if (!DnsQueryWriter.IsValidName(name))
        {
            return DnsQueryResult.Failure(DnsQueryStatus.InvalidName);
        }

        if (_cache.TryGet(name, type, out var cached))
        {
            return cached;
        }

        var failure = DnsQueryStatus.Timeout;
        for (var attempt = 0; attempt < _options.Attempts; attempt++)
        {
            foreach (var server in _options.Servers)
            {
                var response = await ExchangeAsync(server, name, type, cancellationToken);
                if (response is null)
                {
                    continue;
                }

                // RFC 1035 §4.1.1: only NOERROR and NXDOMAIN are answers about the name; any
                // other RCODE says something about this server, so the next one is asked.
                if (response.ResponseCode is DnsResponseCode.NoError or DnsResponseCode.NameError)
                {
                    var (result, ttl) = Interpret(response, name, type);
                    _cache.Set(name, type, result, ttl);
                    return result;
                }

                failure = DnsQueryStatus.ServerFailure;
            }
        }

        return DnsQueryResult.Failure(failure);
    }

    internal static string Normalize(string name)
    {
        name = name.ToLowerInvariant();
        return name.EndsWith('.') ? name[..^1] : name;
    }

    /// <summary>The records that answer the question, following CNAMEs inside the answer, and how long to keep them.</summary>
    internal (DnsQueryResult Result, TimeSpan Ttl) Interpret(DnsMessage response, string name, DnsRecordType type)
    {
        if (response.ResponseCode == DnsResponseCode.NameError)
        {
            return (DnsQueryResult.Failure(DnsQueryStatus.NameError), NegativeTtl(response));
        }

        var owner = name;
        var minTtl = uint.MaxValue;
        for (var step = 0; step <= MaxCNameChain; step++)
        {
            List<DnsRecord>? matches = null;
            DnsCNameRecord? alias = null;
            foreach (var record in response.Answers)
            {
                if (record.Name != owner)
                {
                    continue;
                }

                if (record.Type == type)
                {
                    (matches ??= []).Add(record);
                }
                else if (record is DnsCNameRecord cname)
                {
                    alias ??= cname;
                }
            }

            if (matches is not null)
            {
                foreach (var record in matches)
                {
                    minTtl = Math.Min(minTtl, record.Ttl);
                }

                var ttl = TimeSpan.FromSeconds(minTtl);
                return (new DnsQueryResult(DnsQueryStatus.Success, matches), ttl < _options.MaxCacheTtl ? ttl : _options.MaxCacheTtl);
            }

            if (alias is null)
            {
                break;
            }

            minTtl = Math.Min(minTtl, alias.Ttl);
            owner = alias.Target;
        }

        return (DnsQueryResult.Failure(DnsQueryStatus.NoData), NegativeTtl(response));
    }

    // RFC 2308 §5: a negative answer lives for the smaller of the SOA's TTL and its MINIMUM.
    private TimeSpan NegativeTtl(DnsMessage response)
    {
        foreach (var record in response.Authority)
        {
            if (record is DnsSoaRecord soa)
            {
                var ttl = TimeSpan.FromSeconds(Math.Min(soa.Ttl, soa.Minimum));
                return ttl < _options.NegativeCacheTtl ? ttl : _options.NegativeCacheTtl;
            }
        }

        return _options.NegativeCacheTtl;
    }
}
