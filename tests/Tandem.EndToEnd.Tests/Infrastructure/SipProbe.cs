using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Readiness probe: a server is ready when it answers an OPTIONS over UDP with 200 and accepts
/// a TCP connection on the same port. Written by hand (not with SIPp) so that readiness does
/// not depend on the tool under test and costs a few milliseconds per attempt.
/// </summary>
public static class SipProbe
{
    public static async Task<bool> OptionsOverUdpAsync(IPEndPoint server, TimeSpan timeout)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var local = (IPEndPoint)socket.LocalEndPoint!;
        var callId = Guid.NewGuid().ToString("N");
        var branch = "z9hG4bK" + Guid.NewGuid().ToString("N")[..16];
        var request =
            $"OPTIONS sip:{server.Address}:{server.Port} SIP/2.0\r\n" +
            $"Via: SIP/2.0/UDP {local.Address}:{local.Port};branch={branch};rport\r\n" +
            "Max-Forwards: 70\r\n" +
            $"From: <sip:probe@{local.Address}:{local.Port}>;tag={callId[..8]}\r\n" +
            $"To: <sip:{server.Address}:{server.Port}>\r\n" +
            $"Call-ID: {callId}@probe\r\n" +
            "CSeq: 1 OPTIONS\r\n" +
            "Accept: application/sdp\r\n" +
            "Content-Length: 0\r\n\r\n";
        await socket.SendToAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, server);

        var buffer = new byte[65535];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                var text = Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes);
                if (!text.Contains(callId, StringComparison.Ordinal))
                {
                    continue; // a stray datagram, not our answer
                }
                if (text.StartsWith("SIP/2.0 200", StringComparison.Ordinal))
                {
                    return true;
                }
                if (text.StartsWith("SIP/2.0 1", StringComparison.Ordinal))
                {
                    continue; // provisional: keep waiting for the final answer
                }
                return false;
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException)
        {
            return false; // ICMP port unreachable: nothing listens yet
        }
    }

    public static async Task<bool> TcpAcceptsAsync(IPEndPoint server, TimeSpan timeout)
    {
        using var client = new TcpClient(AddressFamily.InterNetwork);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await client.ConnectAsync(server, cts.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Polls until the server answers OPTIONS over UDP and accepts TCP, or fails fast if its
    /// process has exited. Throws with the server's output when it is not ready in time.
    /// </summary>
    public static async Task WaitUntilReadyAsync(IPEndPoint server, BackgroundProcess process, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"{what} exited with code {process.ExitCode} before it answered OPTIONS on udp:{server}.\n" +
                    $"command: {process.Command}\n--- its output ---\n{process.Output.Tail()}");
            }
            if (await OptionsOverUdpAsync(server, TimeSpan.FromMilliseconds(300))
                && await TcpAcceptsAsync(server, TimeSpan.FromMilliseconds(500)))
            {
                return;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException(
            $"{what} did not answer OPTIONS with 200 on udp:{server} (and accept tcp:{server}) within {timeout.TotalSeconds} s.\n" +
            $"command: {process.Command}\n--- its output ---\n{process.Output.Tail()}");
    }
}
