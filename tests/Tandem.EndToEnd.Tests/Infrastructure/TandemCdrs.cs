using System.Text;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>One call detail record as `tandem cdr list --format csv` prints it: every column by header name.</summary>
public sealed record CdrRow(IReadOnlyDictionary<string, string> Fields, string Line)
{
    public string? CallId => Find(TandemCallConfig.CdrCallIdColumns);

    public string? Disposition => Find(TandemCallConfig.CdrDispositionColumns);

    public string? FinalStatus => Find(TandemCallConfig.CdrFinalStatusColumns);

    private string? Find(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            if (Fields.TryGetValue(CdrCsv.NormalizeHeader(name), out var value))
            {
                return value;
            }
        }
        return null;
    }

    /// <summary>
    /// True when the disposition names <paramref name="expected"/> ("answered", "busy",
    /// "no-answer", "failed", "cancelled"), ignoring case, '-', '_' and spaces, and the US
    /// spelling "canceled".
    /// </summary>
    public bool DispositionIs(string expected) =>
        Disposition is { } d && NormalizeWord(d) == NormalizeWord(expected);

    private static string NormalizeWord(string word)
    {
        var letters = new string(word.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray());
        return letters == "canceled" ? "cancelled" : letters;
    }
}

/// <summary>Parses the CSV of `tandem cdr list --format csv` tolerantly (quotes, CRLF, column order, extra columns).</summary>
public static class CdrCsv
{
    public static string NormalizeHeader(string name) =>
        name.Trim().ToLowerInvariant().Replace('-', '_').Replace(' ', '_');

    public static IReadOnlyList<CdrRow> Parse(string csv)
    {
        var lines = csv.Replace("\r\n", "\n").Split('\n').Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count == 0)
        {
            return [];
        }
        var header = SplitLine(lines[0]).Select(NormalizeHeader).ToList();
        var rows = new List<CdrRow>();
        foreach (var line in lines.Skip(1))
        {
            var cells = SplitLine(line);
            var fields = new Dictionary<string, string>();
            for (var i = 0; i < header.Count && i < cells.Count; i++)
            {
                fields[header[i]] = cells[i].Trim();
            }
            rows.Add(new CdrRow(fields, line));
        }
        return rows;
    }

    /// <summary>RFC 4180 fields: commas separate, double quotes quote, "" is a quote.</summary>
    private static List<string> SplitLine(string line)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    cell.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    cell.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                cells.Add(cell.ToString());
                cell.Clear();
            }
            else
            {
                cell.Append(c);
            }
        }
        cells.Add(cell.ToString());
        return cells;
    }
}
