using System.Net;
using Tandem.Server.Transport;
using Tandem.Sip.Uris;

namespace Tandem.Server.Resolution;

/// <summary>
/// Resolution without DNS: a numeric host is used as it is (port default 5060, transport from the
/// transport parameter, UDP otherwise); host names resolve to nothing.
/// </summary>
public sealed class NumericResolver : ISipTargetResolver
{
    public ValueTask<IReadOnlyList<SipDestination>> ResolveAsync(SipUri uri, CancellationToken cancellationToken)
    {
        IReadOnlyList<SipDestination> result = TryNumeric(uri, out var destination) ? [destination] : [];
        return ValueTask.FromResult(result);
    }

    public static bool TryNumeric(SipUri uri, out SipDestination destination)
    {
        destination = default;
        if (!uri.IsSip || !IPAddress.TryParse(uri.HostWithoutBrackets, out var address))
        {
            return false;
        }

        var protocol = string.Equals(uri.Transport, "tcp", StringComparison.OrdinalIgnoreCase) ? SipTransportProtocol.Tcp : SipTransportProtocol.Udp;
        destination = new SipDestination(protocol, new IPEndPoint(address, uri.Port == 0 ? 5060 : uri.Port));
        return true;
    }
}
