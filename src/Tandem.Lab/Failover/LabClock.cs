using System.Diagnostics;

namespace Tandem.Lab.Failover;

/// <summary>
/// Unix time in microseconds, monotonic within the process (wall clock read once, then the stopwatch), so the
/// prober's, the injector's and SIPp's timestamps (SIPp's [timestamp] is gettimeofday) share one axis.
/// </summary>
public static class LabClock
{
    private static readonly long BaseUs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
    private static readonly long BaseTicks = Stopwatch.GetTimestamp();

    public static long NowUs() => BaseUs + (long)((Stopwatch.GetTimestamp() - BaseTicks) * 1_000_000.0 / Stopwatch.Frequency);

    /// <summary>A <see cref="Stopwatch.GetTimestamp"/> value on this clock.</summary>
    public static long FromTimestamp(long timestamp) => BaseUs + (long)((timestamp - BaseTicks) * 1_000_000.0 / Stopwatch.Frequency);

    public static DateTimeOffset ToDateTime(long us) => DateTimeOffset.FromUnixTimeMilliseconds(us / 1000);
}
