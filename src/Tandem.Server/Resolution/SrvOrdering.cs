using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Resolution;

/// <summary>
/// RFC 2782 target selection: priorities ascending; within one priority a weighted random
/// order, each record drawn with probability proportional to its weight. Records whose target
/// is the root (".") announce that the service is not offered and are dropped.
/// </summary>
public static class SrvOrdering
{
    public static List<DnsSrvRecord> Order(IEnumerable<DnsSrvRecord> records, Random random)
    {
        var byPriority = records.Where(r => r.Target.Length > 0).OrderBy(r => r.Priority).ToList();
        var ordered = new List<DnsSrvRecord>(byPriority.Count);
        var start = 0;
        while (start < byPriority.Count)
        {
            var end = start;
            while (end < byPriority.Count && byPriority[end].Priority == byPriority[start].Priority)
            {
                end++;
            }

            // "Arrange all SRV RRs (that have not been ordered yet) in any order, except that all
            // those with weight 0 are placed at the beginning of the list" — so a zero weight is
            // chosen only when the draw is 0 and it is at the front, i.e. rarely.
            var group = byPriority.GetRange(start, end - start).OrderBy(r => r.Weight == 0 ? 0 : 1).ToList();
            while (group.Count > 0)
            {
                long total = 0;
                foreach (var record in group)
                {
                    total += record.Weight;
                }

                var draw = random.NextInt64(total + 1); // uniform in [0, total]
                long running = 0;
                var chosen = group.Count - 1;
                for (var i = 0; i < group.Count; i++)
                {
                    running += group[i].Weight;
                    if (running >= draw)
                    {
                        chosen = i;
                        break;
                    }
                }

                ordered.Add(group[chosen]);
                group.RemoveAt(chosen);
            }

            start = end;
        }

        return ordered;
    }
}
