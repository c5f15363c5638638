using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Tandem.Server.Tests.Resolution;

/// <summary>
/// A scripted DNS server on 127.0.0.1 (UDP and TCP on the same port) for client tests: each
/// query is handed to a callback that returns the datagrams (or the TCP message) to send back.
/// </summary>
internal sealed class FakeDnsServer : IAsyncDisposable
{
    private readonly Socket _udp;
    private readonly Socket _tcp;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _udpLoop;
    private readonly Task _tcpLoop;
    private int _udpQueries;
    private int _tcpQueries;

    public FakeDnsServer(Func<byte[], IEnumerable<byte[]>> onUdp, Func<byte[], byte[]?>? onTcp = null)
    {
        (_udp, _tcp) = BindPair();
        EndPoint = (IPEndPoint)_udp.LocalEndPoint!;
        _udpLoop = Task.Run(() => UdpLoopAsync(onUdp));
        _tcpLoop = Task.Run(() => TcpLoopAsync(onTcp ?? (_ => null)));
    }

    public IPEndPoint EndPoint { get; }

    public int UdpQueries => Volatile.Read(ref _udpQueries);

    public int TcpQueries => Volatile.Read(ref _tcpQueries);

    public List<ushort> QueryIds { get; } = [];

    /// <summary>A server that answers every UDP query with one datagram built from the query.</summary>
    public static FakeDnsServer Answering(Func<byte[], byte[]> answer) => new(query => [answer(query)]);

    /// <summary>A server that never answers.</summary>
    public static FakeDnsServer Silent() => new(_ => []);

    private static (Socket Udp, Socket Tcp) BindPair()
    {
        for (var attempt = 0; ; attempt++)
        {
            var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                tcp.Bind(udp.LocalEndPoint!);
                tcp.Listen(8);
                return (udp, tcp);
            }
            catch (SocketException) when (attempt < 20)
            {
                udp.Dispose();
                tcp.Dispose();
            }
        }
    }

    private async Task UdpLoopAsync(Func<byte[], IEnumerable<byte[]>> onUdp)
    {
        var buffer = new byte[2048];
        try
        {
            while (true)
            {
                var received = await _udp.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                var query = buffer[..received.ReceivedBytes];
                Interlocked.Increment(ref _udpQueries);
                lock (QueryIds)
                {
                    QueryIds.Add(BinaryPrimitives.ReadUInt16BigEndian(query));
                }

                foreach (var datagram in onUdp(query))
                {
                    await _udp.SendToAsync(datagram, received.RemoteEndPoint, _stop.Token);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException && _stop.IsCancellationRequested)
        {
            // Stopping: the socket was closed under a pending receive.
        }
    }

    private async Task TcpLoopAsync(Func<byte[], byte[]?> onTcp)
    {
        try
        {
            while (true)
            {
                using var connection = await _tcp.AcceptAsync(_stop.Token);
                var lengthBytes = new byte[2];
                await connection.ReceiveAsync(lengthBytes, SocketFlags.None, _stop.Token);
                var query = new byte[BinaryPrimitives.ReadUInt16BigEndian(lengthBytes)];
                var read = 0;
                while (read < query.Length)
                {
                    read += await connection.ReceiveAsync(query.AsMemory(read), SocketFlags.None, _stop.Token);
                }

                Interlocked.Increment(ref _tcpQueries);
                if (onTcp(query) is { } answer)
                {
                    var framed = new byte[2 + answer.Length];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)answer.Length);
                    answer.CopyTo(framed, 2);
                    await connection.SendAsync(framed, SocketFlags.None, _stop.Token);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException && _stop.IsCancellationRequested)
        {
            // Stopping: the socket was closed under a pending receive.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _udp.Dispose();
        _tcp.Dispose();
        await Task.WhenAll(_udpLoop, _tcpLoop);
        _stop.Dispose();
    }
}
