namespace Tandem.Sip.Messages;

/// <summary>Header fields the stack looks at. Everything else is <see cref="Other"/> and never materialised.</summary>
public enum HeaderId : byte
{
    Other,
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    Contact,
    ContentLength,
    ContentType,
    ContentEncoding,
    Expires,
    MinExpires,
    Route,
    RecordRoute,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Require,
    ProxyRequire,
    Supported,
    Unsupported,
    Allow,
    Accept,
    UserAgent,
    Server,
    Subject,
    Event,
    Date,
    Path,
    RetryAfter,
}

/// <summary>Canonical header names and the name lookup, compact forms included (RFC 3261 §7.3.3, §20).</summary>
public static class HeaderNames
{
    public static string Canonical(HeaderId id) => id switch
    {
        HeaderId.Via => "Via",
        HeaderId.From => "From",
        HeaderId.To => "To",
        HeaderId.CallId => "Call-ID",
        HeaderId.CSeq => "CSeq",
        HeaderId.MaxForwards => "Max-Forwards",
        HeaderId.Contact => "Contact",
        HeaderId.ContentLength => "Content-Length",
        HeaderId.ContentType => "Content-Type",
        HeaderId.ContentEncoding => "Content-Encoding",
        HeaderId.Expires => "Expires",
        HeaderId.MinExpires => "Min-Expires",
        HeaderId.Route => "Route",
        HeaderId.RecordRoute => "Record-Route",
        HeaderId.Authorization => "Authorization",
        HeaderId.ProxyAuthorization => "Proxy-Authorization",
        HeaderId.WwwAuthenticate => "WWW-Authenticate",
        HeaderId.ProxyAuthenticate => "Proxy-Authenticate",
        HeaderId.Require => "Require",
        HeaderId.ProxyRequire => "Proxy-Require",
        HeaderId.Supported => "Supported",
        HeaderId.Unsupported => "Unsupported",
        HeaderId.Allow => "Allow",
        HeaderId.Accept => "Accept",
        HeaderId.UserAgent => "User-Agent",
        HeaderId.Server => "Server",
        HeaderId.Subject => "Subject",
        HeaderId.Event => "Event",
        HeaderId.Date => "Date",
        HeaderId.Path => "Path",
        HeaderId.RetryAfter => "Retry-After",
        _ => throw new ArgumentOutOfRangeException(nameof(id)),
    };

    /// <summary>Maps a received header name (any case, compact or long) to its id.</summary>
    public static HeaderId Lookup(ReadOnlySpan<char> name)
    {
        if (name.Length == 1)
        {
            return (name[0] | 0x20) switch
            {
                'v' => HeaderId.Via,
                'f' => HeaderId.From,
                't' => HeaderId.To,
                'i' => HeaderId.CallId,
                'm' => HeaderId.Contact,
                'l' => HeaderId.ContentLength,
                'c' => HeaderId.ContentType,
                'e' => HeaderId.ContentEncoding,
                'k' => HeaderId.Supported,
                's' => HeaderId.Subject,
                'o' => HeaderId.Event,
                _ => HeaderId.Other,
            };
        }

        // Switch on length first so that most names are rejected after one comparison.
        return name.Length switch
        {
            2 => Is(name, "To") ? HeaderId.To : HeaderId.Other,
            3 => Is(name, "Via") ? HeaderId.Via : HeaderId.Other,
            4 => Is(name, "From") ? HeaderId.From : Is(name, "CSeq") ? HeaderId.CSeq
                : Is(name, "Date") ? HeaderId.Date : Is(name, "Path") ? HeaderId.Path : HeaderId.Other,
            5 => Is(name, "Route") ? HeaderId.Route : Is(name, "Allow") ? HeaderId.Allow
                : Is(name, "Event") ? HeaderId.Event : HeaderId.Other,
            6 => Is(name, "Accept") ? HeaderId.Accept : Is(name, "Server") ? HeaderId.Server : HeaderId.Other,
            7 => Is(name, "Call-ID") ? HeaderId.CallId : Is(name, "Contact") ? HeaderId.Contact
                : Is(name, "Expires") ? HeaderId.Expires : Is(name, "Require") ? HeaderId.Require
                : Is(name, "Subject") ? HeaderId.Subject : HeaderId.Other,
            9 => Is(name, "Supported") ? HeaderId.Supported : HeaderId.Other,
            10 => Is(name, "User-Agent") ? HeaderId.UserAgent : HeaderId.Other,
            11 => Is(name, "Min-Expires") ? HeaderId.MinExpires : Is(name, "Unsupported") ? HeaderId.Unsupported
                : Is(name, "Retry-After") ? HeaderId.RetryAfter : HeaderId.Other,
            12 => Is(name, "Max-Forwards") ? HeaderId.MaxForwards : Is(name, "Content-Type") ? HeaderId.ContentType
                : Is(name, "Record-Route") ? HeaderId.RecordRoute : HeaderId.Other,
            13 => Is(name, "Authorization") ? HeaderId.Authorization : Is(name, "Proxy-Require") ? HeaderId.ProxyRequire
                : HeaderId.Other,
            14 => Is(name, "Content-Length") ? HeaderId.ContentLength : HeaderId.Other,
            16 => Is(name, "WWW-Authenticate") ? HeaderId.WwwAuthenticate
                : Is(name, "Content-Encoding") ? HeaderId.ContentEncoding : HeaderId.Other,
            18 => Is(name, "Proxy-Authenticate") ? HeaderId.ProxyAuthenticate : HeaderId.Other,
            19 => Is(name, "Proxy-Authorization") ? HeaderId.ProxyAuthorization : HeaderId.Other,
            _ => HeaderId.Other,
        };
    }

    private static bool Is(ReadOnlySpan<char> name, string canonical)
        => name.Equals(canonical, StringComparison.OrdinalIgnoreCase);
}
