namespace Tandem.Sip.Auth;

/// <summary>
/// Walks "name = value, name = "quoted", ..." (RFC 3261 §25.1 auth-param, EQUAL and COMMA allow
/// LWS around the separators) without allocating. Values are returned raw: the caller unescapes
/// only the ones it keeps.
/// </summary>
internal ref struct AuthParamReader(ReadOnlySpan<char> parameters)
{
    private ReadOnlySpan<char> _rest = parameters;

    public bool Failed { get; private set; }

    /// <summary>False at the end of input or on a syntax error (then <see cref="Failed"/> is set).</summary>
    public bool TryRead(out ReadOnlySpan<char> name, out ReadOnlySpan<char> value, out bool quoted)
    {
        name = value = default;
        quoted = false;

        // Tolerate empty list elements (", ,"), as the RFC 7230 §7 #rule does.
        _rest = SkipWhitespace(_rest);
        while (!_rest.IsEmpty && _rest[0] == ',')
        {
            _rest = SkipWhitespace(_rest[1..]);
        }
        if (_rest.IsEmpty)
        {
            return false;
        }

        int nameLength = TokenLength(_rest);
        if (nameLength == 0)
        {
            return Fail();
        }
        name = _rest[..nameLength];
        _rest = SkipWhitespace(_rest[nameLength..]);
        if (_rest.IsEmpty || _rest[0] != '=')
        {
            return Fail();
        }
        _rest = SkipWhitespace(_rest[1..]);

        if (!_rest.IsEmpty && _rest[0] == '"')
        {
            int end = QuotedLength(_rest);
            if (end < 0)
            {
                return Fail();
            }
            value = _rest[1..(end - 1)];
            quoted = true;
            _rest = _rest[end..];
        }
        else
        {
            int valueLength = TokenLength(_rest);
            if (valueLength == 0)
            {
                return Fail();
            }
            value = _rest[..valueLength];
            _rest = _rest[valueLength..];
        }

        // After a value only the end or a comma may follow.
        _rest = SkipWhitespace(_rest);
        if (!_rest.IsEmpty && _rest[0] != ',')
        {
            return Fail();
        }
        return true;
    }

    private bool Fail()
    {
        Failed = true;
        return false;
    }

    /// <summary>Length of a quoted-string including both quotes, or -1 when it is unterminated or invalid.</summary>
    private static int QuotedLength(ReadOnlySpan<char> s)
    {
        for (int i = 1; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '"')
            {
                return i + 1;
            }
            if (c == '\\')
            {
                // quoted-pair excludes CR and LF (RFC 3261 §25.1).
                if (++i >= s.Length || s[i] is '\r' or '\n')
                {
                    return -1;
                }
            }
            else if ((c < 0x20 && c is not ('\t' or '\r' or '\n')) || c == 0x7F)
            {
                return -1;
            }
        }
        return -1;
    }

    /// <summary>Unescapes quoted-pairs; allocates only the resulting string.</summary>
    public static string Unquote(ReadOnlySpan<char> raw)
    {
        if (!raw.Contains('\\'))
        {
            return new string(raw);
        }
        int length = 0;
        for (int i = 0; i < raw.Length; i++, length++)
        {
            if (raw[i] == '\\')
            {
                i++; // the reader guarantees a character follows
            }
        }
        return string.Create(length, raw, static (destination, source) =>
        {
            int written = 0;
            for (int i = 0; i < source.Length; i++)
            {
                if (source[i] == '\\')
                {
                    i++;
                }
                destination[written++] = source[i];
            }
        });
    }

    // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") (RFC 3261 §25.1)
    private static int TokenLength(ReadOnlySpan<char> s)
    {
        int i = 0;
        while (i < s.Length && IsTokenChar(s[i]))
        {
            i++;
        }
        return i;
    }

    private static bool IsTokenChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '!' or '%' or '*' or '_' or '+' or '`' or '\'' or '~';

    // LWS may contain a folded line (CRLF then whitespace) if the caller did not unfold it.
    internal static ReadOnlySpan<char> SkipWhitespace(ReadOnlySpan<char> s) => s.TrimStart(" \t\r\n");
}
