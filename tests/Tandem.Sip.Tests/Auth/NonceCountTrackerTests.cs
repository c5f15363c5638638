using Tandem.Sip.Auth;

namespace Tandem.Sip.Tests.Auth;

public class NonceCountTrackerTests
{
    private readonly ManualTimeProvider _time = new();

    [Fact]
    public void Increasing_counts_pass_and_repeated_or_lower_counts_are_replays()
    {
        var tracker = new NonceCountTracker(TimeSpan.FromSeconds(310), _time);

        Assert.True(tracker.TryAdvance("nonce-a", 1));
        Assert.False(tracker.TryAdvance("nonce-a", 1));
        Assert.True(tracker.TryAdvance("nonce-a", 2));
        Assert.True(tracker.TryAdvance("nonce-a", 5)); // gaps are allowed
        Assert.False(tracker.TryAdvance("nonce-a", 3));
        Assert.True(tracker.TryAdvance("nonce-b", 1)); // counts are per nonce
    }

    [Fact]
    public void Entries_survive_at_least_one_retention_period_then_are_dropped()
    {
        var tracker = new NonceCountTracker(TimeSpan.FromSeconds(100), _time);
        Assert.True(tracker.TryAdvance("old", 1));

        _time.Advance(TimeSpan.FromSeconds(99));
        Assert.True(tracker.TryAdvance("other", 1)); // no rotation yet
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(tracker.TryAdvance("old", 1)); // rotated into the previous generation, still known

        _time.Advance(TimeSpan.FromSeconds(250));
        Assert.True(tracker.TryAdvance("old", 1)); // both generations expired: forgotten
    }

    [Fact]
    public void Memory_is_bounded_by_capacity()
    {
        var tracker = new NonceCountTracker(TimeSpan.FromHours(1), _time, capacity: 1600);
        for (int i = 0; i < 100_000; i++)
        {
            Assert.True(tracker.TryAdvance($"nonce-{i}", 1));
        }
        Assert.InRange(tracker.Count, 1, 3200);
    }

    [Fact]
    public void Concurrent_use_never_accepts_a_count_twice()
    {
        var tracker = new NonceCountTracker(TimeSpan.FromMinutes(5), _time);
        var acceptedTimes = new int[2001];
        Parallel.For(0, 8, _ =>
        {
            for (uint nc = 1; nc <= 2000; nc++)
            {
                if (tracker.TryAdvance("shared", nc))
                {
                    Interlocked.Increment(ref acceptedTimes[nc]);
                }
            }
        });
        Assert.All(acceptedTimes, times => Assert.InRange(times, 0, 1));
        Assert.Equal(1, acceptedTimes[2000]); // the first attempt at the highest count always wins
        Assert.False(tracker.TryAdvance("shared", 2000));
    }
}
