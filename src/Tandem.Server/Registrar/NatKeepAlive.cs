using System.Net;
using Tandem.Server.Proxy;
using Tandem.Server.Transport;
using Tandem.Sip.Messages;
using Tandem.Sip.Uris;
using Tandem.Storage;

namespace Tandem.Server.Registrar;

/// <summary>
/// Keeps NAT bindings open for registered phones behind NAT: every interval, an OPTIONS request is
/// sent statelessly to each contact whose REGISTER came from an address other than the one in its
/// Contact URI, over the flow it registered on (so a TCP contact is pinged on its own connection).
/// The answers are not needed; the traffic is what keeps the NAT mapping alive.
/// </summary>
public sealed class NatKeepAlive : IAsyncDisposable
{
    private readonly LocationService _locations;
    private readonly SipTransportSet _transports;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private int _running;
    private long _sent;

    public NatKeepAlive(LocationService locations, SipTransportSet transports, TimeProvider time, TimeSpan interval)
    {
        _locations = locations;
        _transports = transports;
        _time = time;
        _timer = time.CreateTimer(_ => _ = PingAllAsync(), null, interval, interval);
    }

    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>A contact is behind NAT when its URI names another address than the one it registered from.</summary>
    public static bool IsBehindNat(Binding binding)
    {
        var contact = SipUri.TryParse(binding.ContactUri, out _);
        if (contact is null || !IPEndPoint.TryParse(binding.SourceAddress, out var source))
        {
            return false;
        }

        var port = contact.Port == 0 ? 5060 : contact.Port;
        return !IPAddress.TryParse(contact.HostWithoutBrackets, out var address) || !address.Equals(source.Address) || port != source.Port;
    }

    private async Task PingAllAsync()
    {
        if (Interlocked.Exchange(ref _running, 1) != 0)
        {
            return;
        }

        try
        {
            var now = _time.GetUtcNow();
            foreach (var (_, bindings) in _locations.All)
            {
                foreach (var binding in bindings)
                {
                    if (binding.ExpiresAt > now && IsBehindNat(binding))
                    {
                        await PingAsync(binding);
                    }
                }
            }
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    private async ValueTask PingAsync(Binding binding)
    {
        if (!IPEndPoint.TryParse(binding.SourceAddress, out var target))
        {
            return;
        }

        var protocol = binding.Transport.Equals("TCP", StringComparison.OrdinalIgnoreCase) ? SipTransportProtocol.Tcp : SipTransportProtocol.Udp;
        SipFlow? flow = null;
        if (protocol == SipTransportProtocol.Udp)
        {
            flow = await _transports.GetFlowAsync(protocol, target, CancellationToken.None);
        }
        else
        {
            // Never open a connection to a NATed phone: only its own connection can reach it.
            foreach (var tcp in _transports.Tcp)
            {
                flow ??= tcp.FindConnection(target);
            }
        }

        if (flow is null)
        {
            return;
        }

        var local = binding.LocalAddress ?? flow.LocalEndPoint.ToString();
        using var output = new SipOutputBuffer(512);
        output.Append("OPTIONS ").Append(binding.ContactUri).Append(" SIP/2.0\r\n");
        output.Append("Via: SIP/2.0/").Append(SipTransportProtocols.Token(protocol)).Append(' ').Append(local)
            .Append(";branch=").Append(Branches.NewStandalone()).Append(";rport\r\n");
        output.Append("From: <sip:keepalive@").Append(local).Append(">;tag=").Append(Tags.New()).Append("\r\n");
        output.Append("To: <").Append(binding.ContactUri).Append(">\r\n");
        output.Append("Call-ID: ").Append(Tags.New()).Append('@').Append(local).Append("\r\n");
        output.Append("CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
        if (await flow.SendToAsync(output.ToArray(), target))
        {
            Interlocked.Increment(ref _sent);
        }
    }

    public async ValueTask DisposeAsync() => await _timer.DisposeAsync();
}
