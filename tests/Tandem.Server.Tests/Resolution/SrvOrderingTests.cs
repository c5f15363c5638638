using Tandem.Server.Resolution;
using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

public class SrvOrderingTests
{
    private static DnsSrvRecord Srv(string target, ushort priority, ushort weight) =>
        new("_sip._udp.example.test", 60, priority, weight, 5060, target);

    /// <summary>Returns scripted draws, so a test can name the exact order it expects.</summary>
    private sealed class ScriptedRandom(params long[] draws) : Random
    {
        private int _next;

        public override long NextInt64(long maxValue)
        {
            var draw = draws[_next++];
            Assert.InRange(draw, 0, maxValue - 1);
            return draw;
        }
    }

    [Fact]
    public void Lower_priority_values_come_first()
    {
        var ordered = SrvOrdering.Order([Srv("c", 30, 0), Srv("a", 10, 0), Srv("b", 20, 0)], new Random(1));

        Assert.Equal(["a", "b", "c"], ordered.Select(r => r.Target));
    }

    [Fact]
    public void The_draw_picks_the_first_record_whose_running_weight_reaches_it()
    {
        // Weights 10 and 20 (sum 30): a draw of 15 passes "a" (10) and lands on "b" (30);
        // then only "a" is left (sum 10) and any draw picks it.
        var ordered = SrvOrdering.Order([Srv("a", 10, 10), Srv("b", 10, 20)], new ScriptedRandom(15, 3));

        Assert.Equal(["b", "a"], ordered.Select(r => r.Target));
    }

    [Fact]
    public void Weights_set_the_odds_within_a_priority()
    {
        var random = new Random(2782);
        var heavyFirst = 0;
        for (var i = 0; i < 10_000; i++)
        {
            if (SrvOrdering.Order([Srv("light", 1, 10), Srv("heavy", 1, 90)], random)[0].Target == "heavy")
            {
                heavyFirst++;
            }
        }

        Assert.InRange(heavyFirst, 8_700, 9_300);
    }

    [Fact]
    public void A_zero_weight_goes_first_only_on_a_draw_of_zero()
    {
        var random = new Random(7);
        var zeroFirst = 0;
        for (var i = 0; i < 11_000; i++)
        {
            if (SrvOrdering.Order([Srv("weighted", 1, 10), Srv("zero", 1, 0)], random)[0].Target == "zero")
            {
                zeroFirst++;
            }
        }

        // Draw uniform in [0, 10]: probability 1/11.
        Assert.InRange(zeroFirst, 700, 1_300);
    }

    [Fact]
    public void All_zero_weights_keep_every_record()
    {
        var ordered = SrvOrdering.Order([Srv("a", 1, 0), Srv("b", 1, 0), Srv("c", 1, 0)], new Random(3));

        Assert.Equal(["a", "b", "c"], ordered.Select(r => r.Target).Order());
    }

    [Fact]
    public void The_root_target_means_not_offered_and_is_dropped()
    {
        Assert.Empty(SrvOrdering.Order([Srv("", 0, 0)], new Random(1)));
    }
}
