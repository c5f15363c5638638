using System.Net;
using System.Net.Sockets;
using Tandem.Server.Resolution.Dns;
using Tandem.Server.Transport;
using Tandem.Sip.Uris;

namespace Tandem.Server.Resolution;

public sealed class Rfc3263ResolverOptions
{
    /// <summary>Include AAAA results. Off for a server with no IPv6 route or listener.</summary>
    public bool IncludeIPv6 { get; init; } = true;

    /// <summary>The longest destination list returned; bounds DNS work for a hostile SRV set.</summary>
    public int MaxDestinations { get; init; } = 32;
}

/// <summary>
/// RFC 3263 §4 for the transports Tandem has (UDP, TCP). A numeric host needs no DNS; a host with
/// a port gets A/AAAA; a transport parameter selects the SRV name to ask; otherwise NAPTR picks the
/// transport, falling back to SRV for UDP then TCP, then to A/AAAA on the default port.
/// Destinations needing TLS, SCTP or WebSocket (every SIPS URI included) are left out, since
/// Tandem cannot send on them: such a URI resolves to an empty list.
/// Addresses of one host come IPv4 first, then IPv6, and hosts keep the SRV order, so failover
/// walks whole hosts before the next one.
/// </summary>
public sealed class Rfc3263Resolver : ISipTargetResolver
{
    private const int DefaultSipPort = 5060;

    private readonly IDnsClient _dns;
    private readonly Rfc3263ResolverOptions _options;
    private readonly Random _random;
    private readonly Lock _randomGate = new();

    /// <param name="random">Source for RFC 2782 weighted selection; injectable so tests can pin the order.</param>
    public Rfc3263Resolver(IDnsClient dns, Rfc3263ResolverOptions? options = null, Random? random = null)
    {
        _dns = dns;
        _options = options ?? new Rfc3263ResolverOptions();
        _random = random ?? Random.Shared;
    }

    /// <summary>A resolver over the servers in /etc/resolv.conf (or another file in that format).</summary>
    public static Rfc3263Resolver FromResolvConf(string path = ResolvConf.DefaultPath) =>
        new(new DnsClient(DnsClientOptions.FromResolvConf(path)));

    public async ValueTask<IReadOnlyList<SipDestination>> ResolveAsync(SipUri uri, CancellationToken cancellationToken)
    {
        // sips: always TLS (RFC 3263 §4.1), which Tandem does not have yet.
        if (!uri.IsSip || uri.IsSecure)
        {
            return [];
        }

        SipTransportProtocol? transport = null;
        if (uri.Transport is { } token)
        {
            if (!TryTransport(token, out var supported))
            {
                return [];
            }

            transport = supported;
        }

        // RFC 3263 §4: maddr, when present, replaces the host as TARGET.
        var target = SipParameters.Get(uri.Parameters, "maddr") is { Length: > 0 } maddr ? maddr : uri.Host;
        var port = uri.Port;

        // §4.1 and §4.2: a numeric TARGET is used as it is.
        if (TryNumericHost(target, out var address))
        {
            return [new SipDestination(transport ?? SipTransportProtocol.Udp, new IPEndPoint(address, port != 0 ? port : DefaultSipPort))];
        }

        var host = DnsClient.Normalize(target);
        var list = new DestinationList(_options.MaxDestinations);

        // §4.2: with an explicit port, only address records.
        if (port != 0)
        {
            await AddHostAsync(list, host, port, transport ?? SipTransportProtocol.Udp, cancellationToken);
            return list.Items;
        }

        // §4.1: a transport parameter fixes the SRV name; no SRV means A/AAAA on the default port.
        if (transport is { } fixedTransport)
        {
            if (!await AddSrvAsync(list, SrvName(fixedTransport, host), fixedTransport, cancellationToken))
            {
                await AddHostAsync(list, host, DefaultSipPort, fixedTransport, cancellationToken);
            }

            return list.Items;
        }

        // A usable NAPTR set whose SRV names lead nowhere is treated like no NAPTR: the SRV and
        // address steps below still get their chance (a misconfigured NAPTR should not make a
        // gateway unreachable that plain SRV or A records would reach).
        if (await AddNaptrAsync(list, host, cancellationToken) && list.Items.Count > 0)
        {
            return list.Items;
        }

        // §4.1: no (usable) NAPTR: SRV for each transport we support, UDP preferred. Both are asked at once.
        var udp = _dns.QueryAsync(SrvName(SipTransportProtocol.Udp, host), DnsRecordType.Srv, cancellationToken).AsTask();
        var tcp = _dns.QueryAsync(SrvName(SipTransportProtocol.Tcp, host), DnsRecordType.Srv, cancellationToken).AsTask();
        var srvFound = await AddSrvResultAsync(list, await udp, SipTransportProtocol.Udp, cancellationToken);
        srvFound |= await AddSrvResultAsync(list, await tcp, SipTransportProtocol.Tcp, cancellationToken);
        if (!srvFound)
        {
            // §4.2: no SRV at all: A/AAAA, UDP for a sip URI, default port.
            await AddHostAsync(list, host, DefaultSipPort, SipTransportProtocol.Udp, cancellationToken);
        }

        return list.Items;
    }

    /// <summary>
    /// §4.1 NAPTR step. True when usable records (flag "s", service SIP+D2U or SIP+D2T) exist.
    /// RFC 2915: once a record matches, records of another Order are not considered; those of the
    /// same Order are all kept, by Preference, as further fallbacks.
    /// </summary>
    private async ValueTask<bool> AddNaptrAsync(DestinationList list, string host, CancellationToken cancellationToken)
    {
        var result = await _dns.QueryAsync(host, DnsRecordType.Naptr, cancellationToken);
        var usable = new List<(DnsNaptrRecord Record, SipTransportProtocol Transport)>();
        foreach (var record in result.Records.OfType<DnsNaptrRecord>())
        {
            if (record.Flags.Equals("s", StringComparison.OrdinalIgnoreCase)
                && record.Replacement.Length > 0
                && TryNaptrService(record.Services, out var transport))
            {
                usable.Add((record, transport));
            }
        }

        if (usable.Count == 0)
        {
            return false;
        }

        var firstOrder = usable.Min(u => u.Record.Order);
        foreach (var (record, transport) in usable.Where(u => u.Record.Order == firstOrder).OrderBy(u => u.Record.Preference))
        {
            await AddSrvAsync(list, record.Replacement, transport, cancellationToken);
        }

        return true;
    }

    /// <summary>True when the SRV name had records (even only "." ones that say "not here").</summary>
    private async ValueTask<bool> AddSrvAsync(
        DestinationList list, string name, SipTransportProtocol transport, CancellationToken cancellationToken) =>
        await AddSrvResultAsync(list, await _dns.QueryAsync(name, DnsRecordType.Srv, cancellationToken), transport, cancellationToken);

    private async ValueTask<bool> AddSrvResultAsync(
        DestinationList list, DnsQueryResult result, SipTransportProtocol transport, CancellationToken cancellationToken)
    {
        var records = result.Records.OfType<DnsSrvRecord>().ToList();
        if (records.Count == 0)
        {
            return false;
        }

        List<DnsSrvRecord> ordered;
        lock (_randomGate)
        {
            ordered = SrvOrdering.Order(records, _random);
        }

        // Each target's addresses are asked for at once; the list keeps the SRV order.
        var lookups = ordered
            .Take(_options.MaxDestinations)
            .Select(srv => LookupHostAsync(srv.Target, cancellationToken))
            .ToList();
        for (var i = 0; i < lookups.Count; i++)
        {
            foreach (var address in await lookups[i])
            {
                list.Add(new SipDestination(transport, new IPEndPoint(address, ordered[i].Port)));
            }
        }

        return true;
    }

    private async ValueTask AddHostAsync(
        DestinationList list, string host, int port, SipTransportProtocol transport, CancellationToken cancellationToken)
    {
        foreach (var address in await LookupHostAsync(host, cancellationToken))
        {
            list.Add(new SipDestination(transport, new IPEndPoint(address, port)));
        }
    }

    /// <summary>A then AAAA records of one host, asked in parallel.</summary>
    private async Task<List<IPAddress>> LookupHostAsync(string host, CancellationToken cancellationToken)
    {
        var v4 = _dns.QueryAsync(host, DnsRecordType.A, cancellationToken).AsTask();
        var v6 = _options.IncludeIPv6
            ? _dns.QueryAsync(host, DnsRecordType.Aaaa, cancellationToken).AsTask()
            : Task.FromResult(DnsQueryResult.Failure(DnsQueryStatus.NoData));
        var addresses = new List<IPAddress>();
        foreach (var result in new[] { await v4, await v6 })
        {
            addresses.AddRange(result.Records.OfType<DnsAddressRecord>().Select(r => r.Address));
        }

        return addresses;
    }

    private static string SrvName(SipTransportProtocol transport, string host) =>
        transport == SipTransportProtocol.Udp ? "_sip._udp." + host : "_sip._tcp." + host;

    private static bool TryTransport(string token, out SipTransportProtocol transport)
    {
        transport = SipTransportProtocol.Udp;
        if (token.Equals("udp", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        transport = SipTransportProtocol.Tcp;
        return token.Equals("tcp", StringComparison.OrdinalIgnoreCase);
    }

    // RFC 3263 §4.1 service fields; SIPS+D2T, SIP+D2S and the WebSocket ones need what Tandem lacks.
    private static bool TryNaptrService(string services, out SipTransportProtocol transport)
    {
        transport = SipTransportProtocol.Udp;
        if (services.Equals("SIP+D2U", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        transport = SipTransportProtocol.Tcp;
        return services.Equals("SIP+D2T", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// IPv4 only in dotted-quad form (RFC 3261 §25.1 IPv4address), so "10" or "0x7f.1" stay
    /// host names; IPv6 only inside brackets.
    /// </summary>
    internal static bool TryNumericHost(string host, out IPAddress address)
    {
        address = IPAddress.None;
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            return IPAddress.TryParse(host.AsSpan(1, host.Length - 2), out address!)
                && address.AddressFamily == AddressFamily.InterNetworkV6;
        }

        var parts = host.Split('.');
        if (parts.Length != 4 || parts.Any(p => p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit)))
        {
            return false;
        }

        return IPAddress.TryParse(host, out address!) && address.AddressFamily == AddressFamily.InterNetwork;
    }

    /// <summary>Destinations in order, without repeats, at most a fixed number.</summary>
    private sealed class DestinationList(int capacity)
    {
        private readonly List<SipDestination> _items = [];
        private readonly HashSet<SipDestination> _seen = [];

        public List<SipDestination> Items => _items;

        public void Add(SipDestination destination)
        {
            if (_items.Count < capacity && _seen.Add(destination))
            {
                _items.Add(destination);
            }
        }
    }
}
