using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace Tandem.Cluster.Addresses;

/// <summary>A service address (virtual IP) with the prefix length it is configured with, e.g. 198.18.0.100/24.</summary>
public readonly record struct ServiceAddress
{
    public ServiceAddress(IPAddress address, int prefixLength)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"not an IPv4 or IPv6 address: {address}", nameof(address));
        }
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (prefixLength < 0 || prefixLength > max)
        {
            throw new ArgumentOutOfRangeException(nameof(prefixLength), prefixLength, $"prefix length of {address} must be 0..{max}");
        }
        if (address.IsIPv4MappedToIPv6)
        {
            throw new ArgumentException($"use the plain IPv4 form, not {address}", nameof(address));
        }
        Address = address.AddressFamily == AddressFamily.InterNetworkV6 ? new IPAddress(address.GetAddressBytes()) : address; // drop any scope id
        PrefixLength = prefixLength;
    }

    public IPAddress Address { get; }

    public int PrefixLength { get; }

    public bool IsIPv6 => Address.AddressFamily == AddressFamily.InterNetworkV6;

    /// <summary>Parses "198.18.0.100/24" or "2001:db8::10/64"; without a prefix a host address (/32, /128).</summary>
    public static ServiceAddress Parse(string text)
        => TryParse(text, out var result) ? result : throw new FormatException($"not an address[/prefix]: '{text}'");

    public static bool TryParse([NotNullWhen(true)] string? text, out ServiceAddress result)
    {
        result = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressPart = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addressPart, out var address) || (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0) || address.IsIPv4MappedToIPv6)
        {
            return false;
        }
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = max;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > max))
        {
            return false;
        }
        result = new ServiceAddress(address, prefix);
        return true;
    }

    public override string ToString() => $"{Address}/{PrefixLength}";
}

/// <summary>An address configured on an interface, as <c>ip -j addr show</c> reports it.</summary>
public sealed record InterfaceAddress(string Interface, int InterfaceIndex, ServiceAddress Address, bool Secondary, string? Label, bool Tentative);

/// <summary>What Acquire/Release found: whether it changed the interface or the address already was as asked.</summary>
public enum AddressChange
{
    Added,
    AlreadyPresent,
    Removed,
    AlreadyAbsent,
}
