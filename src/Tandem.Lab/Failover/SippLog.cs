using System.Globalization;

namespace Tandem.Lab.Failover;

/// <summary>A milestone logged by a lab scenario: "KIND CALL_NUMBER [extra…] DATE TIME UNIX.MICROS" (SIPp's [timestamp]).</summary>
public sealed record SippEvent(string Kind, int Call, string Extra, long Us);

/// <summary>What one SIPp loop did in one run, from its milestone log.</summary>
/// <param name="Started">Iterations begun.</param>
/// <param name="Completed">Iterations that reached "done".</param>
/// <param name="DurationSeconds">From the first "start" to the last event.</param>
/// <param name="MedianIterationSeconds">Median length of completed iterations (the theses used a constant per scenario).</param>
public sealed record LoopSummary(int Started, int Completed, double DurationSeconds, double MedianIterationSeconds)
{
    public int Failed => Started - Completed;
}

/// <summary>Reads the <c>-trace_logs</c> files of the lab scenarios (lab/sipp/*.xml).</summary>
public static class SippLog
{
    public static List<SippEvent> Parse(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var events = new List<SippEvent>();
        foreach (var raw in lines)
        {
            var parts = raw.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var call))
            {
                continue;
            }
            long us = 0;
            var extraEnd = parts.Length;
            // [timestamp] expands to "YYYY-MM-DD HH:MM:SS.micros UNIX.micros": the last token is the one to use.
            if (parts.Length >= 5 && TryParseUnixSeconds(parts[^1], out us))
            {
                extraEnd = parts.Length - 3;
            }
            events.Add(new SippEvent(parts[0], call, string.Join(' ', parts[2..Math.Max(2, extraEnd)]), us));
        }
        return events;
    }

    public static bool TryParseUnixSeconds(string text, out long microseconds)
    {
        microseconds = 0;
        if (!decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) || seconds < 1_000_000_000m)
        {
            return false;
        }
        microseconds = (long)(seconds * 1_000_000m);
        return true;
    }

    /// <summary>Started/completed iterations and their timing; "start" and "done" are the milestones every loop logs.</summary>
    public static LoopSummary Summarize(IReadOnlyList<SippEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var starts = new Dictionary<int, long>();
        var lengths = new List<double>();
        long first = long.MaxValue, last = long.MinValue;
        var completed = 0;
        foreach (var e in events)
        {
            if (e.Us > 0)
            {
                first = Math.Min(first, e.Us);
                last = Math.Max(last, e.Us);
            }
            if (e.Kind == "start")
            {
                starts[e.Call] = e.Us;
            }
            else if (e.Kind == "done")
            {
                completed++;
                if (starts.TryGetValue(e.Call, out var began))
                {
                    lengths.Add((e.Us - began) / 1e6);
                }
            }
        }
        var duration = first == long.MaxValue ? 0 : (last - first) / 1e6;
        return new LoopSummary(starts.Count, completed, duration, lengths.Count == 0 ? 0 : Statistics.Median(lengths));
    }

    /// <summary>Calls in progress at <paramref name="failureUs"/> (answered, "up", before it and not yet hung up, "done"),
    /// and those of them whose BYE never got its 200 (no "done" at all).</summary>
    public static (int InProgress, int Dropped) CallsAcross(IReadOnlyList<SippEvent> events, long failureUs)
    {
        ArgumentNullException.ThrowIfNull(events);
        var up = new HashSet<int>();
        var done = new Dictionary<int, long>();
        foreach (var e in events)
        {
            if (e.Kind == "up" && e.Us < failureUs)
            {
                up.Add(e.Call);
            }
            else if (e.Kind == "done")
            {
                done[e.Call] = e.Us;
            }
        }
        var inProgress = up.Where(c => !done.TryGetValue(c, out var at) || at >= failureUs).ToList();
        return (inProgress.Count, inProgress.Count(c => !done.ContainsKey(c)));
    }
}
