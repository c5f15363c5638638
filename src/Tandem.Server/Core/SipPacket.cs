using System.Net;
using Tandem.Server.Transport;
using Tandem.Sip.Messages;

namespace Tandem.Server.Core;

/// <summary>
/// What the transaction layer keeps and retransmits: a message's wire bytes, the flow it belongs
/// to and where it goes. For a received request <see cref="Message"/> is the parsed request.
/// </summary>
public sealed class SipPacket(SipMessage? message, ReadOnlyMemory<byte> bytes, SipFlow flow, IPEndPoint target)
{
    public SipMessage? Message { get; } = message;

    public ReadOnlyMemory<byte> Bytes { get; } = bytes;

    public SipFlow Flow { get; } = flow;

    public IPEndPoint Target { get; } = target;
}
