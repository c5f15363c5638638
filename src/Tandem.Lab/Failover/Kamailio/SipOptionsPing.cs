using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover.Kamailio;

/// <summary>SIP OPTIONS over UDP from inside a namespace of the lab: "does a SIP server answer on this address?"</summary>
public sealed class SipOptionsPing : IDisposable
{
    private readonly Socket _socket;
    private readonly IPEndPoint _local;
    private readonly byte[] _buffer = new byte[4096];
    private long _sequence;

    public SipOptionsPing(NetnsHost host)
    {
        _socket = host.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(host.Address ?? IPAddress.Any, 0));
        _local = (IPEndPoint)_socket.LocalEndPoint!;
    }

    /// <summary>One OPTIONS; true if a final response to it arrives within <paramref name="timeout"/>.</summary>
    public async Task<bool> TryAsync(IPEndPoint target, TimeSpan timeout)
    {
        var id = Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture);
        var callId = $"lab-ping-{id}-{Environment.ProcessId}@{_local.Address}";
        var request =
            $"OPTIONS sip:{target} SIP/2.0\r\n" +
            $"Via: SIP/2.0/UDP {_local};branch=z9hG4bK-lab-{id}-{Environment.ProcessId};rport\r\n" +
            "Max-Forwards: 70\r\n" +
            $"From: <sip:lab-ping@{_local.Address}>;tag=lab{id}\r\n" +
            $"To: <sip:{target}>\r\n" +
            $"Call-ID: {callId}\r\n" +
            $"CSeq: {id} OPTIONS\r\n" +
            "Content-Length: 0\r\n\r\n";
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _socket.SendToAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, target, cts.Token);
            while (true)
            {
                var received = await _socket.ReceiveFromAsync(_buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                var text = Encoding.ASCII.GetString(_buffer, 0, received.ReceivedBytes);
                // Only a final answer to this very request (late answers to earlier tries are skipped).
                if (text.StartsWith("SIP/2.0 ", StringComparison.Ordinal) && text.Length > 9 && text[8] != '1' && text.Contains(callId, StringComparison.Ordinal))
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Pings every <paramref name="interval"/> until an answer or <paramref name="timeout"/>; the time it took, or null.</summary>
    public async Task<TimeSpan?> WaitForAnswerAsync(IPEndPoint target, TimeSpan timeout, TimeSpan interval, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await TryAsync(target, interval))
            {
                return Stopwatch.GetElapsedTime(started);
            }
        }
        return null;
    }

    public void Dispose() => _socket.Dispose();
}
