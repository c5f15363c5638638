using System.Globalization;
using System.Text;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Host.Commands;

/// <summary><c>tandem cdr list</c>: call detail records from the database, newest first.</summary>
internal static class CdrCommands
{
    private const int DefaultLimit = 100;

    public static readonly CommandSpec List = new(
        "cdr list",
        "List call detail records, newest first.",
        [],
        [
            new("since", "TIME", "calls that started at or after TIME: ISO 8601 (UTC unless an offset is given) or relative, e.g. -1h, -30m, -2d"),
            new("until", "TIME", "calls that started before TIME (same forms)"),
            new("caller", "TEXT", "caller URI contains TEXT (case-insensitive)"),
            new("callee", "TEXT", "callee URI contains TEXT (case-insensitive)"),
            new("limit", "N", $"at most N records, the newest (default {DefaultLimit}; 0 for all)"),
            new("format", "FORMAT", "table (default) or csv (every field, times in UTC with milliseconds)"),
        ],
        ListAsync,
        "Times are UTC. DURATION is talk time, from the answer to the end of the call (0 when not\n" +
        "answered). DISPOSITION is answered, busy, no-answer, failed or cancelled; 'answered (timed out)'\n" +
        "marks a call closed by the maximum call duration because no BYE was seen.\n" +
        "A running server writes records in batches, so calls that ended in the last storage flush\n" +
        "interval (default 200 ms) may not be listed yet.");

    private static async Task<int> ListAsync(ParsedArgs args, CliContext context)
    {
        const string name = "cdr list";
        var now = context.Time.GetUtcNow();
        string? error = null;
        var since = ParseTimeOption(args, "since", now, ref error);
        var until = ParseTimeOption(args, "until", now, ref error);
        var limit = DefaultLimit;
        if (error is null && args.Get("limit") is { } limitText
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 0))
        {
            error = $"--limit: '{limitText}' is not a number ≥ 0";
        }

        var format = args.Get("format") ?? "table";
        if (error is null && format is not ("table" or "csv"))
        {
            error = $"--format: '{format}' is not table or csv";
        }

        if (error is null && since is { } s && until is { } u && s >= u)
        {
            error = "--since must be before --until";
        }

        if (error is not null)
        {
            return await CliApp.UsageFailure(context, $"tandem {name}: {error}", $"usage: {List.Usage}\nRun 'tandem {name} --help' for details.\n");
        }

        var config = await CliApp.LoadConfigAsync(args, context);
        if (config is null)
        {
            return CliApp.Failed;
        }

        if (await UserCommands.OpenExistingAsync(config.Options!, context, name) is not { } database)
        {
            return CliApp.Failed;
        }

        await using var store = new SqliteCdrStore(database);
        var records = await store.ListAsync(new CdrQuery
        {
            Since = since,
            Until = until,
            Caller = args.Get("caller"),
            Callee = args.Get("callee"),
            Limit = limit == 0 ? null : limit,
        });

        if (format == "csv")
        {
            await WriteCsvAsync(context.Stdout, records);
            return CliApp.Ok;
        }

        if (records.Count == 0)
        {
            await context.Stdout.WriteLineAsync("no call records");
            return CliApp.Ok;
        }

        var rows = records.Select(r => new[]
        {
            r.StartedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
            r.Caller,
            r.Callee,
            Disposition(r),
            r.FinalStatus.ToString(CultureInfo.InvariantCulture),
            FormatDuration(r.Duration),
            r.CallId,
        });
        await Table.WriteAsync(context.Stdout, ["START (UTC)", "CALLER", "CALLEE", "DISPOSITION", "STATUS", "DURATION", "CALL-ID"], rows);
        return CliApp.Ok;
    }

    private static DateTimeOffset? ParseTimeOption(ParsedArgs args, string option, DateTimeOffset now, ref string? error)
    {
        if (error is not null || args.Get(option) is not { } text)
        {
            return null;
        }

        if (TryParseTime(text, now, out var value))
        {
            return value;
        }

        error = $"--{option}: '{text}' is not an ISO 8601 time or a relative time such as -1h, -30m, -45s, -2d";
        return null;
    }

    /// <summary>ISO 8601 (UTC unless it has an offset), or <c>-N</c> followed by s, m, h or d before <paramref name="now"/>.</summary>
    internal static bool TryParseTime(string text, DateTimeOffset now, out DateTimeOffset value)
    {
        value = default;
        if (text.Length >= 3 && text[0] == '-' && char.IsAsciiDigit(text[1]))
        {
            var unit = text[^1] switch
            {
                's' => TimeSpan.FromSeconds(1),
                'm' => TimeSpan.FromMinutes(1),
                'h' => TimeSpan.FromHours(1),
                'd' => TimeSpan.FromDays(1),
                _ => TimeSpan.Zero,
            };
            if (unit == TimeSpan.Zero
                || !int.TryParse(text.AsSpan(1, text.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
                || count > 100 * 365)
            {
                return false;
            }

            value = now - (unit * count);
            return true;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }

    private static string Disposition(CallDetailRecord record) =>
        SqliteCdrStore.DispositionName(record.Disposition) + (record.TimedOut ? " (timed out)" : "");

    private static string FormatDuration(TimeSpan duration) =>
        string.Create(CultureInfo.InvariantCulture, $"{(long)duration.TotalHours}:{duration.Minutes:00}:{duration.Seconds:00}");

    private static async Task WriteCsvAsync(TextWriter output, IReadOnlyList<CallDetailRecord> records)
    {
        await output.WriteLineAsync("id,call_id,from_tag,to_tag,caller,callee,start,answer,end,duration_s,final_status,disposition,timed_out,node");
        var line = new StringBuilder();
        foreach (var r in records)
        {
            line.Clear();
            string[] fields =
            [
                r.Id, r.CallId, r.FromTag, r.ToTag ?? "", r.Caller, r.Callee,
                IsoTime(r.StartedAt), r.AnsweredAt is { } answered ? IsoTime(answered) : "", IsoTime(r.EndedAt),
                r.Duration.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture),
                r.FinalStatus.ToString(CultureInfo.InvariantCulture),
                SqliteCdrStore.DispositionName(r.Disposition),
                r.TimedOut ? "true" : "false",
                r.Node,
            ];
            for (var i = 0; i < fields.Length; i++)
            {
                if (i > 0)
                {
                    line.Append(',');
                }

                AppendCsvField(line, fields[i]);
            }

            await output.WriteLineAsync(line.ToString());
        }
    }

    private static string IsoTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled.</summary>
    private static void AppendCsvField(StringBuilder line, string field)
    {
        if (field.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            line.Append(field);
            return;
        }

        line.Append('"').Append(field.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
    }
}
