using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Tandem.Server.Config;

public enum ListenTransport
{
    Udp,
    Tcp,
}

/// <summary>
/// A socket to listen on, written <c>transport:address[:port]</c>: <c>udp:0.0.0.0:5060</c>,
/// <c>tcp:[::1]:5060</c>, <c>udp:[::]</c> (port 5060). IPv6 addresses go in brackets. Port 0 lets
/// the OS choose (tests).
/// </summary>
public sealed record ListenEndpoint(ListenTransport Transport, IPAddress Address, int Port)
{
    public const int DefaultPort = 5060;

    public IPEndPoint EndPoint => new(Address, Port);

    public static ListenEndpoint Parse(string text)
        => TryParse(text, out var endpoint, out var error) ? endpoint : throw new FormatException(error);

    public static bool TryParse(string? text, [NotNullWhen(true)] out ListenEndpoint? endpoint, [NotNullWhen(false)] out string? error)
    {
        endpoint = null;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            error = "empty listen endpoint (expected transport:address[:port], e.g. udp:0.0.0.0:5060)";
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            error = $"'{text}' has no transport (expected transport:address[:port], e.g. udp:0.0.0.0:5060)";
            return false;
        }

        var transportText = text[..colon];
        ListenTransport transport;
        if (transportText.Equals("udp", StringComparison.OrdinalIgnoreCase))
        {
            transport = ListenTransport.Udp;
        }
        else if (transportText.Equals("tcp", StringComparison.OrdinalIgnoreCase))
        {
            transport = ListenTransport.Tcp;
        }
        else
        {
            error = $"unknown transport '{transportText}' in '{text}' (expected udp or tcp)";
            return false;
        }

        var rest = text[(colon + 1)..];
        string addressText;
        string? portText = null;
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"missing ']' after IPv6 address in '{text}'";
                return false;
            }

            addressText = rest[1..close];
            var after = rest[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':')
                {
                    error = $"unexpected '{after}' after ']' in '{text}' (expected :port)";
                    return false;
                }

                portText = after[1..];
            }

            if (!IPAddress.TryParse(addressText, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                error = $"'{addressText}' is not an IPv6 address in '{text}'";
                return false;
            }
        }
        else
        {
            var portColon = rest.IndexOf(':', StringComparison.Ordinal);
            if (portColon >= 0 && rest.IndexOf(':', portColon + 1) >= 0)
            {
                error = $"IPv6 address must be in brackets in '{text}' (e.g. {transportText}:[::1]:5060)";
                return false;
            }

            addressText = portColon < 0 ? rest : rest[..portColon];
            portText = portColon < 0 ? null : rest[(portColon + 1)..];
            if (addressText.Length == 0)
            {
                error = $"missing address in '{text}' (use 0.0.0.0 or [::] for all addresses)";
                return false;
            }

            if (!IsDottedQuad(addressText) || !IPAddress.TryParse(addressText, out _))
            {
                error = $"'{addressText}' is not an IP address in '{text}' (host names are not accepted)";
                return false;
            }
        }

        var port = DefaultPort;
        if (portText is not null)
        {
            if (portText.Length == 0 || portText.Length > 5 || !portText.All(char.IsAsciiDigit))
            {
                error = $"port '{portText}' is not a number in '{text}'";
                return false;
            }

            port = int.Parse(portText, CultureInfo.InvariantCulture);
            if (port > IPEndPoint.MaxPort)
            {
                error = $"port must be 0-65535 in '{text}' (got {port})";
                return false;
            }
        }

        endpoint = new ListenEndpoint(transport, IPAddress.Parse(addressText), port);
        error = null;
        return true;
    }

    public override string ToString()
    {
        var transport = Transport == ListenTransport.Udp ? "udp" : "tcp";
        var address = Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address.ToString();
        return $"{transport}:{address}:{Port.ToString(CultureInfo.InvariantCulture)}";
    }

    // IPAddress.TryParse also accepts "1", "1.2" and "0x7f.1" as IPv4; a listen address must be written in full.
    private static bool IsDottedQuad(string text)
    {
        var parts = text.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is >= 1 and <= 3 && p.All(char.IsAsciiDigit));
    }
}
