using Tandem.Lab.Failover;

namespace Tandem.Cluster.Tests.LabFailover;

public sealed class SippLogTests
{
    // What SIPp 3.6 writes for <log message="KIND [call_number] … [timestamp]"/>: date, time, Unix seconds.micros.
    private static string Line(string kind, int call, double unixSeconds, string extra = "")
        => $"{kind} {call} {(extra.Length > 0 ? extra + " " : "")}2026-12-03\t16:00:14.209398\t{unixSeconds.ToString("0.000000", System.Globalization.CultureInfo.InvariantCulture)}";

    [Fact]
    public void ParsesKindCallExtraAndTheUnixTimestamp()
    {
        var events = SippLog.Parse(["registered 7 3001 2026-12-03\t16:00:14.209398\t1796313614.209398", "query 3002 bound=lab-sentinel@", "garbage", ""]);
        Assert.Equal(2, events.Count);
        Assert.Equal(new SippEvent("registered", 7, "3001", 1796313614209398), events[0]);
        Assert.Equal("query", events[1].Kind);
        Assert.Equal(3002, events[1].Call);
        Assert.Equal("bound=lab-sentinel@", events[1].Extra);
    }

    [Fact]
    public void SummaryCountsStartedCompletedAndTimesIterations()
    {
        var events = SippLog.Parse(
        [
            Line("start", 1, 100.0 + 1_796_000_000), Line("done", 1, 105.2 + 1_796_000_000),
            Line("start", 2, 105.2 + 1_796_000_000), Line("done", 2, 110.4 + 1_796_000_000),
            Line("start", 3, 110.4 + 1_796_000_000), // failed: never done
            Line("start", 4, 130.0 + 1_796_000_000), Line("done", 4, 135.3 + 1_796_000_000),
        ]);
        var summary = SippLog.Summarize(events);
        Assert.Equal(4, summary.Started);
        Assert.Equal(3, summary.Completed);
        Assert.Equal(1, summary.Failed);
        Assert.Equal(35.3, summary.DurationSeconds, 3);
        Assert.Equal(5.2, summary.MedianIterationSeconds, 3);
    }

    [Fact]
    public void CallsUpAtTheFailureWithoutAByeAreDropped()
    {
        const double t0 = 1_796_000_000;
        var events = SippLog.Parse(
        [
            Line("up", 1, t0 + 1), Line("done", 1, t0 + 6),   // up before, hung up after: survived
            Line("up", 2, t0 + 2),                          // up before, BYE never answered: dropped
            Line("up", 3, t0 - 10), Line("done", 3, t0 - 5), // over before the failure: not counted
            Line("up", 4, t0 + 8),                          // set up after the failure: not counted
        ]);
        var (inProgress, dropped) = SippLog.CallsAcross(events, (long)((t0 + 3) * 1e6));
        Assert.Equal(2, inProgress);
        Assert.Equal(1, dropped);
    }
}
