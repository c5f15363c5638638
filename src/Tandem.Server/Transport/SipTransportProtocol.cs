namespace Tandem.Server.Transport;

public enum SipTransportProtocol : byte
{
    Udp,
    Tcp,
}

public static class SipTransportProtocols
{
    public static string Token(SipTransportProtocol protocol) => protocol == SipTransportProtocol.Udp ? "UDP" : "TCP";

    /// <summary>Reliable transports get no retransmissions (RFC 3261 §17.1.1.2, §17.2.1).</summary>
    public static bool IsReliable(SipTransportProtocol protocol) => protocol != SipTransportProtocol.Udp;
}
