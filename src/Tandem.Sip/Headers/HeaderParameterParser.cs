using Tandem.Sip.Text;
using Tandem.Sip.Uris;

namespace Tandem.Sip.Headers;

/// <summary>
/// Parses the ";name[=value]" tail of a header field value (RFC 3261 §7.3.1, §25.1 generic-param),
/// tolerating linear white space around ';' and '=' as the grammar allows (RFC 4475 wsinv).
/// Quoted values keep their quotes so they can be echoed exactly.
/// </summary>
internal static class HeaderParameterParser
{
    public static readonly SipParameter[] None = [];

    /// <summary><paramref name="s"/> starts right after the first ';' (or is empty).</summary>
    public static bool TryParse(ReadOnlySpan<char> s, out SipParameter[] parameters, out string? error)
    {
        parameters = None;
        error = null;
        if (SipChars.Trim(s).IsEmpty)
        {
            return true;
        }

        var list = new List<SipParameter>(4);
        var start = 0;
        while (start <= s.Length)
        {
            var end = SipChars.IndexOfUnquoted(s, ';', start);
            if (end < 0)
            {
                end = s.Length;
            }

            var item = SipChars.Trim(s[start..end]);
            if (!item.IsEmpty)
            {
                if (!TryParseOne(item, out var parameter, out error))
                {
                    return false;
                }

                list.Add(parameter);
            }
            else if (end < s.Length || start > 0)
            {
                // ";;" or a trailing ';' with nothing after it.
                error = "empty header parameter";
                return false;
            }

            start = end + 1;
        }

        parameters = [.. list];
        return true;
    }

    private static bool TryParseOne(ReadOnlySpan<char> item, out SipParameter parameter, out string? error)
    {
        error = null;
        parameter = default;
        var eq = item.IndexOf('=');
        var name = SipChars.Trim(eq >= 0 ? item[..eq] : item);
        if (!SipChars.IsToken(name))
        {
            error = "header parameter name is not a token";
            return false;
        }

        if (eq < 0)
        {
            parameter = new SipParameter(name.ToString(), null);
            return true;
        }

        var value = SipChars.Trim(item[(eq + 1)..]);
        if (value.IsEmpty)
        {
            error = $"header parameter '{name}' has an empty value";
            return false;
        }

        if (value[0] == '"')
        {
            if (!QuotedString.TryReadEnd(value, 0, out var close) || close != value.Length - 1)
            {
                error = $"header parameter '{name}' has a bad quoted value";
                return false;
            }
        }
        else
        {
            foreach (var c in value)
            {
                // gen-value = token / host / quoted-string; host brings ':' '[' ']'.
                if (!SipChars.IsTokenChar(c) && c is not (':' or '[' or ']'))
                {
                    error = $"header parameter '{name}' has a bad value";
                    return false;
                }
            }
        }

        parameter = new SipParameter(name.ToString(), value.ToString());
        return true;
    }
}

internal static class QuotedString
{
    /// <summary>Finds the closing quote of a quoted-string opening at <paramref name="open"/>.</summary>
    public static bool TryReadEnd(ReadOnlySpan<char> s, int open, out int close)
    {
        for (var i = open + 1; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\\')
            {
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): CR and LF cannot be escaped.
                if (i + 1 >= s.Length || s[i + 1] is '\r' or '\n')
                {
                    break;
                }

                i++;
            }
            else if (c == '"')
            {
                close = i;
                return true;
            }
        }

        close = -1;
        return false;
    }

    /// <summary>Removes the quotes and quoted-pair escapes.</summary>
    public static string Unquote(ReadOnlySpan<char> quoted)
    {
        if (quoted.Length < 2 || quoted[0] != '"')
        {
            return quoted.ToString();
        }

        var inner = quoted[1..^1];
        if (inner.IndexOf('\\') < 0)
        {
            return inner.ToString();
        }

        var chars = new char[inner.Length];
        var n = 0;
        for (var i = 0; i < inner.Length; i++)
        {
            if (inner[i] == '\\' && i + 1 < inner.Length)
            {
                i++;
            }

            chars[n++] = inner[i];
        }

        return new string(chars, 0, n);
    }
}
