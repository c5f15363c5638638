using Tandem.Sip.Messages;
using Tandem.Sip.Text;

namespace Tandem.Server.Proxy;

/// <summary>
/// What a proxy needs to rebuild a request it forwarded: enough to write the ACK for a non-2xx
/// final response and a CANCEL (RFC 3261 §9.1, §17.1.1.3), which must repeat the request's
/// Request-URI, top Via, From, Call-ID, CSeq number, Route set and (for CANCEL) To.
/// </summary>
public sealed record ForwardedRequest(
    string RequestUri,
    string Via,
    string From,
    string To,
    string CallId,
    uint CSeq,
    IReadOnlyList<string> Routes,
    byte[] Bytes);

/// <summary>
/// Writes forwarded requests and responses as an edit of the received text (STYLE idea 5): the
/// start line, a new top Via, Max-Forwards, the Route set and Record-Route are changed; every
/// other header line goes out exactly as it came in.
/// </summary>
public static class SipRewriter
{
    /// <summary>
    /// The request as forwarded to one target (RFC 3261 §16.6). <paramref name="routes"/> replaces
    /// the Route headers (null keeps them); <paramref name="recordRoutes"/> are put above any
    /// Record-Route already present.
    /// </summary>
    public static ForwardedRequest ForwardRequest(SipMessage request, System.Net.IPEndPoint source, bool reliableSource, string requestUri, string via, IReadOnlyList<string>? routes, IReadOnlyList<string> recordRoutes, bool dropProxyAuthorization = false)
    {
        using var output = new SipOutputBuffer(request.Head.Length + request.Body.Length + 256);
        output.Append(request.MethodName).Append(' ').Append(requestUri).Append(" SIP/2.0\r\n"u8);
        output.AppendHeader("Via", via);
        var maxForwards = request.MaxForwards < 0 ? 70 : request.MaxForwards - 1;
        var wroteRecordRoute = recordRoutes.Count == 0;
        var wroteRoutes = routes is null;
        var markedVia = false;
        for (var i = 0; i < request.HeaderCount; i++)
        {
            switch (request.GetHeaderId(i))
            {
                case HeaderId.Via when !markedVia:
                    // The previous hop's Via gets received/rport so responses find their way back.
                    markedVia = true;
                    WriteMarkedVia(output, request, source, reliableSource, request.GetHeaderValue(i));
                    continue;
                case HeaderId.MaxForwards:
                    continue;
                case HeaderId.ProxyAuthorization when dropProxyAuthorization:
                    // Credentials we checked ourselves go no further (§22.3: they were for us).
                    continue;
                case HeaderId.Route when routes is not null:
                    if (!wroteRoutes)
                    {
                        WriteRoutes(output, "Route", routes);
                        wroteRoutes = true;
                    }

                    continue;
                case HeaderId.RecordRoute when !wroteRecordRoute:
                    WriteRoutes(output, "Record-Route", recordRoutes);
                    wroteRecordRoute = true;
                    break;
            }

            output.Append(request.GetHeaderName(i)).Append(": "u8).Append(request.GetHeaderValue(i)).AppendCrlf();
        }

        if (!wroteRoutes)
        {
            WriteRoutes(output, "Route", routes!);
        }

        if (!wroteRecordRoute)
        {
            WriteRoutes(output, "Record-Route", recordRoutes);
        }

        output.Append("Max-Forwards: "u8).Append(maxForwards).AppendCrlf();
        if (!request.HasHeader(HeaderId.ContentLength))
        {
            output.Append("Content-Length: "u8).Append(request.Body.Length).AppendCrlf();
        }

        output.AppendCrlf().Append(request.Body.Span);
        var effectiveRoutes = routes ?? RouteValues(request);
        return new ForwardedRequest(requestUri, via, request.GetHeader(HeaderId.From) ?? string.Empty, request.GetHeader(HeaderId.To) ?? string.Empty,
            request.CallId ?? string.Empty, request.CSeq.Number, effectiveRoutes, output.ToArray());
    }

    /// <summary>The ACK a client INVITE transaction sends for a 3xx–6xx (RFC 3261 §17.1.1.3).</summary>
    public static byte[] BuildAck(ForwardedRequest request, SipMessage response)
    {
        using var output = new SipOutputBuffer(512);
        output.Append("ACK "u8).Append(request.RequestUri).Append(" SIP/2.0\r\n"u8);
        output.AppendHeader("Via", request.Via);
        WriteRoutes(output, "Route", request.Routes);
        output.AppendHeader("From", request.From);
        output.AppendHeader("To", response.GetHeader(HeaderId.To) ?? request.To);
        output.AppendHeader("Call-ID", request.CallId);
        output.Append("CSeq: "u8).Append(request.CSeq).Append(" ACK\r\n"u8);
        output.Append("Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"u8);
        return output.ToArray();
    }

    /// <summary>The CANCEL for a forwarded INVITE (RFC 3261 §9.1): same branch, same To, method CANCEL.</summary>
    public static byte[] BuildCancel(ForwardedRequest request)
    {
        using var output = new SipOutputBuffer(512);
        output.Append("CANCEL "u8).Append(request.RequestUri).Append(" SIP/2.0\r\n"u8);
        output.AppendHeader("Via", request.Via);
        WriteRoutes(output, "Route", request.Routes);
        output.AppendHeader("From", request.From);
        output.AppendHeader("To", request.To);
        output.AppendHeader("Call-ID", request.CallId);
        output.Append("CSeq: "u8).Append(request.CSeq).Append(" CANCEL\r\n"u8);
        output.Append("Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"u8);
        return output.ToArray();
    }

    /// <summary>A response with our top Via value removed, for the next hop back (RFC 3261 §16.7 step 3).</summary>
    public static byte[] StripTopVia(SipMessage response, int? statusOverride = null, string? reasonOverride = null)
    {
        using var output = new SipOutputBuffer(response.Head.Length + response.Body.Length + 16);
        output.Append("SIP/2.0 "u8).Append(statusOverride ?? response.StatusCode).Append(' ').Append(reasonOverride ?? response.ReasonPhrase).AppendCrlf();
        var stripped = false;
        for (var i = 0; i < response.HeaderCount; i++)
        {
            var value = response.GetHeaderValue(i);
            if (!stripped && response.GetHeaderId(i) == HeaderId.Via)
            {
                stripped = true;
                var comma = SipChars.IndexOfUnquoted(value, ',');
                if (comma < 0)
                {
                    continue;
                }

                value = SipChars.Trim(value[(comma + 1)..]);
            }

            output.Append(response.GetHeaderName(i)).Append(": "u8).Append(value).AppendCrlf();
        }

        output.AppendCrlf().Append(response.Body.Span);
        return output.ToArray();
    }

    private static void WriteMarkedVia(SipOutputBuffer output, SipMessage request, System.Net.IPEndPoint source, bool reliableSource, ReadOnlySpan<char> line)
    {
        output.Append("Via: "u8);
        SipResponse.WriteReceivedVia(output, request.TopVia, source, forceRport: reliableSource);
        output.AppendCrlf();
        var comma = SipChars.IndexOfUnquoted(line, ',');
        if (comma >= 0)
        {
            output.Append("Via: "u8).Append(SipChars.Trim(line[(comma + 1)..])).AppendCrlf();
        }
    }

    /// <summary>Every Route value of a request, top first.</summary>
    public static List<string> RouteValues(SipMessage request)
    {
        var routes = new List<string>();
        foreach (var route in request.GetHeaderValues(HeaderId.Route))
        {
            routes.Add(route.ToString());
        }

        return routes;
    }

    private static void WriteRoutes(SipOutputBuffer output, string name, IReadOnlyList<string> values)
    {
        foreach (var value in values)
        {
            output.AppendHeader(name, value);
        }
    }
}
