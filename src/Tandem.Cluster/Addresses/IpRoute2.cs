using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json;

namespace Tandem.Cluster.Addresses;

/// <summary>A network interface as <c>ip -j link show</c> reports it.</summary>
public sealed record LinkInfo(string Name, int Index, PhysicalAddress MacAddress, string OperState, bool AdministrativelyUp);

/// <summary>The iproute2 command lines the manager runs, and the parsing of their JSON output (<c>ip -j</c>).</summary>
internal static class IpRoute2
{
    public static List<string> Prefix(string? networkNamespace)
        => networkNamespace is null ? [] : ["-n", networkNamespace];

    public static List<string> AddAddress(string? networkNamespace, ServiceAddress address, string interfaceName)
    {
        var args = Prefix(networkNamespace);
        args.AddRange([address.IsIPv6 ? "-6" : "-4", "addr", "add", address.ToString(), "dev", interfaceName]);
        if (address.IsIPv6)
        {
            // Skip duplicate address detection: the address must answer at once, and its neighbour
            // advertisements must not wait ~1 s for DAD (a tentative address is not used as a source).
            args.Add("nodad");
        }
        return args;
    }

    public static List<string> DeleteAddress(string? networkNamespace, ServiceAddress address, string interfaceName)
    {
        var args = Prefix(networkNamespace);
        args.AddRange([address.IsIPv6 ? "-6" : "-4", "addr", "del", address.ToString(), "dev", interfaceName]);
        return args;
    }

    public static List<string> ShowAddresses(string? networkNamespace, string? interfaceName)
    {
        var args = Prefix(networkNamespace);
        args.AddRange(["-j", "addr", "show"]);
        if (interfaceName is not null)
        {
            args.AddRange(["dev", interfaceName]);
        }
        return args;
    }

    public static List<string> ShowLink(string? networkNamespace, string interfaceName)
    {
        var args = Prefix(networkNamespace);
        args.AddRange(["-j", "link", "show", "dev", interfaceName]);
        return args;
    }

    /// <summary>Parses <c>ip -j addr show</c>: an array of interfaces, each with <c>addr_info</c>.</summary>
    public static List<InterfaceAddress> ParseAddresses(string json)
    {
        var result = new List<InterfaceAddress>();
        if (string.IsNullOrWhiteSpace(json))
        {
            return result;
        }
        using var document = JsonDocument.Parse(json);
        foreach (var link in document.RootElement.EnumerateArray())
        {
            if (!link.TryGetProperty("ifname", out var nameElement) || !link.TryGetProperty("addr_info", out var infos))
            {
                continue;
            }
            var name = nameElement.GetString() ?? "";
            var index = link.TryGetProperty("ifindex", out var indexElement) ? indexElement.GetInt32() : 0;
            foreach (var info in infos.EnumerateArray())
            {
                if (!info.TryGetProperty("local", out var local) || !info.TryGetProperty("prefixlen", out var prefix)
                    || !IPAddress.TryParse(local.GetString(), out var address))
                {
                    continue;
                }
                result.Add(new InterfaceAddress(
                    name,
                    index,
                    new ServiceAddress(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? new IPAddress(address.GetAddressBytes()) : address, prefix.GetInt32()),
                    Flag(info, "secondary"),
                    info.TryGetProperty("label", out var label) ? label.GetString() : null,
                    Flag(info, "tentative")));
            }
        }
        return result;
    }

    /// <summary>Parses <c>ip -j link show dev IF</c>.</summary>
    public static LinkInfo ParseLink(string json, string interfaceName)
    {
        using var document = JsonDocument.Parse(json);
        foreach (var link in document.RootElement.EnumerateArray())
        {
            var name = link.GetProperty("ifname").GetString();
            if (name != interfaceName)
            {
                continue;
            }
            var mac = link.TryGetProperty("address", out var addressElement) ? addressElement.GetString() : null;
            var flags = link.TryGetProperty("flags", out var flagsElement)
                ? flagsElement.EnumerateArray().Select(f => f.GetString()).ToList()
                : [];
            return new LinkInfo(
                name,
                link.GetProperty("ifindex").GetInt32(),
                ParseMac(mac, interfaceName),
                link.TryGetProperty("operstate", out var state) ? state.GetString() ?? "UNKNOWN" : "UNKNOWN",
                flags.Contains("UP"));
        }
        throw new InvalidOperationException($"`ip link show dev {interfaceName}` did not list {interfaceName}");
    }

    public static PhysicalAddress ParseMac(string? text, string interfaceName)
    {
        var parts = text?.Split(':') ?? [];
        if (parts.Length != 6)
        {
            throw new InvalidOperationException($"interface {interfaceName} has no Ethernet address ('{text}'); ARP announcements need one");
        }
        return new PhysicalAddress(parts.Select(p => byte.Parse(p, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray());
    }

    private static bool Flag(JsonElement info, string name)
        => info.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;
}
