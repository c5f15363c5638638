using Microsoft.Extensions.Logging;

namespace Tandem.Server.Core;

/// <summary>
/// Returns the memory of a finished burst to the operating system. A registration storm (every
/// phone re-registering after a failover) leaves its completed transactions, kept 32 s for Timer J,
/// dead in generation 2; the GC only looks there again when generation 2 grows, which on a quiet
/// server may take hours, so the process would keep the burst's peak size. Once the burst is over
/// (little allocated during the last interval and the server transactions drained) this runs one
/// compacting full collection that also decommits the freed memory, like the JVM's periodic GC.
/// It never runs under load: then the GC's own collections do the work.
/// </summary>
/// <remarks>
/// A compaction stops every thread while it copies the live heap (tens of milliseconds per 100,000
/// bindings on an idle core, more on a busy machine). A cluster node must not stall its heartbeats
/// for that long (failure detection is 120 ms by default), so there <c>compact</c> is false and the
/// collection runs in the background instead: it frees the dead objects for reuse without pausing,
/// but returns less memory to the operating system.
/// </remarks>
public sealed class IdleHeapCompactor : IDisposable
{
    /// <summary>How often the allocation and transaction counts are sampled.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>Less than this allocated since the last compaction is not worth a blocking collection.</summary>
    public const long MinAllocatedSinceCompaction = 16L * 1024 * 1024;

    /// <summary>At most this allocated during one interval counts as quiet (~0.8 MB/s).</summary>
    public const long QuietAllocationPerInterval = 4L * 1024 * 1024;

    /// <summary>This many live server transactions or fewer count as drained, whatever the peak.</summary>
    public const int DrainedTransactions = 64;

    private readonly Func<int> _transactionCount;
    private readonly ILogger _logger;
    private readonly ITimer? _timer;
    private readonly Lock _gate = new();
    private long _allocatedAtCompaction;
    private long _allocatedAtSample;
    private readonly bool _compact;
    private int _peakTransactions;

    /// <param name="transactionCount">Live server transactions (the burst's completed ones included).</param>
    /// <param name="time">Schedules the samples; null: the caller calls <see cref="Sample"/> itself.</param>
    /// <param name="compact">Blocking compaction (standalone node) rather than a background collection (cluster node).</param>
    public IdleHeapCompactor(Func<int> transactionCount, ILogger logger, TimeProvider? time, bool compact = true)
    {
        _compact = compact;
        _transactionCount = transactionCount;
        _logger = logger;
        _allocatedAtCompaction = _allocatedAtSample = GC.GetTotalAllocatedBytes(precise: false);
        _timer = time?.CreateTimer(_ => Sample(), null, Interval, Interval);
    }

    /// <summary>Compactions run so far.</summary>
    public int Compactions { get; private set; }

    /// <summary>
    /// The policy: compact once enough was allocated since the last compaction, the last interval
    /// was quiet, and the server transactions fell to a sixteenth of their peak (or to a handful).
    /// </summary>
    public static bool ShouldCompact(long allocatedSinceCompaction, long allocatedThisInterval, int transactions, int peakTransactions)
        => allocatedSinceCompaction >= MinAllocatedSinceCompaction
            && allocatedThisInterval <= QuietAllocationPerInterval
            && transactions <= Math.Max(DrainedTransactions, peakTransactions / 16);

    /// <summary>Takes one sample and compacts if <see cref="ShouldCompact"/> says so; true if it did.</summary>
    public bool Sample()
    {
        lock (_gate)
        {
            var allocated = GC.GetTotalAllocatedBytes(precise: false);
            var transactions = _transactionCount();
            _peakTransactions = Math.Max(_peakTransactions, transactions);
            var thisInterval = allocated - _allocatedAtSample;
            _allocatedAtSample = allocated;
            if (!ShouldCompact(allocated - _allocatedAtCompaction, thisInterval, transactions, _peakTransactions))
            {
                return false;
            }

            var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();

            if (_compact)
            {
                // Aggressive: blocking, compacting, and gives back every free region it can.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                var after = GC.GetGCMemoryInfo().TotalCommittedBytes;
                ServerLog.HeapCompacted(_logger, before / (1024 * 1024), after / (1024 * 1024), System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            else
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: false);
                ServerLog.HeapCollectedInBackground(_logger, before / (1024 * 1024));
            }

            _allocatedAtCompaction = _allocatedAtSample = GC.GetTotalAllocatedBytes(precise: false);
            _peakTransactions = transactions;
            Compactions++;
            return true;
        }
    }

    public void Dispose() => _timer?.Dispose();
}
