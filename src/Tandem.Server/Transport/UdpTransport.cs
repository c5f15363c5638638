using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tandem.Cluster.Addresses;

namespace Tandem.Server.Transport;

/// <summary>
/// One UDP socket with several receive loops so that all cores take datagrams (STYLE idea 8):
/// each loop owns a pooled buffer, parses and handles a datagram to completion, then receives the
/// next. ReceiveMessageFrom reports the local address each datagram was sent to.
/// </summary>
/// <remarks>
/// Each loop is a dedicated thread that waits in the kernel's receive, the way Kamailio's UDP
/// workers do, and sends are plain synchronous sendmsg calls (a UDP send does not wait for the
/// peer). The socket therefore stays in blocking mode and never goes through .NET's epoll thread:
/// an async receive costs an epoll wake-up plus a hand-off to a pool thread per datagram, and those
/// context switches were the largest single item of a REGISTER load's CPU profile
/// (docs/benchmarks.md). Nothing else waits on these threads: handling that has to wait (a
/// write-through commit) continues on the thread pool while the loop receives the next datagram.
/// </remarks>
public sealed class UdpTransport : IAsyncDisposable
{
    private const int ReceiveBufferSize = 65536;
    private const int SocketBufferBytes = 8 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly ISipMessageSink _sink;
    private readonly ILogger _logger;
    private readonly TransportCounters _counters;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Thread> _threads = [];

    /// <param name="freeBind">
    /// Bind with IP_FREEBIND so that <paramref name="bindTo"/> need not be on an interface yet (a
    /// cluster service address this node does not hold now, docs/cluster.md). Off for every other listener.
    /// </param>
    public UdpTransport(IPEndPoint bindTo, ISipMessageSink sink, TransportCounters counters, ILogger logger, bool freeBind = false)
    {
        _sink = sink;
        _counters = counters;
        _logger = logger;
        _socket = new Socket(bindTo.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (bindTo.AddressFamily == AddressFamily.InterNetworkV6)
        {
            // An explicit [::] listener stays IPv6-only so that udp:0.0.0.0 can be bound beside it.
            _socket.DualMode = false;
            _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.PacketInformation, true);
        }
        else
        {
            _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
        }

        // Bursts of REGISTERs must queue in the kernel, not be dropped while a loop is busy.
        _socket.ReceiveBufferSize = SocketBufferBytes;
        _socket.SendBufferSize = SocketBufferBytes;
        if (freeBind)
        {
            _socket.EnableFreeBind();
        }

        // A blocked receive returns at least this often, so a loop notices a stop even if closing
        // the socket does not wake it.
        _socket.ReceiveTimeout = 500;
        _socket.Bind(bindTo);
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>A flow for sending requests from this socket to <paramref name="remote"/>.</summary>
    public SipFlow FlowTo(IPEndPoint remote) => new UdpFlow(this, LocalEndPoint, remote);

    public void Start(int receiveLoops)
    {
        for (var i = 0; i < Math.Max(1, receiveLoops); i++)
        {
            var thread = new Thread(ReceiveLoop) { IsBackground = true, Name = $"sip-udp-{LocalEndPoint.Port}-{i}" };
            _threads.Add(thread);
            thread.Start();
        }
    }

    private void ReceiveLoop()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
        EndPoint anyRemote = LocalEndPoint.AddressFamily == AddressFamily.InterNetworkV6
            ? new IPEndPoint(IPAddress.IPv6Any, 0)
            : new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int received;
                IPPacketInformation packetInfo;
                EndPoint remote = anyRemote;
                var flags = SocketFlags.None;
                try
                {
                    received = _socket.ReceiveMessageFrom(buffer, 0, buffer.Length, ref flags, ref remote, out packetInfo);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize or SocketError.TimedOut or SocketError.WouldBlock)
                {
                    continue;
                }

                if (received == 0)
                {
                    continue;
                }

                _counters.Datagram(received);
                var local = new IPEndPoint(packetInfo.Address ?? LocalEndPoint.Address, LocalEndPoint.Port);
                var flow = new UdpFlow(this, local, (IPEndPoint)remote);
                try
                {
                    // Run to completion when handling is synchronous (the common case). When it has
                    // to wait it goes on by itself: the sink copies what it keeps before its first await.
                    var handling = _sink.OnMessageAsync(buffer.AsMemory(0, received), flow);
                    if (handling.IsCompletedSuccessfully)
                    {
                        handling.GetAwaiter().GetResult();
                    }
                    else
                    {
                        _ = ObserveAsync(handling, flow);
                    }
                }
                catch (Exception ex)
                {
                    _logger.LogError(ex, "Unhandled error while handling a datagram from {Remote}", flow.RemoteEndPoint);
                }
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task ObserveAsync(ValueTask handling, SipFlow flow)
    {
        try
        {
            await handling;
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Unhandled error while handling a datagram from {Remote}", flow.RemoteEndPoint);
        }
    }

    internal ValueTask<bool> SendAsync(ReadOnlyMemory<byte> data, IPEndPoint target)
    {
        try
        {
            _socket.SendTo(data.Span, SocketFlags.None, target);
            return ValueTask.FromResult(true);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            _counters.SendFailed();
            return ValueTask.FromResult(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        foreach (var thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(2));
        }
        _stop.Dispose();
    }

    private sealed class UdpFlow(UdpTransport transport, IPEndPoint local, IPEndPoint remote)
        : SipFlow(SipTransportProtocol.Udp, local, remote)
    {
        public override ValueTask<bool> SendToAsync(ReadOnlyMemory<byte> data, IPEndPoint target) => transport.SendAsync(data, target);
    }
}
