using Tandem.Lab.Failover;

namespace Tandem.Cluster.Tests.LabFailover;

public sealed class StatisticsTests
{
    [Theory]
    [InlineData(new double[] { 1, 2, 3, 4 }, 50, 2.5)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 95, 3.85)] // numpy.percentile([1,2,3,4], 95)
    [InlineData(new double[] { 10, 20, 30, 40, 50 }, 50, 30)]
    [InlineData(new double[] { 10, 20, 30, 40, 50 }, 25, 20)]
    [InlineData(new double[] { 10, 20, 30, 40, 50 }, 100, 50)]
    [InlineData(new double[] { 7 }, 95, 7)]
    public void PercentileInterpolatesBetweenClosestRanks(double[] values, double percent, double expected)
        => Assert.Equal(expected, Statistics.Percentile(values, percent), 9);

    [Fact]
    public void P95OfOneToTwentyIsNineteenPointOhFive()
    {
        var values = Enumerable.Range(1, 20).Select(i => (double)i).ToList();
        Assert.Equal(19.05, Statistics.Percentile(values, 95), 9);
        Assert.Equal(10.5, Statistics.Median(values), 9);
    }

    [Fact]
    public void SummaryHasEveryStatistic()
    {
        var summary = Statistics.Summarize([200, 180, 210, 1000, 190])!;
        Assert.Equal(5, summary.N);
        Assert.Equal(200, summary.Median);
        Assert.Equal(356, summary.Mean, 9);
        Assert.Equal(180, summary.Min);
        Assert.Equal(1000, summary.Max);
        Assert.Equal(842, summary.P95, 9); // rank 3.8: 210 + 0.8 × (1000 − 210)
        Assert.Null(Statistics.Summarize([]));
    }

    [Fact]
    public void PercentileRejectsNoValuesAndOutOfRangePercent()
    {
        Assert.Throws<ArgumentException>(() => Statistics.Percentile([], 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.Percentile([1], 101));
    }

    [Fact]
    public void ThesisDowntimeIsTestTimeNotCoveredBySuccessfulIterations()
    {
        // 100 s of test, 15 good calls three at a time of 5.34 s each: 100 − 15 / 3 × 5.34 = 73.3 s.
        Assert.Equal(73.3, Statistics.ThesisDowntime(100, 15, 3, 5.34), 9);
        Assert.Equal(0, Statistics.ThesisDowntime(10, 5, 1, 5.193));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.ThesisDowntime(10, 1, 0, 5));
    }
}
