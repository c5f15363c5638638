using Tandem.Sip.Text;
using Tandem.Sip.Uris;

namespace Tandem.Sip.Headers;

/// <summary>
/// One name-addr or addr-spec with header parameters: the value shape of From, To, Contact, Route,
/// Record-Route and Path (RFC 3261 §20.10, §25.1).
/// </summary>
public sealed class NameAddress
{
    private NameAddress(string text, SipUri uri, string? displayName, SipParameter[] parameters, bool bracketed)
    {
        Text = text;
        Uri = uri;
        DisplayName = displayName;
        Parameters = parameters;
        IsBracketed = bracketed;
    }

    /// <summary>The element exactly as received (trimmed).</summary>
    public string Text { get; }

    public SipUri Uri { get; }

    /// <summary>Display name without quotes or escapes, or null.</summary>
    public string? DisplayName { get; }

    public IReadOnlyList<SipParameter> Parameters { get; }

    public bool IsBracketed { get; }

    public string? Tag => SipParameters.Get(Parameters, "tag");

    public static NameAddress? TryParse(ReadOnlySpan<char> value, out string? error)
    {
        error = null;
        var s = SipChars.Trim(value);
        if (s.IsEmpty)
        {
            error = "empty address";
            return null;
        }

        string? displayName = null;
        int open;
        if (s[0] == '"')
        {
            if (!QuotedString.TryReadEnd(s, 0, out var closeQuote))
            {
                error = "unterminated quoted display name";
                return null;
            }

            displayName = QuotedString.Unquote(s[..(closeQuote + 1)]);
            open = closeQuote + 1;
            while (open < s.Length && SipChars.IsWhitespace(s[open]))
            {
                open++;
            }

            if (open >= s.Length || s[open] != '<')
            {
                error = "display name is not followed by <URI>";
                return null;
            }
        }
        else
        {
            open = s.IndexOf('<');
            if (open > 0)
            {
                // display-name = *(token LWS): only token characters and white space (RFC 4475 baddn).
                var name = SipChars.Trim(s[..open]);
                foreach (var c in name)
                {
                    if (!SipChars.IsTokenChar(c) && c is not (' ' or '\t'))
                    {
                        error = "display name has characters that must be quoted";
                        return null;
                    }
                }

                displayName = name.IsEmpty ? null : name.ToString();
            }
        }

        SipUri? uri;
        ReadOnlySpan<char> tail;
        var bracketed = open >= 0;
        if (bracketed)
        {
            var close = s[open..].IndexOf('>');
            if (close < 0)
            {
                error = "missing '>' after URI";
                return null;
            }

            close += open;
            uri = SipUri.TryParse(s[(open + 1)..close], out error);
            tail = s[(close + 1)..];
        }
        else
        {
            // addr-spec: parameters after the URI belong to the header, so the URI ends at ';' or
            // white space, and it may not carry '?' headers or be followed by a display name
            // (RFC 3261 §20.10; RFC 4475 regbadct, badaspec).
            var end = 0;
            while (end < s.Length && s[end] != ';' && !SipChars.IsWhitespace(s[end]))
            {
                end++;
            }

            var uriText = s[..end];
            if (uriText.IndexOf('?') >= 0 || uriText.IndexOf(',') >= 0)
            {
                error = "URI with headers or commas must be enclosed in <>";
                return null;
            }

            uri = SipUri.TryParse(uriText, out error);
            tail = s[end..];
        }

        if (uri is null)
        {
            return null;
        }

        tail = SipChars.Trim(tail);
        var parameters = HeaderParameterParser.None;
        if (!tail.IsEmpty)
        {
            if (tail[0] != ';')
            {
                error = "unexpected text after the address";
                return null;
            }

            if (!HeaderParameterParser.TryParse(tail[1..], out parameters, out error))
            {
                return null;
            }
        }

        return new NameAddress(s.ToString(), uri, displayName, parameters, bracketed);
    }
}
