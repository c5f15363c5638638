using Tandem.Sip.Timers;

namespace Tandem.Sip.Tests.Timers;

// Functional checks at scale; deliberately no timing assertions.
public sealed class TimerWheelLoadTests
{
    private const int TimerCount = 100_000;

    [Fact]
    public void Hundred_thousand_timers_scheduled_half_cancelled_the_rest_fire_on_time()
    {
        var time = new FakeTimeProvider();
        using var wheel = new TimerWheel(time, TimeSpan.FromMilliseconds(10), bucketCount: 1024);
        var recorder = new FiringRecorder(time, TimerCount);
        var handles = new TimerHandle[TimerCount];
        for (var i = 0; i < TimerCount; i++)
        {
            // Spread over 0..40 s so many entries wrap the 10.24 s wheel several times.
            handles[i] = wheel.Schedule(recorder, i, TimeSpan.FromMilliseconds(i % 40_000));
        }

        Assert.Equal(TimerCount, wheel.Count);

        var cancelled = 0;
        for (var i = 0; i < TimerCount; i += 2)
        {
            cancelled += handles[i].Cancel() ? 1 : 0;
        }

        Assert.Equal(TimerCount / 2, cancelled);
        Assert.Equal(TimerCount / 2, wheel.Count);

        for (var t = 0; t < 41_000; t += 10)
        {
            time.AdvanceMs(10);
            wheel.Advance();
        }

        Assert.Equal(0, wheel.Count);
        for (var i = 0; i < TimerCount; i++)
        {
            var expectFired = i % 2 == 1;
            Assert.Equal(expectFired ? 1 : 0, recorder.Fired[i]);
            if (expectFired)
            {
                var due = i % 40_000;
                Assert.InRange(recorder.FiredAtMs[i], due, due + 10);
            }
        }
    }

    [Fact]
    public void Scheduling_and_cancelling_from_several_threads_keeps_the_count_consistent()
    {
        var time = new FakeTimeProvider();
        using var wheel = new TimerWheel(time, TimeSpan.FromMilliseconds(10));
        const int PerThread = 25_000;
        var recorder = new FiringRecorder(time, PerThread * 4);

        Parallel.For(0, 4, thread =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                var id = (thread * PerThread) + i;
                var handle = wheel.Schedule(recorder, id, TimeSpan.FromMilliseconds(1 + (id % 5000)));
                if (i % 2 == 0)
                {
                    Assert.True(handle.Cancel());
                }
            }
        });

        Assert.Equal(PerThread * 2, wheel.Count);
        time.AdvanceMs(6000);
        Assert.Equal(PerThread * 2, wheel.Advance());
        Assert.Equal(0, wheel.Count);
    }

    private sealed class FiringRecorder(FakeTimeProvider time, int count) : ITimerCallback
    {
        public int[] Fired { get; } = new int[count];

        public double[] FiredAtMs { get; } = new double[count];

        public void OnTimer(long tag)
        {
            Fired[tag]++;
            FiredAtMs[tag] = time.ElapsedMs;
        }
    }
}
