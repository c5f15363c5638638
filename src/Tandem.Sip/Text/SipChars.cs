namespace Tandem.Sip.Text;

/// <summary>Character classes of the RFC 3261 §25 grammar, as cheap lookups.</summary>
public static class SipChars
{
    // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
    private static readonly bool[] Token = Build("-.!%*_+`'~");

    // word (Call-ID) also allows ( ) < > : \ " / [ ] ? { }
    private static readonly bool[] Word = Build("-.!%*_+`'~()<>:\\\"/[]?{}");

    private static bool[] Build(string extra)
    {
        var table = new bool[128];
        for (var c = 'a'; c <= 'z'; c++)
        {
            table[c] = true;
        }

        for (var c = 'A'; c <= 'Z'; c++)
        {
            table[c] = true;
        }

        for (var c = '0'; c <= '9'; c++)
        {
            table[c] = true;
        }

        foreach (var c in extra)
        {
            table[c] = true;
        }

        return table;
    }

    public static bool IsTokenChar(char c) => c < 128 && Token[c];

    public static bool IsWordChar(char c) => c < 128 && Word[c];

    public static bool IsToken(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (!IsTokenChar(c))
            {
                return false;
            }
        }

        return true;
    }

    public static bool IsWhitespace(char c) => c is ' ' or '\t' or '\r' or '\n';

    public static bool IsDigit(char c) => (uint)(c - '0') <= 9;

    public static ReadOnlySpan<char> Trim(ReadOnlySpan<char> s)
    {
        var start = 0;
        while (start < s.Length && IsWhitespace(s[start]))
        {
            start++;
        }

        var end = s.Length;
        while (end > start && IsWhitespace(s[end - 1]))
        {
            end--;
        }

        return s[start..end];
    }

    /// <summary>
    /// Parses a non-negative decimal that must fit in <paramref name="max"/>; leading zeros are legal
    /// (RFC 4475 wsinv uses "0068"). Rejects signs, blanks and overflow (RFC 4475 scalar02).
    /// </summary>
    public static bool TryParseUInt(ReadOnlySpan<char> s, ulong max, out ulong value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 40)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (!IsDigit(c))
            {
                return false;
            }

            var digit = (ulong)(c - '0');
            if (value > (max - digit) / 10)
            {
                return false;
            }

            value = (value * 10) + digit;
        }

        return true;
    }

    /// <summary>Index of <paramref name="target"/> outside quoted strings and &lt;...&gt;, or -1.</summary>
    public static int IndexOfUnquoted(ReadOnlySpan<char> s, char target, int start = 0)
    {
        var inQuotes = false;
        var inAngle = false;
        for (var i = start; i < s.Length; i++)
        {
            var c = s[i];
            if (inQuotes)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inQuotes = false;
                }

                continue;
            }

            if (c == target && !inAngle)
            {
                return i;
            }

            switch (c)
            {
                case '"':
                    inQuotes = true;
                    break;
                case '<':
                    inAngle = true;
                    break;
                case '>':
                    inAngle = false;
                    break;
            }
        }

        return -1;
    }

    /// <summary>Decodes %HH escapes (RFC 3261 §25.1). Returns false on a malformed escape.</summary>
    public static bool TryUnescape(ReadOnlySpan<char> s, out string result)
    {
        if (s.IndexOf('%') < 0)
        {
            result = s.ToString();
            return true;
        }

        var bytes = new byte[s.Length];
        var n = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '%')
            {
                if (i + 2 >= s.Length || !IsHex(s[i + 1]) || !IsHex(s[i + 2]))
                {
                    result = string.Empty;
                    return false;
                }

                bytes[n++] = (byte)((HexValue(s[i + 1]) << 4) | HexValue(s[i + 2]));
                i += 2;
            }
            else
            {
                bytes[n++] = (byte)c;
            }
        }

        // Latin-1 keeps one char per octet, the same convention as message text (see SipMessage).
        result = System.Text.Encoding.Latin1.GetString(bytes, 0, n);
        return true;
    }

    public static bool IsHex(char c) => IsDigit(c) || (uint)((c | 0x20) - 'a') <= 5;

    private static int HexValue(char c) => IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}
