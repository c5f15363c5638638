using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Tandem.Cluster.Addresses;

/// <summary>Tells the link that this host now answers for an address (one packet; the manager repeats it).</summary>
public interface IAddressAnnouncer
{
    /// <summary>Sends one announcement of <paramref name="address"/> out of <paramref name="link"/>:
    /// a gratuitous ARP for IPv4, an unsolicited neighbour advertisement for IPv6.</summary>
    void Announce(ServiceAddress address, LinkInfo link);
}

/// <summary>
/// Announces addresses with frames built here and sent on raw sockets, no external tool:
/// IPv4 — a gratuitous ARP request (RFC 5227 "ARP announcement": sender and target protocol address
/// both the service address, target hardware address zero) broadcast on an AF_PACKET socket;
/// IPv6 — an unsolicited neighbour advertisement (RFC 4861 7.2.6: Override set, Solicited clear, with
/// the target link-layer address option) to ff02::1 on a raw ICMPv6 socket, hop limit 255.
/// Linux receivers update an existing neighbour entry from either (no new entry is created unless
/// arp_accept / accept_untracked_na is set), which is exactly what moves clients over to the new holder.
/// </summary>
public sealed class RawSocketAnnouncer : IAddressAnnouncer
{
    private const ushort EtherTypeArp = 0x0806;
    private const ushort EtherTypeIPv4 = 0x0800;

    /// <param name="networkNamespace">Named namespace to send from (tests, lab); null: this process's own.</param>
    public RawSocketAnnouncer(string? networkNamespace = null) => NetworkNamespaceName = networkNamespace;

    public string? NetworkNamespaceName { get; }

    public void Announce(ServiceAddress address, LinkInfo link)
    {
        ArgumentNullException.ThrowIfNull(link);
        if (address.IsIPv6)
        {
            AnnounceIPv6(address.Address, link);
        }
        else
        {
            AnnounceIPv4(address.Address, link);
        }
    }

    private void AnnounceIPv4(IPAddress address, LinkInfo link)
    {
        var frame = BuildGratuitousArp(link.MacAddress, address);
        // Protocol 0: this socket only sends, it never receives a copy of the link's traffic.
        using var socket = NetworkNamespace.CreateSocket(NetworkNamespaceName, AddressFamily.Packet, SocketType.Raw, ProtocolType.Unspecified);
        socket.SendTo(frame, new LinkLayerEndPoint(link.Index, EtherTypeArp, PhysicalAddressBroadcast));
    }

    private void AnnounceIPv6(IPAddress address, LinkInfo link)
    {
        var message = BuildUnsolicitedNeighborAdvertisement(link.MacAddress, address);
        using var socket = NetworkNamespace.CreateSocket(NetworkNamespaceName, AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6);
        // Receivers drop neighbour discovery that did not arrive with hop limit 255 (RFC 4861 7.1.2).
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, 255);
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, link.Index);
        // The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets (RFC 3542 3.1).
        socket.SendTo(message, new IPEndPoint(new IPAddress(AllNodes, link.Index), 0));
    }

    private static readonly byte[] AllNodes = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    private static readonly PhysicalAddress PhysicalAddressBroadcast = new([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

    /// <summary>The 60-byte Ethernet frame (42 bytes of header and ARP, zero padded to the Ethernet minimum)
    /// of a gratuitous ARP request for <paramref name="address"/> from <paramref name="mac"/>.</summary>
    public static byte[] BuildGratuitousArp(PhysicalAddress mac, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(mac);
        ArgumentNullException.ThrowIfNull(address);
        var hardware = mac.GetAddressBytes();
        if (hardware.Length != 6 || address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"gratuitous ARP needs a 6-byte MAC and an IPv4 address, got {mac} and {address}");
        }
        var ip = address.GetAddressBytes();
        var frame = new byte[60];
        var span = frame.AsSpan();
        span[..6].Fill(0xff);                                        // destination: broadcast
        hardware.CopyTo(span[6..]);                                  // source
        BinaryPrimitives.WriteUInt16BigEndian(span[12..], EtherTypeArp);
        BinaryPrimitives.WriteUInt16BigEndian(span[14..], 1);        // hardware type: Ethernet
        BinaryPrimitives.WriteUInt16BigEndian(span[16..], EtherTypeIPv4);
        span[18] = 6;                                                // hardware address length
        span[19] = 4;                                                // protocol address length
        BinaryPrimitives.WriteUInt16BigEndian(span[20..], 1);        // operation: request
        hardware.CopyTo(span[22..]);                                 // sender hardware address
        ip.CopyTo(span[28..]);                                       // sender protocol address
        // target hardware address (32..37): zero
        ip.CopyTo(span[38..]);                                       // target protocol address = sender's
        return frame;
    }

    /// <summary>The ICMPv6 body (32 bytes, checksum left zero for the kernel) of an unsolicited
    /// neighbour advertisement for <paramref name="address"/> at <paramref name="mac"/>.</summary>
    public static byte[] BuildUnsolicitedNeighborAdvertisement(PhysicalAddress mac, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(mac);
        ArgumentNullException.ThrowIfNull(address);
        var hardware = mac.GetAddressBytes();
        if (hardware.Length != 6 || address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException($"neighbour advertisement needs a 6-byte MAC and an IPv6 address, got {mac} and {address}");
        }
        var message = new byte[32];
        message[0] = 136;                                            // type: neighbour advertisement
        message[1] = 0;                                              // code
        message[4] = 0x20;                                           // flags: Override (not Router, not Solicited)
        address.GetAddressBytes().CopyTo(message, 8);                // target address
        message[24] = 2;                                             // option: target link-layer address
        message[25] = 1;                                             // option length in units of 8 bytes
        hardware.CopyTo(message, 26);
        return message;
    }
}

/// <summary>A link-layer socket address (struct sockaddr_ll) for AF_PACKET sockets.</summary>
public sealed class LinkLayerEndPoint : EndPoint
{
    private const int Size = 20;

    public LinkLayerEndPoint(int interfaceIndex, ushort protocol, PhysicalAddress? address = null)
    {
        InterfaceIndex = interfaceIndex;
        Protocol = protocol;
        Address = address;
    }

    public int InterfaceIndex { get; }

    /// <summary>The EtherType (host order).</summary>
    public ushort Protocol { get; }

    public PhysicalAddress? Address { get; }

    public override AddressFamily AddressFamily => AddressFamily.Packet;

    public override SocketAddress Serialize()
    {
        // struct sockaddr_ll { u16 family; be16 protocol; s32 ifindex; u16 hatype; u8 pkttype; u8 halen; u8 addr[8]; }
        var socketAddress = new SocketAddress(AddressFamily.Packet, Size);
        var buffer = socketAddress.Buffer.Span;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[2..], Protocol);
        var index = InterfaceIndex;
        System.Runtime.InteropServices.MemoryMarshal.Write(buffer[4..], in index); // host order
        if (Address is not null)
        {
            var bytes = Address.GetAddressBytes();
            buffer[11] = (byte)bytes.Length;
            bytes.CopyTo(buffer[12..]);
        }
        return socketAddress;
    }

    public override EndPoint Create(SocketAddress socketAddress)
    {
        ArgumentNullException.ThrowIfNull(socketAddress);
        var buffer = socketAddress.Buffer.Span;
        var length = Math.Min((int)buffer[11], 8);
        return new LinkLayerEndPoint(
            System.Runtime.InteropServices.MemoryMarshal.Read<int>(buffer[4..]),
            BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]),
            length == 0 ? null : new PhysicalAddress(buffer.Slice(12, length).ToArray()));
    }

    public override string ToString() => $"ll(if {InterfaceIndex}, proto 0x{Protocol:x4}, {Address})";
}
