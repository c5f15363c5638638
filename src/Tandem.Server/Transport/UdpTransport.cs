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
public sealed class UdpTransport : IAsyncDisposable
{
    private const int ReceiveBufferSize = 65536;
    private const int SocketBufferBytes = 8 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly ISipMessageSink _sink;
    private readonly ILogger _logger;
    private readonly TransportCounters _counters;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

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
            _loops.Add(Task.Factory.StartNew(ReceiveLoopAsync, _stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap());
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
        EndPoint anyRemote = LocalEndPoint.AddressFamily == AddressFamily.InterNetworkV6
            ? new IPEndPoint(IPAddress.IPv6Any, 0)
            : new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                SocketReceiveMessageFromResult result;
                try
                {
                    result = await _socket.ReceiveMessageFromAsync(buffer, SocketFlags.None, anyRemote, _stop.Token);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize)
                {
                    // ICMP errors from earlier sends, or an oversized datagram: not fatal for the socket.
                    continue;
                }

                if (result.ReceivedBytes == 0)
                {
                    continue;
                }

                _counters.Datagram(result.ReceivedBytes);
                var local = new IPEndPoint(result.PacketInformation.Address ?? LocalEndPoint.Address, LocalEndPoint.Port);
                var flow = new UdpFlow(this, local, (IPEndPoint)result.RemoteEndPoint);
                try
                {
                    // Run to completion when handling is synchronous (the common case). When it has
                    // to wait (e.g. for a write-through commit) it goes on by itself and this loop
                    // receives the next datagram: the sink copies what it keeps before its first await.
                    var handling = _sink.OnMessageAsync(buffer.AsMemory(0, result.ReceivedBytes), flow);
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
                    // A bug in handling one datagram must not take the listener down.
                    _logger.LogError(ex, "Unhandled error while handling a datagram from {Remote}", flow.RemoteEndPoint);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (ObjectDisposedException)
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

    internal async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> data, IPEndPoint target)
    {
        try
        {
            await _socket.SendToAsync(data, SocketFlags.None, target);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            _counters.SendFailed();
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _stop.Dispose();
    }

    private sealed class UdpFlow(UdpTransport transport, IPEndPoint local, IPEndPoint remote)
        : SipFlow(SipTransportProtocol.Udp, local, remote)
    {
        public override ValueTask<bool> SendToAsync(ReadOnlyMemory<byte> data, IPEndPoint target) => transport.SendAsync(data, target);
    }
}
