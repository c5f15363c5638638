using System.Net;

namespace Tandem.Server.Transport;

/// <summary>
/// The path a message arrived on and the way back: for UDP the socket and the sender's address,
/// for TCP the connection itself. Responses go back along the flow (RFC 3261 §18.2.2).
/// </summary>
public abstract class SipFlow
{
    protected SipFlow(SipTransportProtocol protocol, IPEndPoint local, IPEndPoint remote)
    {
        Protocol = protocol;
        LocalEndPoint = local;
        RemoteEndPoint = remote;
    }

    public SipTransportProtocol Protocol { get; }

    /// <summary>The local address the message was received on (a service address, once VIPs move).</summary>
    public IPEndPoint LocalEndPoint { get; }

    public IPEndPoint RemoteEndPoint { get; }

    public bool IsReliable => SipTransportProtocols.IsReliable(Protocol);

    /// <summary>Sends to the flow's peer. Failures are reported as false, never thrown.</summary>
    public ValueTask<bool> SendAsync(ReadOnlyMemory<byte> data) => SendToAsync(data, RemoteEndPoint);

    /// <summary>Sends to <paramref name="target"/> from this flow's socket (UDP only; TCP ignores the target).</summary>
    public abstract ValueTask<bool> SendToAsync(ReadOnlyMemory<byte> data, IPEndPoint target);

    public override string ToString() => $"{SipTransportProtocols.Token(Protocol)} {RemoteEndPoint}->{LocalEndPoint}";
}
