using System.Net;
using System.Net.Sockets;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Picks ports on 127.0.0.1 that are free for both UDP and TCP, so one SIP port number
/// serves both transports (as 5060 does). The operating system chooses the number (bind to
/// port 0); the UDP check then proves the same number is free for UDP too. Ports handed out
/// once are never handed out again in this test run, so tests running in parallel do not
/// collide even before the server has bound its sockets. A small race with unrelated
/// programs remains, which is acceptable on a test machine.
/// </summary>
public static class FreePorts
{
    private static readonly HashSet<int> HandedOut = [];
    private static readonly Lock Gate = new();

    public static int Next()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var tcp = new TcpListener(IPAddress.Loopback, 0);
            tcp.Start();
            try
            {
                var port = ((IPEndPoint)tcp.LocalEndpoint).Port;
                lock (Gate)
                {
                    if (HandedOut.Contains(port))
                    {
                        continue;
                    }
                }
                try
                {
                    using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                }
                catch (SocketException)
                {
                    continue;
                }
                lock (Gate)
                {
                    if (HandedOut.Add(port))
                    {
                        return port;
                    }
                }
            }
            finally
            {
                tcp.Stop();
            }
        }
        throw new InvalidOperationException("No port free for both UDP and TCP on 127.0.0.1 after 200 attempts");
    }

    /// <summary>
    /// Two consecutive ports, both free for UDP and TCP (baresip listens for TLS on the SIP port + 1).
    /// </summary>
    public static int NextPair()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Next();
            var second = port + 1;
            if (second > 65535 || !IsFree(second))
            {
                continue;
            }
            lock (Gate)
            {
                if (HandedOut.Add(second))
                {
                    return port;
                }
            }
        }
        throw new InvalidOperationException("No two consecutive free ports on 127.0.0.1 after 200 attempts");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
