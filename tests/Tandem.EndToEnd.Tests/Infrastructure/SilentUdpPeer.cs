using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A dead gateway: a UDP socket on 127.0.0.1 that receives SIP requests and never answers
/// (not even 100 Trying), so a proxy must give up on it after its response timeout. Records
/// the start lines of what it received, to prove it was tried.
/// </summary>
public sealed class SilentUdpPeer : IDisposable
{
    private readonly UdpClient _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _received = [];
    private readonly Lock _gate = new();

    public SilentUdpPeer()
    {
        _socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, FreePorts.Next()));
        Endpoint = (IPEndPoint)_socket.Client.LocalEndPoint!;
        _ = ReceiveLoopAsync();
    }

    public IPEndPoint Endpoint { get; }

    /// <summary>Start lines of the requests received so far.</summary>
    public IReadOnlyList<string> Received
    {
        get
        {
            lock (_gate)
            {
                return [.. _received];
            }
        }
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var datagram = await _socket.ReceiveAsync(_stop.Token);
                var text = Encoding.ASCII.GetString(datagram.Buffer);
                var firstLine = text.Split('\n', 2)[0].TrimEnd('\r');
                lock (_gate)
                {
                    _received.Add(firstLine);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped.
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _stop.Dispose();
    }
}
