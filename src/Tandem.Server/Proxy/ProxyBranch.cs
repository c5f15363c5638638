using Tandem.Server.Core;
using Tandem.Server.Resolution;
using Tandem.Sip.Timers;
using Tandem.Sip.Transactions;

namespace Tandem.Server.Proxy;

/// <summary>
/// One forwarded copy of a request (RFC 3261 §16.6): its target, the destinations still to try
/// (RFC 3263 failover), the client transaction currently carrying it and what came back.
/// </summary>
internal sealed class ProxyBranch(ProxyCall call, string requestUri, IReadOnlyList<SipDestination> destinations, bool natContact)
{
    public ProxyCall Call { get; } = call;

    public string RequestUri { get; } = requestUri;

    public IReadOnlyList<SipDestination> Destinations { get; } = destinations;

    /// <summary>Registered contacts are reached at the address the REGISTER came from, never re-resolved.</summary>
    public bool IsNatContact { get; } = natContact;

    public int DestinationIndex { get; set; }

    public ForwardedRequest? Sent { get; set; }

    public ClientTransaction<SipPacket>? Transaction { get; set; }

    public SipPacket? Packet { get; set; }

    public bool GotProvisional { get; set; }

    public bool CancelWanted { get; set; }

    public bool CancelSent { get; set; }

    /// <summary>Final status of the branch, 0 while pending.</summary>
    public int FinalStatus { get; set; }

    public TimerHandle ResponseTimer { get; set; }

    public bool IsFinished => FinalStatus != 0;
}
