using Microsoft.Extensions.Logging.Abstractions;
using Tandem.Server.Core;

namespace Tandem.Server.Tests.Core;

public sealed class IdleHeapCompactorTests
{
    private const long Mb = 1024 * 1024;

    [Theory]
    [InlineData(200 * Mb, 1 * Mb, 0, 64_000, true)] // burst over, transactions drained
    [InlineData(200 * Mb, 1 * Mb, 3_000, 64_000, true)] // drained to under a sixteenth of the peak
    [InlineData(200 * Mb, 1 * Mb, 10_000, 64_000, false)] // Timer J still holds the burst's answers
    [InlineData(200 * Mb, 40 * Mb, 0, 64_000, false)] // still under load
    [InlineData(8 * Mb, 1 * Mb, 0, 64_000, false)] // too little garbage to be worth a pause
    [InlineData(200 * Mb, 1 * Mb, 60, 100, true)] // a handful of transactions counts as drained
    [InlineData(200 * Mb, 1 * Mb, 900, 900, false)] // steady traffic: the GC's own collections do it
    public void Compacts_only_after_a_burst_is_over(long sinceCompaction, long thisInterval, int transactions, int peak, bool expected)
        => Assert.Equal(expected, IdleHeapCompactor.ShouldCompact(sinceCompaction, thisInterval, transactions, peak));

    [Theory]
    [InlineData(true)] // standalone: blocking compaction
    [InlineData(false)] // cluster node: background collection, no long pause
    public void A_burst_of_garbage_is_collected_once_the_allocation_stops(bool compact)
    {
        using var compactor = new IdleHeapCompactor(() => 0, NullLogger.Instance, time: null, compact);
        var gen2Before = GC.CollectionCount(2);
        var keep = 0L;
        for (var i = 0; i < 80; i++)
        {
            keep += new byte[1024 * 1024].Length; // garbage: 80 MB allocated since the compactor started
        }

        // The interval that saw the burst is not quiet.
        Assert.False(compactor.Sample());
        Assert.Equal(0, compactor.Compactions);

        // Quiet intervals follow (other tests in this process may allocate meanwhile; bounded retries).
        var compacted = false;
        for (var attempt = 0; attempt < 50 && !compacted; attempt++)
        {
            Thread.Sleep(100);
            compacted = compactor.Sample();
        }

        Assert.True(compacted, $"no compaction after {keep / Mb} MB of garbage and quiet samples");
        Assert.Equal(1, compactor.Compactions);
        if (compact)
        {
            Assert.True(GC.CollectionCount(2) > gen2Before);
        }
    }
}
