using System.Xml.Linq;
using Tandem.Lab.Failover;

namespace Tandem.Cluster.Tests.LabFailover;

public sealed class ReportTests
{
    private static FailoverRun Run(string system, FailureKind failure, int run, double gapMs, string note = "")
        => new()
        {
            System = system,
            Failure = failure,
            Run = run,
            FailureAt = new DateTimeOffset(2026, 12, 3, 16, 0, 0, TimeSpan.Zero),
            HolderBefore = "a",
            HolderAfter = "b",
            Gap = new GapResult(gapMs, 0, (long)(gapMs * 1000), (int)(gapMs / 4), 500, true, gapMs),
            RegistrationsLost = 0,
            Sentinels = 10,
            CallsDropped = run % 2,
            CallsInProgress = 3,
            RegisterLoop = new LoopSummary(3, 3, 12.5, 5.01),
            CallLoop = new LoopSummary(6, 5, 11.0, 5.05),
            ThesisDowntimeRegisterSeconds = 0.5,
            ThesisDowntimeCallSeconds = 1.25,
            Note = note,
        };

    [Fact]
    public void CsvStartsWithTheRequiredColumnsAndWritesInvariantNumbers()
    {
        Assert.StartsWith("system,failure,run,gap_ms,requests_lost,registrations_lost,calls_dropped,holder_after,", RunsCsv.Header);
        var csv = RunsCsv.Write([Run("tandem", FailureKind.Linkdown, 1, 183.25), Run("tandem", FailureKind.Kill, 2, 200.5, "odd, \"quoted\"")]);
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("tandem,linkdown,1,183.25,45,0,1,b,a,2026-12-03T16:00:00.000Z,true,", lines[1]);
        Assert.EndsWith(",\"odd, \"\"quoted\"\"\"", lines[2]);
        Assert.Equal(RunsCsv.Columns.Length, lines[1].Split(',').Length);
    }

    [Theory]
    [InlineData("a,b", FailureKind.Kill, "a", "b")] // the killed node's kernel keeps its copy
    [InlineData("a,b", FailureKind.Freeze, "a", "b")]
    [InlineData("a,b", FailureKind.Linkdown, "a", "b")]
    [InlineData("a,b", FailureKind.Partition, "a", "a+b")] // both alive: a split brain
    [InlineData("a", FailureKind.Freeze, "a", "none")] // nobody took over: the frozen copy serves nothing
    [InlineData("b", FailureKind.Stop, "a", "b")]
    [InlineData("", FailureKind.Stop, "a", "none")]
    public void HolderAfterLeavesOutTheFailedNodesLeftoverAddress(string configured, FailureKind failure, string failed, string expected)
        => Assert.Equal(expected, FailoverRun.LiveHolders(configured.Split(',', StringSplitOptions.RemoveEmptyEntries), failure, failed));

    [Fact]
    public void MarkdownHasAStatisticsRowPerCaseAndTheCommand()
    {
        var runs = new[] { 100.0, 200, 300, 400, 500 }.Select((g, i) => Run("tandem", FailureKind.Kill, i + 1, g))
            .Append(Run("tandem", FailureKind.Stop, 1, 30)).ToList();
        var context = new ReportContext("tandem lab failover --runs 5", 42, "test machine", DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);
        var markdown = FailoverReport.Markdown(runs, context);
        Assert.Contains("`tandem lab failover --runs 5`", markdown);
        Assert.Contains("seed: 42", markdown);
        Assert.Contains("| tandem | kill | 5 | 300 | 300 | 100 | 500 | 480 | 0 |", markdown);
        Assert.Contains("| tandem | stop | 1 | 30 | 30 | 30 | 30 | 30 | 0 |", markdown);
        Assert.Contains("(Σ 3 of 15)", markdown);
    }

    [Fact]
    public void SvgIsWellFormedWithOneBoxPerCase()
    {
        var runs = new[]
        {
            Run("tandem", FailureKind.Kill, 1, 180), Run("tandem", FailureKind.Kill, 2, 220),
            Run("tandem", FailureKind.Freeze, 1, 150), Run("kamailio-vrrp-1s", FailureKind.Kill, 1, 3500),
        };
        var svg = XDocument.Parse(FailoverReport.Svg(runs));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var cases = svg.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "case").ToList();
        Assert.Equal(3, cases.Count);
        Assert.Equal(["tandem/kill", "tandem/freeze", "kamailio-vrrp-1s/kill"], cases.Select(g => $"{g.Attribute("data-system")!.Value}/{g.Attribute("data-failure")!.Value}"));
        Assert.Equal(4, svg.Descendants(ns + "circle").Count());
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "1000"); // a decade tick of the log axis
    }

    [Theory]
    [InlineData("all", 5)]
    [InlineData("kill", 1)]
    [InlineData("kill,partition", 2)]
    public void FailureListsParse(string text, int count)
    {
        Assert.True(FailureKinds.TryParse(text, out var kinds));
        Assert.Equal(count, kinds.Count);
    }

    [Fact]
    public void UnknownFailureIsRejected() => Assert.False(FailureKinds.TryParse("reboot", out _));
}
