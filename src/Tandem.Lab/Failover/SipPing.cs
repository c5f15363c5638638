using System.Net;
using System.Net.Sockets;
using System.Text;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover;

/// <summary>One-off SIP OPTIONS from a lab host: is anybody answering on the service address?</summary>
public static class SipPing
{
    /// <summary>Sends OPTIONS every 100 ms until a 200 comes back or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> WaitAsync(NetnsHost from, IPEndPoint target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(target);
        using var socket = from.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(from.Address ?? IPAddress.Any, 0));
        var local = (IPEndPoint)socket.LocalEndPoint!;
        var deadline = DateTime.UtcNow + timeout;
        var buffer = new byte[8192];
        while (DateTime.UtcNow < deadline)
        {
            var callId = Guid.NewGuid().ToString("N");
            var request =
                $"OPTIONS sip:{target.Address}:{target.Port} SIP/2.0\r\n" +
                $"Via: SIP/2.0/UDP {local.Address}:{local.Port};branch=z9hG4bK{callId[..16]};rport\r\n" +
                "Max-Forwards: 70\r\n" +
                $"From: <sip:ping@{local.Address}>;tag={callId[..8]}\r\n" +
                $"To: <sip:{target.Address}:{target.Port}>\r\n" +
                $"Call-ID: {callId}@ping\r\n" +
                "CSeq: 1 OPTIONS\r\n" +
                "Content-Length: 0\r\n\r\n";
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(TimeSpan.FromMilliseconds(100));
            try
            {
                await socket.SendToAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, target, attempt.Token);
                while (true)
                {
                    var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), attempt.Token);
                    var text = Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes);
                    if (text.Contains(callId, StringComparison.Ordinal) && text.StartsWith("SIP/2.0 200", StringComparison.Ordinal))
                    {
                        return true;
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
            catch (SocketException)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
        return false;
    }
}
