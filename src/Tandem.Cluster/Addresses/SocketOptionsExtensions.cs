using System.Net.Sockets;

namespace Tandem.Cluster.Addresses;

/// <summary>
/// Hot standby needs the SIP sockets bound to the service addresses on every node, also where the
/// address is not (yet) configured, so that taking the address over needs no restart and no rebind.
/// Linux allows that per socket with IP_FREEBIND (and IPV6_FREEBIND), or per namespace with the sysctls
/// net.ipv4.ip_nonlocal_bind / net.ipv6.ip_nonlocal_bind = 1. A socket bound this way to an absent
/// address receives nothing until the address is added to an interface, then receives at once.
/// (Sending from it while the address is absent fails; nothing is sent from a VIP the node does not hold.)
/// </summary>
public static class SocketOptionsExtensions
{
    /// <summary>SOL_IP.</summary>
    public const int SolIp = 0;

    /// <summary>IP_FREEBIND (linux/in.h).</summary>
    public const int IpFreeBind = 15;

    /// <summary>SOL_IPV6.</summary>
    public const int SolIpv6 = 41;

    /// <summary>IPV6_FREEBIND (linux/in6.h, Linux 4.15+).</summary>
    public const int Ipv6FreeBind = 78;

    /// <summary>
    /// Lets <paramref name="socket"/> bind to an address this host does not have (Linux). Call before Bind.
    /// For IPv6 sockets sets IPV6_FREEBIND, and IP_FREEBIND too for a dual-mode socket (the kernel keeps one flag).
    /// Throws <see cref="PlatformNotSupportedException"/> off Linux, <see cref="SocketException"/> if the kernel refuses.
    /// </summary>
    public static void EnableFreeBind(this Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("IP_FREEBIND is Linux-only");
        }
        if (socket.AddressFamily == AddressFamily.InterNetworkV6)
        {
            socket.SetRawSocketOption(SolIpv6, Ipv6FreeBind, BitConverter.GetBytes(1));
            if (socket.DualMode)
            {
                socket.SetRawSocketOption(SolIp, IpFreeBind, BitConverter.GetBytes(1));
            }
        }
        else
        {
            socket.SetRawSocketOption(SolIp, IpFreeBind, BitConverter.GetBytes(1));
        }
    }

    /// <summary>Whether IP_FREEBIND (IPV6_FREEBIND for IPv6 sockets) is set on <paramref name="socket"/>.</summary>
    public static bool IsFreeBindEnabled(this Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var value = new byte[4];
        if (socket.AddressFamily == AddressFamily.InterNetworkV6)
        {
            socket.GetRawSocketOption(SolIpv6, Ipv6FreeBind, value);
        }
        else
        {
            socket.GetRawSocketOption(SolIp, IpFreeBind, value);
        }
        return BitConverter.ToInt32(value) != 0;
    }
}
