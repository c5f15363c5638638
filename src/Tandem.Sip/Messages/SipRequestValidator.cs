using Tandem.Sip.Headers;
using Tandem.Sip.Text;

namespace Tandem.Sip.Messages;

/// <summary>What a server supports, for the application-level checks of RFC 3261 §8.2.</summary>
public sealed record SipValidationOptions
{
    public static readonly SipValidationOptions Default = new();

    /// <summary>Option tags this server accepts in Require (RFC 3261 §8.2.2.3).</summary>
    public IReadOnlySet<string> SupportedExtensions { get; init; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Body types the server can process when it is the one that reads the body.</summary>
    public IReadOnlyList<string> AcceptedContentTypes { get; init; } = ["application/sdp"];
}

/// <summary>A request the server must refuse: status, reason phrase and headers that explain why.</summary>
public sealed record SipRejection(int StatusCode, string Reason, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    public static SipRejection Of(int statusCode, string reason, params KeyValuePair<string, string>[] headers)
        => new(statusCode, reason, headers);
}

/// <summary>
/// Checks a parsed request beyond syntax (RFC 3261 §8.2.1–8.2.3): URI scheme, required
/// extensions, value ranges of Expires and Contact, and, for requests whose body the server
/// itself consumes, Content-Type and Accept.
/// </summary>
public static class SipRequestValidator
{
    private const ulong MaxDeltaSeconds = uint.MaxValue;

    /// <param name="asProxy">
    /// True when the request will be forwarded: then only Proxy-Require is the server's business
    /// (§16.3 step 5) and Require is left to the UAS downstream; false when the server is the UAS
    /// (§8.2.2.3), which checks Require.
    /// </param>
    public static SipRejection? Validate(SipMessage request, SipValidationOptions options, bool consumesBody, bool asProxy = false)
    {
        if (!request.RequestUri.IsSip && request.RequestUri.Scheme != "tel")
        {
            return SipRejection.Of(416, "Unsupported URI Scheme");
        }

        var unsupported = asProxy
            ? (request.Method is SipMethod.Ack or SipMethod.Cancel ? null : UnsupportedRequired(request, HeaderId.ProxyRequire, options))
            : UnsupportedRequired(request, HeaderId.Require, options);
        if (unsupported is not null)
        {
            return SipRejection.Of(420, "Bad Extension", new KeyValuePair<string, string>("Unsupported", unsupported));
        }

        var expires = request.GetHeader(HeaderId.Expires);
        if (expires is not null && !SipChars.TryParseUInt(SipChars.Trim(expires), MaxDeltaSeconds, out _))
        {
            return SipRejection.Of(400, "Bad Request (Expires is not a valid delta-seconds)");
        }

        var contactError = CheckContacts(request);
        if (contactError is not null)
        {
            return SipRejection.Of(400, $"Bad Request ({contactError})");
        }

        if (consumesBody)
        {
            return CheckBody(request, options);
        }

        return null;
    }

    private static string? UnsupportedRequired(SipMessage request, HeaderId id, SipValidationOptions options)
    {
        string? unsupported = null;
        foreach (var tag in request.GetHeaderValues(id))
        {
            if (!options.SupportedExtensions.Contains(tag.ToString()))
            {
                unsupported = unsupported is null ? tag.ToString() : $"{unsupported}, {tag}";
            }
        }

        return unsupported;
    }

    private static string? CheckContacts(SipMessage request)
    {
        var count = 0;
        var star = false;
        foreach (var value in request.GetHeaderValues(HeaderId.Contact))
        {
            count++;
            if (value.SequenceEqual("*"))
            {
                star = true;
                continue;
            }

            var contact = NameAddress.TryParse(value, out var reason);
            if (contact is null)
            {
                return $"bad Contact: {reason}";
            }

            var expires = Tandem.Sip.Uris.SipParameters.Get(contact.Parameters, "expires");
            if (expires is not null && !SipChars.TryParseUInt(expires, MaxDeltaSeconds, out _))
            {
                return "Contact expires is not a valid delta-seconds";
            }
        }

        return star && count > 1 ? "Contact '*' must be the only contact" : null;
    }

    private static SipRejection? CheckBody(SipMessage request, SipValidationOptions options)
    {
        var contentType = request.GetHeader(HeaderId.ContentType);
        if (!request.Body.IsEmpty && contentType is not null && !IsAccepted(contentType, options.AcceptedContentTypes))
        {
            return SipRejection.Of(415, "Unsupported Media Type", new KeyValuePair<string, string>("Accept", string.Join(", ", options.AcceptedContentTypes)));
        }

        if (request.HasHeader(HeaderId.Accept))
        {
            foreach (var accepted in request.GetHeaderValues(HeaderId.Accept))
            {
                if (IsAccepted(accepted.ToString(), options.AcceptedContentTypes) || accepted.StartsWith("*/*"))
                {
                    return null;
                }
            }

            return SipRejection.Of(406, "Not Acceptable", new KeyValuePair<string, string>("Accept", string.Join(", ", options.AcceptedContentTypes)));
        }

        return null;
    }

    private static bool IsAccepted(string mediaType, IReadOnlyList<string> accepted)
    {
        var semicolon = mediaType.IndexOf(';');
        var bare = SipChars.Trim(semicolon >= 0 ? mediaType.AsSpan(0, semicolon) : mediaType);
        foreach (var type in accepted)
        {
            if (bare.Equals(type, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
