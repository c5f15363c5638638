using System.Net;
using System.Net.NetworkInformation;
using Tandem.Server.Transport;
using Tandem.Sip.Uris;

namespace Tandem.Server.Proxy;

/// <summary>
/// Which URIs point at this server: a Route or Request-URI whose host is one of our listening
/// addresses (any local interface address for a wildcard listener) on one of our ports, or one of
/// the served domains without a port. Also builds our Via and Record-Route values.
/// </summary>
public sealed class LocalIdentity
{
    private readonly HashSet<IPAddress> _addresses = [];
    private readonly HashSet<int> _ports = [];
    private readonly IReadOnlyList<string> _domains;

    private readonly Func<string, bool> _isSubscriberDomain;

    /// <param name="domains">Configured served domains; when empty, any domain that has subscribers is served.</param>
    public LocalIdentity(IEnumerable<(SipTransportProtocol Protocol, IPEndPoint EndPoint)> listening, IReadOnlyList<string> domains, Func<string, bool>? isSubscriberDomain = null)
    {
        _domains = domains;
        _isSubscriberDomain = isSubscriberDomain ?? (_ => false);
        foreach (var (_, endPoint) in listening)
        {
            _ports.Add(endPoint.Port);
            if (endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                AddInterfaceAddresses();
            }
            else
            {
                _addresses.Add(endPoint.Address);
            }
        }
    }

    private void AddInterfaceAddresses()
    {
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                _addresses.Add(unicast.Address);
            }
        }
    }

    public bool IsLocalDomain(string host)
    {
        foreach (var domain in _domains)
        {
            if (domain.Equals(host, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return IsOurAddress(host) || (_domains.Count == 0 && _isSubscriberDomain(host));
    }

    /// <summary>True when <paramref name="uri"/> addresses this server itself (not a user at it).</summary>
    public bool IsOurs(SipUri uri)
    {
        if (!uri.IsSip)
        {
            return false;
        }

        if (IsOurAddress(uri.Host))
        {
            return _ports.Contains(uri.Port == 0 ? 5060 : uri.Port);
        }

        return uri.Port == 0 && _domains.Count > 0 && IsLocalDomain(uri.Host);
    }

    public bool IsOurAddress(string host)
    {
        var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        return IPAddress.TryParse(bare, out var address) && _addresses.Contains(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
    }

    /// <summary>"host:port" for a local endpoint, IPv6 in brackets; a wildcard becomes <paramref name="fallback"/>.</summary>
    public static string HostPort(IPEndPoint local, IPAddress fallback)
    {
        var address = local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any) ? fallback : local.Address;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return new IPEndPoint(address, local.Port).ToString();
    }

    public static string RecordRoute(string hostPort, SipTransportProtocol protocol)
        => protocol == SipTransportProtocol.Tcp ? $"<sip:{hostPort};transport=tcp;lr>" : $"<sip:{hostPort};lr>";
}
