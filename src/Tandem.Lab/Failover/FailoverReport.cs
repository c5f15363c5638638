using System.Globalization;
using System.Text;

namespace Tandem.Lab.Failover;

/// <summary>What the report says about how it was made.</summary>
public sealed record ReportContext(string Command, int Seed, string Machine, DateTimeOffset Started, DateTimeOffset Finished);

/// <summary>report.md (statistics per system × failure) and gaps.svg (a box plot of the service gaps).</summary>
public static class FailoverReport
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The cases in the order they first appear in <paramref name="runs"/>.</summary>
    public static List<(string System, FailureKind Failure, List<FailoverRun> Runs)> Cases(IEnumerable<FailoverRun> runs)
        => runs.GroupBy(r => (r.System, r.Failure)).Select(g => (g.Key.System, g.Key.Failure, g.ToList())).ToList();

    public static string Markdown(IReadOnlyList<FailoverRun> runs, ReportContext context)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(context);
        var text = new StringBuilder();
        text.AppendLine("# Failover lab report").AppendLine();
        text.AppendLine(Invariant, $"- command: `{context.Command}`");
        text.AppendLine(Invariant, $"- seed: {context.Seed}");
        text.AppendLine(Invariant, $"- machine: {context.Machine}");
        text.AppendLine(Invariant, $"- started {context.Started.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, finished {context.Finished.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, {runs.Count} runs");
        text.AppendLine();
        text.AppendLine("Service gap (`gap_ms`): from the last request of the dense OPTIONS stream (one every 4 ms) answered before");
        text.AppendLine("the failure to the first one sent after it that was answered (the longest such stretch in the window).");
        text.AppendLine("Registrations lost: sentinel users registered just before the failure that the holder afterwards did not");
        text.AppendLine("list (REGISTER without Contact). Calls dropped: calls up at the failure whose BYE got no 200. The theses'");
        text.AppendLine("downtime: test time − successful iterations / concurrency × median iteration time, per SIPp loop.");
        text.AppendLine();
        text.AppendLine("![service gaps](gaps.svg)").AppendLine();

        text.AppendLine("## Service gap (ms)").AppendLine();
        text.AppendLine("| system | failure | n | median | mean | min | max | p95 | not recovered |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (system, failure, caseRuns) in Cases(runs))
        {
            var s = Statistics.Summarize(caseRuns.Select(r => r.Gap.GapMs))!;
            text.AppendLine(Invariant, $"| {system} | {FailureKinds.Name(failure)} | {s.N} | {F(s.Median)} | {F(s.Mean)} | {F(s.Min)} | {F(s.Max)} | {F(s.P95)} | {caseRuns.Count(r => !r.Gap.Recovered)} |");
        }
        text.AppendLine();

        text.AppendLine("## Other metrics (median / mean / min / max / p95)").AppendLine();
        text.AppendLine("| system | failure | requests lost | registrations lost | calls dropped (of in progress) | failed REGISTER iterations | failed call iterations | theses' downtime REGISTER (s) | theses' downtime calls (s) | holder after |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (system, failure, caseRuns) in Cases(runs))
        {
            var holders = string.Join(", ", caseRuns.GroupBy(r => r.HolderAfter).Select(g => $"{g.Key} ×{g.Count()}"));
            text.AppendLine(Invariant,
                $"| {system} | {FailureKinds.Name(failure)} | {Five(caseRuns.Select(r => (double)r.Gap.RequestsLost))} | {Five(caseRuns.Where(r => r.RegistrationsLost >= 0).Select(r => (double)r.RegistrationsLost))} | " +
                $"{Five(caseRuns.Select(r => (double)r.CallsDropped))} (Σ {caseRuns.Sum(r => r.CallsDropped)} of {caseRuns.Sum(r => r.CallsInProgress)}) | " +
                $"{Five(caseRuns.Where(r => r.RegisterLoop is not null).Select(r => (double)r.RegisterLoop!.Failed))} | {Five(caseRuns.Where(r => r.CallLoop is not null).Select(r => (double)r.CallLoop!.Failed))} | " +
                $"{Five(caseRuns.Where(r => r.ThesisDowntimeRegisterSeconds is not null).Select(r => r.ThesisDowntimeRegisterSeconds!.Value))} | {Five(caseRuns.Where(r => r.ThesisDowntimeCallSeconds is not null).Select(r => r.ThesisDowntimeCallSeconds!.Value))} | {holders} |");
        }
        text.AppendLine();
        var notes = runs.Where(r => r.Note.Length > 0).ToList();
        if (notes.Count > 0)
        {
            text.AppendLine("## Notes").AppendLine();
            foreach (var run in notes)
            {
                text.AppendLine(Invariant, $"- {run.System} {FailureKinds.Name(run.Failure)} run {run.Run}: {run.Note}");
            }
            text.AppendLine();
        }
        text.AppendLine("Every run is a row of [runs.csv](runs.csv).");
        return text.ToString();
    }

    private static string F(double value) => value.ToString(value >= 100 ? "0" : "0.#", Invariant);

    private static string Five(IEnumerable<double> values)
    {
        var s = Statistics.Summarize(values);
        return s is null ? "–" : $"{F(s.Median)} / {F(s.Mean)} / {F(s.Min)} / {F(s.Max)} / {F(s.P95)}";
    }

    /// <summary>
    /// A box plot of gap_ms, one box per system × failure on a log axis (gaps span milliseconds to seconds): box from the
    /// first to the third quartile, a line at the median, whiskers to min and max, every run as a dot.
    /// </summary>
    public static string Svg(IReadOnlyList<FailoverRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var cases = Cases(runs);
        const int left = 70, top = 30, plotHeight = 320, boxWidth = 40, slot = 90, bottom = 70;
        var width = left + (Math.Max(1, cases.Count) * slot) + 20;
        var height = top + plotHeight + bottom;
        var all = runs.Select(r => Math.Max(1, r.Gap.GapMs)).ToList();
        var minDecade = all.Count == 0 ? 0 : (int)Math.Floor(Math.Log10(all.Min()));
        var maxDecade = all.Count == 0 ? 4 : Math.Max(minDecade + 1, (int)Math.Ceiling(Math.Log10(all.Max())));
        double Y(double ms) => top + plotHeight - ((Math.Log10(Math.Max(1, ms)) - minDecade) / (maxDecade - minDecade) * plotHeight);

        var svg = new StringBuilder();
        svg.AppendLine(Invariant, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine(Invariant, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        svg.AppendLine(Invariant, $"<text x=\"{width / 2}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Service gap per failure (ms, log scale)</text>");
        for (var decade = minDecade; decade <= maxDecade; decade++)
        {
            var ms = Math.Pow(10, decade);
            var y = Y(ms);
            svg.AppendLine(Invariant, $"<line x1=\"{left}\" y1=\"{y:0.#}\" x2=\"{width - 10}\" y2=\"{y:0.#}\" stroke=\"#ddd\"/>");
            svg.AppendLine(Invariant, $"<text x=\"{left - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{ms.ToString("0", Invariant)}</text>");
        }
        svg.AppendLine(Invariant, $"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{top + plotHeight}\" stroke=\"black\"/>");
        for (var i = 0; i < cases.Count; i++)
        {
            var (system, failure, caseRuns) = cases[i];
            var s = Statistics.Summarize(caseRuns.Select(r => r.Gap.GapMs))!;
            var center = left + (i * slot) + (slot / 2);
            var x0 = center - (boxWidth / 2);
            svg.AppendLine(Invariant, $"<g class=\"case\" data-system=\"{system}\" data-failure=\"{FailureKinds.Name(failure)}\">");
            svg.AppendLine(Invariant, $"<line x1=\"{center}\" y1=\"{Y(s.Min):0.#}\" x2=\"{center}\" y2=\"{Y(s.Max):0.#}\" stroke=\"black\"/>");
            svg.AppendLine(Invariant, $"<line x1=\"{center - 10}\" y1=\"{Y(s.Min):0.#}\" x2=\"{center + 10}\" y2=\"{Y(s.Min):0.#}\" stroke=\"black\"/>");
            svg.AppendLine(Invariant, $"<line x1=\"{center - 10}\" y1=\"{Y(s.Max):0.#}\" x2=\"{center + 10}\" y2=\"{Y(s.Max):0.#}\" stroke=\"black\"/>");
            svg.AppendLine(Invariant, $"<rect x=\"{x0}\" y=\"{Y(s.Q3):0.#}\" width=\"{boxWidth}\" height=\"{Math.Max(1, Y(s.Q1) - Y(s.Q3)):0.#}\" fill=\"{(system.StartsWith("tandem", StringComparison.Ordinal) ? "#9ecae1" : "#fdae6b")}\" stroke=\"black\"/>");
            svg.AppendLine(Invariant, $"<line x1=\"{x0}\" y1=\"{Y(s.Median):0.#}\" x2=\"{x0 + boxWidth}\" y2=\"{Y(s.Median):0.#}\" stroke=\"black\" stroke-width=\"2\"/>");
            for (var k = 0; k < caseRuns.Count; k++)
            {
                var jitter = ((k % 5) - 2) * 4;
                svg.AppendLine(Invariant, $"<circle cx=\"{center + jitter}\" cy=\"{Y(caseRuns[k].Gap.GapMs):0.#}\" r=\"2\" fill=\"#333\" fill-opacity=\"0.6\"/>");
            }
            svg.AppendLine(Invariant, $"<text x=\"{center}\" y=\"{top + plotHeight + 18}\" text-anchor=\"middle\">{FailureKinds.Name(failure)}</text>");
            svg.AppendLine(Invariant, $"<text x=\"{center}\" y=\"{top + plotHeight + 34}\" text-anchor=\"middle\">{system}</text>");
            svg.AppendLine(Invariant, $"<text x=\"{center}\" y=\"{top + plotHeight + 50}\" text-anchor=\"middle\" fill=\"#555\">n={s.N}, med {F(s.Median)}</text>");
            svg.AppendLine("</g>");
        }
        svg.AppendLine("</svg>");
        return svg.ToString();
    }
}
