using Tandem.Lab.Failover;

namespace Tandem.Cluster.Tests.LabFailover;

public sealed class GapAnalysisTests
{
    private const long Ms = 1000;

    /// <summary>A request every 4 ms from 0 to <paramref name="endMs"/>; those sent in an outage get no answer; answers 1 ms later.</summary>
    private static List<ProbeSample> Stream(long endMs, params (long From, long To)[] outages)
    {
        var samples = new List<ProbeSample>();
        for (long t = 0; t <= endMs; t += 4)
        {
            var down = outages.Any(o => t >= o.From && t < o.To);
            samples.Add(new ProbeSample(t * Ms, down ? null : (t + 1) * Ms));
        }
        return samples;
    }

    [Fact]
    public void GapRunsFromTheLastAnsweredBeforeTheFailureToTheFirstAnsweredAfterIt()
    {
        var result = GapAnalysis.Analyze(Stream(3000, (1000, 1200)), failureUs: 1000 * Ms, windowEndUs: 3000 * Ms);
        Assert.Equal(204, result.GapMs); // 996 → 1200
        Assert.Equal(996 * Ms, result.GapStartUs);
        Assert.Equal(1200 * Ms, result.GapEndUs);
        Assert.Equal(50, result.RequestsLost); // 1000, 1004, …, 1196
        Assert.True(result.Recovered);
        Assert.Equal(200, result.RecoveredAfterMs);
    }

    [Fact]
    public void AnswersJustAfterTheFailureDoNotHideTheOutageThatFollows()
    {
        // A graceful stop: the node still answers for 10 ms after SIGTERM, then nobody until 1300.
        var result = GapAnalysis.Analyze(Stream(3000, (1012, 1300)), failureUs: 1000 * Ms, windowEndUs: 3000 * Ms);
        Assert.Equal(292, result.GapMs); // 1008 → 1300
        Assert.Equal(72, result.RequestsLost);
    }

    [Fact]
    public void NoOutageGivesTheStreamSpacing()
    {
        var result = GapAnalysis.Analyze(Stream(3000), failureUs: 1002 * Ms, windowEndUs: 3000 * Ms);
        Assert.Equal(4, result.GapMs);
        Assert.Equal(0, result.RequestsLost);
        Assert.True(result.Recovered);
    }

    [Fact]
    public void NeverRecoveredRunsToTheWindowEndAndSaysSo()
    {
        var result = GapAnalysis.Analyze(Stream(3000, (1000, 99999)), failureUs: 1000 * Ms, windowEndUs: 2500 * Ms);
        Assert.False(result.Recovered);
        Assert.Equal(1504, result.GapMs); // 996 → window end 2500
        Assert.Equal(376, result.RequestsLost); // 1000 … 2500 every 4 ms
    }

    [Fact]
    public void RequestsAfterTheWindowEndAreIgnored()
    {
        var result = GapAnalysis.Analyze(Stream(3000, (1000, 1100), (2600, 2700)), failureUs: 1000 * Ms, windowEndUs: 2500 * Ms);
        Assert.Equal(104, result.GapMs);
        Assert.Equal(25, result.RequestsLost);
    }
}
