using System.Net;
using System.Net.Sockets;

namespace Tandem.Server.Transport;

/// <summary>
/// All listeners of a node, used to send requests out: UDP from the first socket of the
/// destination's address family, TCP over an existing connection or a new one.
/// </summary>
public sealed class SipTransportSet(IReadOnlyList<UdpTransport> udp, IReadOnlyList<TcpTransport> tcp)
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);

    public IReadOnlyList<UdpTransport> Udp { get; } = udp;

    public IReadOnlyList<TcpTransport> Tcp { get; } = tcp;

    /// <summary>
    /// A flow that reaches <paramref name="target"/> over <paramref name="protocol"/>, or null when none can.
    /// A new flow leaves from a listener on <paramref name="preferredLocal"/> when there is one: a request
    /// that came in on a service address goes on from it, so the Record-Route and Via name the address
    /// that moves with failover, not this node's own one.
    /// </summary>
    public async ValueTask<SipFlow?> GetFlowAsync(SipTransportProtocol protocol, IPEndPoint target, CancellationToken cancellationToken, IPAddress? preferredLocal = null)
    {
        if (protocol == SipTransportProtocol.Udp)
        {
            var socket = Pick(Udp, target.AddressFamily, t => t.LocalEndPoint, preferredLocal);
            return socket?.FlowTo(target);
        }

        foreach (var listener in Tcp)
        {
            if (listener.FindConnection(target) is { } open)
            {
                return open;
            }
        }

        var owner = Pick(Tcp, target.AddressFamily, t => t.LocalEndPoint, preferredLocal);
        return owner is null ? null : await owner.GetOrConnectAsync(target, ConnectTimeout, cancellationToken);
    }

    private static T? Pick<T>(IReadOnlyList<T> transports, AddressFamily family, Func<T, IPEndPoint> local, IPAddress? preferredLocal)
        where T : class
    {
        if (preferredLocal is not null)
        {
            foreach (var transport in transports)
            {
                if (local(transport).Address.Equals(preferredLocal))
                {
                    return transport;
                }
            }
        }

        foreach (var transport in transports)
        {
            if (local(transport).AddressFamily == family)
            {
                return transport;
            }
        }

        return null;
    }
}
