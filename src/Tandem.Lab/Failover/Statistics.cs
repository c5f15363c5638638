namespace Tandem.Lab.Failover;

/// <summary>Summary of one metric over the runs of one system × failure case.</summary>
public sealed record MetricSummary(int N, double Median, double Mean, double Min, double Max, double P95, double Q1, double Q3);

/// <summary>Order statistics for the report and the box plot.</summary>
public static class Statistics
{
    /// <summary>
    /// The <paramref name="percent"/>th percentile by linear interpolation between the closest ranks
    /// (Hyndman–Fan type 7, what spreadsheets' PERCENTILE.INC and numpy's default compute): rank
    /// h = (n − 1)·p/100 in the sorted values, interpolated between ⌊h⌋ and ⌈h⌉.
    /// </summary>
    public static double Percentile(IReadOnlyList<double> values, double percent)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            throw new ArgumentException("no values", nameof(values));
        }
        if (percent is < 0 or > 100 || double.IsNaN(percent))
        {
            throw new ArgumentOutOfRangeException(nameof(percent), percent, "must be within 0-100");
        }
        var sorted = values.Order().ToArray();
        var rank = (sorted.Length - 1) * percent / 100.0;
        var lower = (int)Math.Floor(rank);
        var upper = (int)Math.Ceiling(rank);
        return sorted[lower] + ((rank - lower) * (sorted[upper] - sorted[lower]));
    }

    public static double Median(IReadOnlyList<double> values) => Percentile(values, 50);

    /// <summary>n, median, mean, min, max, p95 and quartiles; null when there are no values.</summary>
    public static MetricSummary? Summarize(IEnumerable<double> values)
    {
        var list = values.ToList();
        if (list.Count == 0)
        {
            return null;
        }
        return new MetricSummary(list.Count, Median(list), list.Average(), list.Min(), list.Max(), Percentile(list, 95), Percentile(list, 25), Percentile(list, 75));
    }

    /// <summary>
    /// The theses' downtime (digest 000 §5.4): all test time not accounted for by successful iterations,
    /// <c>duration − (successful / concurrency) × iteration time</c>, where the iteration time is a nominal
    /// length of one good iteration. Includes SIPp's retransmission waits, as theirs did; never below zero.
    /// </summary>
    public static double ThesisDowntime(double testDurationSeconds, int successfulIterations, int concurrency, double iterationSeconds)
    {
        if (concurrency <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(concurrency), concurrency, "must be positive");
        }
        return Math.Max(0, testDurationSeconds - ((double)successfulIterations / concurrency * iterationSeconds));
    }
}
