namespace Tandem.Server.Routing;

/// <summary>
/// An Asterisk-style dial pattern. Without a leading <c>_</c> the text must equal the dialled
/// number exactly. With it, each character matches one dialled character: <c>X</c> any digit
/// 0–9, <c>Z</c> 1–9, <c>N</c> 2–9 (also lower case), <c>[1-5a]</c> one of a set with ranges,
/// anything else itself; <c>-</c> outside brackets is ignored (<c>_1-800-NXX-XXXX</c>). A final
/// <c>.</c> matches one or more further characters, a final <c>!</c> zero or more.
/// </summary>
/// <remarks>
/// Compiled once at load into per-position character sets; <see cref="Matches"/> is a single pass
/// over the number with no allocation (it runs for every call that reaches the route table).
/// </remarks>
public sealed class DialPattern
{
    private readonly Element[] _elements;
    private readonly Tail _tail;

    private DialPattern(string text, Element[] elements, Tail tail)
    {
        Text = text;
        _elements = elements;
        _tail = tail;
    }

    private enum Tail
    {
        None,
        OneOrMore,
        ZeroOrMore,
    }

    /// <summary>The pattern as configured.</summary>
    public string Text { get; }

    /// <summary>True for a pattern without a leading <c>_</c>: an exact match.</summary>
    public bool IsExact => Text[0] != '_';

    /// <summary>Length of the shortest number the pattern matches.</summary>
    public int MinLength => _elements.Length + (_tail == Tail.OneOrMore ? 1 : 0);

    public override string ToString() => Text;

    /// <summary>Parses a pattern, or returns false with the reason.</summary>
    public static bool TryParse(string text, out DialPattern? pattern, out string? error)
    {
        pattern = null;
        error = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "a pattern must not be empty";
            return false;
        }

        foreach (var c in text)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                error = $"pattern '{text}' contains whitespace or a control character";
                return false;
            }
        }

        if (text[0] != '_')
        {
            pattern = new DialPattern(text, [.. text.Select(Element.Literal)], Tail.None);
            return true;
        }

        var elements = new List<Element>(text.Length);
        var tail = Tail.None;
        for (var i = 1; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '.' or '!')
            {
                if (i != text.Length - 1)
                {
                    error = $"'{c}' may only end a pattern (in '{text}')";
                    return false;
                }

                tail = c == '.' ? Tail.OneOrMore : Tail.ZeroOrMore;
            }
            else if (c == '[')
            {
                var close = text.IndexOf(']', i + 1);
                if (close < 0)
                {
                    error = $"'[' without a closing ']' (in '{text}')";
                    return false;
                }

                if (!TryParseSet(text.AsSpan(i + 1, close - i - 1), out var set, out var reason))
                {
                    error = $"{reason} (in '{text}')";
                    return false;
                }

                elements.Add(set);
                i = close;
            }
            else if (c == ']')
            {
                error = $"']' without an opening '[' (in '{text}')";
                return false;
            }
            else if (c == '-')
            {
                // Asterisk ignores dashes outside brackets: they only make long patterns readable.
            }
            else
            {
                elements.Add(c switch
                {
                    'X' or 'x' => Element.Range('0', '9'),
                    'Z' or 'z' => Element.Range('1', '9'),
                    'N' or 'n' => Element.Range('2', '9'),
                    _ => Element.Literal(c),
                });
            }
        }

        if (elements.Count == 0 && tail != Tail.OneOrMore)
        {
            error = $"pattern '{text}' matches nothing useful (use '_.' for any number)";
            return false;
        }

        pattern = new DialPattern(text, [.. elements], tail);
        return true;
    }

    /// <summary>True when <paramref name="number"/> matches the whole pattern.</summary>
    public bool Matches(ReadOnlySpan<char> number)
    {
        var fixedLength = _elements.Length;
        switch (_tail)
        {
            case Tail.None when number.Length != fixedLength:
            case Tail.OneOrMore when number.Length <= fixedLength:
            case Tail.ZeroOrMore when number.Length < fixedLength:
                return false;
        }

        var elements = _elements;
        for (var i = 0; i < elements.Length; i++)
        {
            if (!elements[i].Matches(number[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryParseSet(ReadOnlySpan<char> body, out Element set, out string? error)
    {
        set = default;
        error = null;
        if (body.IsEmpty)
        {
            error = "'[]' is an empty set";
            return false;
        }

        ulong low = 0, high = 0;
        for (var i = 0; i < body.Length; i++)
        {
            var from = body[i];
            var to = from;
            if (i + 2 < body.Length && body[i + 1] == '-')
            {
                to = body[i + 2];
                i += 2;
                if (to < from)
                {
                    error = $"range '{from}-{to}' is backwards";
                    return false;
                }
            }

            if (to >= 128)
            {
                error = "sets may only contain ASCII characters";
                return false;
            }

            for (var c = from; c <= to; c++)
            {
                if (c < 64)
                {
                    low |= 1UL << c;
                }
                else
                {
                    high |= 1UL << (c - 64);
                }
            }
        }

        set = new Element('\0', low, high);
        return true;
    }

    /// <summary>One position: a literal character, or a set of ASCII characters as a 128-bit mask.</summary>
    private readonly record struct Element(char Char, ulong Low, ulong High)
    {
        public static Element Literal(char c) => new(c, 0, 0);

        public static Element Range(char from, char to)
        {
            ulong low = 0;
            for (var c = from; c <= to; c++)
            {
                low |= 1UL << c;
            }

            return new Element('\0', low, 0);
        }

        public bool Matches(char c)
        {
            if (Low == 0 && High == 0)
            {
                return c == Char;
            }

            return c < 64 ? (Low & (1UL << c)) != 0 : c < 128 && (High & (1UL << (c - 64))) != 0;
        }
    }
}
