using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Tandem.Cluster.Addresses;

namespace Tandem.Lab.Netns;

/// <summary>One ARP packet seen on a host's eth0 (in either direction).</summary>
public sealed record ArpPacket(TimeSpan At, PhysicalAddress EthernetSource, int Operation, PhysicalAddress SenderMac, IPAddress SenderIp, PhysicalAddress TargetMac, IPAddress TargetIp)
{
    /// <summary>Sender and target protocol address equal: an announcement (gratuitous ARP).</summary>
    public bool IsGratuitous => SenderIp.Equals(TargetIp);

    public override string ToString()
        => $"+{At.TotalMilliseconds:0.0} ms {(Operation == 1 ? "request" : "reply")} from {NetnsHost.FormatMac(EthernetSource)}: {SenderIp} is-at {NetnsHost.FormatMac(SenderMac)}, who-has {TargetIp}";
}

/// <summary>
/// Records the ARP traffic of a host's eth0, received and sent, with an AF_PACKET socket opened in its namespace
/// (a minimal tcpdump "arp"): proves who announced what and that the host itself asked nothing.
/// </summary>
public sealed class ArpCapture : IDisposable
{
    private const ushort EtherTypeArp = 0x0806;
    private readonly Socket _socket;
    private readonly List<ArpPacket> _packets = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly Task _loop;

    private ArpCapture(Socket socket)
    {
        _socket = socket;
        _loop = Task.Run(LoopAsync);
    }

    public static async Task<ArpCapture> StartAsync(NetnsHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var link = await host.CreateAddressManager().GetLinkAsync(host.Interface);
        // The protocol of a packet socket is the EtherType in network byte order.
        var socket = host.CreateSocket(AddressFamily.Packet, SocketType.Raw, (ProtocolType)BinaryPrimitives.ReverseEndianness(EtherTypeArp));
        socket.Bind(new LinkLayerEndPoint(link.Index, EtherTypeArp));
        return new ArpCapture(socket);
    }

    public IReadOnlyList<ArpPacket> Packets
    {
        get
        {
            lock (_packets)
            {
                return [.. _packets];
            }
        }
    }

    private async Task LoopAsync()
    {
        var buffer = new byte[2048];
        while (!_stop.IsCancellationRequested)
        {
            int length;
            try
            {
                length = await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            if (length < 42 || BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(12)) != EtherTypeArp)
            {
                continue;
            }
            var packet = new ArpPacket(
                Stopwatch.GetElapsedTime(_started),
                new PhysicalAddress(buffer[6..12]),
                BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(20)),
                new PhysicalAddress(buffer[22..28]),
                new IPAddress(buffer.AsSpan(28, 4)),
                new PhysicalAddress(buffer[32..38]),
                new IPAddress(buffer.AsSpan(38, 4)));
            lock (_packets)
            {
                _packets.Add(packet);
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }
}
