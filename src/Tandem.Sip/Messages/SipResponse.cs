using System.Net;
using Tandem.Sip.Headers;
using Tandem.Sip.Uris;

namespace Tandem.Sip.Messages;

/// <summary>
/// A response to a received request (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied
/// from the request, a To tag added where needed, plus extra headers and an optional body.
/// </summary>
public sealed class SipResponse
{
    private readonly List<KeyValuePair<string, string>> _headers = [];

    public SipResponse(SipMessage request, int statusCode, string reasonPhrase)
    {
        if (!request.IsRequest)
        {
            throw new ArgumentException("a response answers a request", nameof(request));
        }

        Request = request;
        StatusCode = statusCode;
        ReasonPhrase = reasonPhrase;
    }

    public SipMessage Request { get; }

    public int StatusCode { get; }

    public string ReasonPhrase { get; }

    /// <summary>Tag put on To when the request's To has none (not used on 100 Trying, §8.2.6.2).</summary>
    public string? ToTag { get; set; }

    public ReadOnlyMemory<byte> Body { get; set; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers => _headers;

    public SipResponse AddHeader(string name, string value)
    {
        _headers.Add(new(name, value));
        return this;
    }

    /// <summary>
    /// Writes the response. <paramref name="source"/> is where the request came from: the top Via
    /// gets received= when the sent-by host differs (RFC 3261 §18.2.1) and rport=/received= when
    /// the client asked with rport (RFC 3581 §4).
    /// </summary>
    public void WriteTo(SipOutputBuffer output, IPEndPoint? source)
    {
        output.Append("SIP/2.0 "u8).Append(StatusCode).Append(' ').Append(ReasonPhrase).AppendCrlf();
        WriteVias(output, source);
        if (Request.From is not null || Request.GetHeader(HeaderId.From) is not null)
        {
            output.AppendHeader("From", Request.GetHeader(HeaderId.From));
        }

        var to = Request.GetHeader(HeaderId.To);
        if (to is not null)
        {
            output.Append("To: "u8).Append(to);
            if (ToTag is not null && StatusCode > 100 && Request.To is not null && Request.To.Tag is null)
            {
                output.Append(";tag="u8).Append(ToTag);
            }

            output.AppendCrlf();
        }

        CopyHeader(output, HeaderId.CallId, "Call-ID");
        CopyHeader(output, HeaderId.CSeq, "CSeq");
        foreach (var header in _headers)
        {
            output.AppendHeader(header.Key, header.Value);
        }

        output.Append("Content-Length: "u8).Append(Body.Length).Append("\r\n\r\n"u8).Append(Body.Span);
    }

    public byte[] ToBytes(IPEndPoint? source)
    {
        using var output = new SipOutputBuffer();
        WriteTo(output, source);
        return output.ToArray();
    }

    private void CopyHeader(SipOutputBuffer output, HeaderId id, string name)
    {
        var value = Request.GetHeader(id);
        if (value is not null)
        {
            output.AppendHeader(name, value);
        }
    }

    private void WriteVias(SipOutputBuffer output, IPEndPoint? source)
    {
        var first = true;
        foreach (var via in Request.GetHeaderValues(HeaderId.Via))
        {
            output.Append("Via: "u8);
            if (first && Request.TopVia is not null && source is not null)
            {
                WriteTopVia(output, Request.TopVia, source);
            }
            else
            {
                output.Append(via);
            }

            output.AppendCrlf();
            first = false;
        }
    }

    private static void WriteTopVia(SipOutputBuffer output, ViaHeader via, IPEndPoint source) => WriteReceivedVia(output, via, source, forceRport: false);

    /// <summary>
    /// Writes a via-parm with received= (RFC 3261 §18.2.1) and rport= (RFC 3581) filled in from the
    /// address the message came from. <paramref name="forceRport"/> records the source port even
    /// when the client did not ask, which a proxy needs to find a TCP connection again.
    /// </summary>
    public static void WriteReceivedVia(SipOutputBuffer output, ViaHeader via, IPEndPoint source, bool forceRport)
    {
        var sourceHost = source.Address.IsIPv4MappedToIPv6 ? source.Address.MapToIPv4() : source.Address;
        var sourceText = sourceHost.ToString();
        var viaHost = via.Host.StartsWith('[') ? via.Host[1..^1] : via.Host;
        var needReceived = via.HasRport || forceRport || !IPAddress.TryParse(viaHost, out var sentBy) || !sentBy.Equals(sourceHost);

        output.Append("SIP/2.0/"u8).Append(via.Transport).Append(' ').Append(via.SentBy);
        foreach (var parameter in via.Parameters)
        {
            if (parameter.Name.Equals("received", StringComparison.OrdinalIgnoreCase) && needReceived)
            {
                continue;
            }

            if (parameter.Name.Equals("rport", StringComparison.OrdinalIgnoreCase))
            {
                output.Append(";rport="u8).Append(source.Port);
                continue;
            }

            output.Append(';').Append(parameter.Name);
            if (parameter.Value is not null)
            {
                output.Append('=').Append(parameter.Value);
            }
        }

        if (forceRport && !via.HasRport)
        {
            output.Append(";rport="u8).Append(source.Port);
        }

        if (needReceived)
        {
            // RFC 3261 §18.2.1 writes received with the bare address (IPv6 without brackets is
            // what RFC 3261 grammar allows: received = IPv4address / IPv6address).
            output.Append(";received="u8).Append(sourceText);
        }
    }
}

/// <summary>Reason phrases for the status codes Tandem sends (RFC 3261 §21).</summary>
public static class SipReasonPhrases
{
    public static string For(int statusCode) => statusCode switch
    {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => "Unknown",
    };
}
