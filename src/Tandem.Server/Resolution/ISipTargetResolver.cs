using System.Net;
using Tandem.Server.Transport;
using Tandem.Sip.Uris;

namespace Tandem.Server.Resolution;

/// <summary>One place to send a request: transport and address, in the order to try them.</summary>
public readonly record struct SipDestination(SipTransportProtocol Transport, IPEndPoint EndPoint);

/// <summary>
/// RFC 3263 §4 client resolution: a SIP URI to an ordered list of destinations (NAPTR → SRV →
/// A/AAAA, or straight to the address when the host is numeric or a port is given). Callers try
/// the destinations in order, moving on after a timeout or transport error.
/// </summary>
public interface ISipTargetResolver
{
    ValueTask<IReadOnlyList<SipDestination>> ResolveAsync(SipUri uri, CancellationToken cancellationToken);
}
