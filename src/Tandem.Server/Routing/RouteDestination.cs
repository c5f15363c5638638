using Tandem.Sip.Text;
using Tandem.Sip.Uris;

namespace Tandem.Server.Routing;

public enum DestinationKind
{
    /// <summary><c>user@domain</c> or a bare extension: a user, ring group or dialled number in a domain this server serves.</summary>
    Local,

    /// <summary>A <c>sip:</c> or <c>sips:</c> URI, sent as it is unless it names a local user or ring group.</summary>
    SipUri,

    /// <summary>A <c>tel:</c> URI: the number goes through the outbound routes.</summary>
    Number,
}

/// <summary>
/// Where a forward or a ring-group member points, parsed once at load. <see cref="User"/> is
/// unescaped (for <see cref="DestinationKind.Number"/>: the number without visual separators);
/// <see cref="Domain"/> is lower case (null for numbers).
/// </summary>
public sealed record RouteDestination(DestinationKind Kind, string Text, string User, string? Domain)
{
    public override string ToString() => Text;

    /// <summary>True when this is the local user <paramref name="user"/>@<paramref name="domain"/> (a loop to itself).</summary>
    public bool Is(string user, string domain) =>
        Kind != DestinationKind.Number && User == user && string.Equals(Domain, domain, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Parses a destination: <c>sip:</c>/<c>sips:</c>/<c>tel:</c> URI, <c>user@domain</c>, or a bare
    /// extension that means <c>user@<paramref name="defaultDomain"/></c>.
    /// </summary>
    public static bool TryParse(string text, string? defaultDomain, out RouteDestination? destination, out string? error)
    {
        destination = null;
        error = null;
        var trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            error = "must not be empty";
            return false;
        }

        if (trimmed.StartsWith("sip:", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("sips:", StringComparison.OrdinalIgnoreCase))
        {
            if (SipUri.TryParse(trimmed, out var uriError) is not { } uri)
            {
                error = $"'{text}' is not a valid SIP URI ({uriError})";
                return false;
            }

            var user = uri.User is null ? "" : SipChars.TryUnescape(uri.User, out var unescaped) ? unescaped : uri.User;
            destination = new RouteDestination(DestinationKind.SipUri, trimmed, user, uri.Host.ToLowerInvariant());
            return true;
        }

        if (trimmed.StartsWith("tel:", StringComparison.OrdinalIgnoreCase))
        {
            var body = trimmed.AsSpan(4);
            var semicolon = body.IndexOf(';');
            var number = string.Concat((semicolon >= 0 ? body[..semicolon] : body).ToArray().Where(c => c is not ('-' or '.' or '(' or ')')));
            if (number.Length == 0 || !number.All(c => char.IsAsciiHexDigit(c) || c is '*' or '#' or '+') || number.IndexOf('+', 1) >= 0)
            {
                error = $"'{text}' is not a telephone number (tel:+4930123456)";
                return false;
            }

            destination = new RouteDestination(DestinationKind.Number, trimmed, number, null);
            return true;
        }

        if (trimmed.Contains(':', StringComparison.Ordinal))
        {
            error = $"'{text}' has an unsupported scheme (use sip:, sips:, tel:, user@domain or an extension)";
            return false;
        }

        var at = trimmed.IndexOf('@');
        var localUser = at >= 0 ? trimmed[..at] : trimmed;
        var domain = at >= 0 ? trimmed[(at + 1)..].ToLowerInvariant() : defaultDomain;
        if (!IsUser(localUser))
        {
            error = $"'{text}' is not a valid user or extension";
            return false;
        }

        if (domain is null)
        {
            error = $"'{text}' must be user@domain";
            return false;
        }

        if (!IsDomain(domain))
        {
            error = $"'{text}' has an invalid domain";
            return false;
        }

        destination = new RouteDestination(DestinationKind.Local, at >= 0 ? localUser + "@" + domain : trimmed, localUser, domain);
        return true;
    }

    internal static bool IsUser(string user) =>
        user.Length > 0 && user.All(c => c > ' ' && c < 0x7F && c is not ('@' or ':' or ';' or '<' or '>' or '"' or '?' or '%' or '\\' or '/'));

    internal static bool IsDomain(string domain) =>
        domain.Length is > 0 and <= 253 && domain.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '[' or ']' or ':');
}
