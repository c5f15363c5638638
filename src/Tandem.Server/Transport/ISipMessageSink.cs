namespace Tandem.Server.Transport;

/// <summary>Where transports deliver what they receive. Called on the receive loop: keep it short.</summary>
public interface ISipMessageSink
{
    /// <summary>One datagram or one framed stream message. The span is only valid during the call.</summary>
    ValueTask OnMessageAsync(ReadOnlyMemory<byte> data, SipFlow flow);
}
