namespace Tandem.Server.Transport;

/// <summary>Where transports deliver what they receive. Called on the receive loop: keep it short.</summary>
public interface ISipMessageSink
{
    /// <summary>
    /// One datagram or one framed stream message. <paramref name="data"/> is a receive buffer that
    /// is reused once the call returns or first yields: copy what must be kept before any await.
    /// </summary>
    ValueTask OnMessageAsync(ReadOnlyMemory<byte> data, SipFlow flow);
}
