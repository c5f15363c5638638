namespace Tandem.Server.Admin;

/// <summary>One entry of the status history: a membership, ownership, address or fencing transition.</summary>
/// <param name="Kind">kebab-case: <c>peer-up</c>, <c>peer-down</c>, <c>link-up</c>, <c>link-down</c>, <c>quorum-gained</c>,
/// <c>quorum-lost</c>, <c>address-acquired</c>, <c>address-released</c>, <c>health-changed</c>, <c>fence-started</c>,
/// <c>fence-succeeded</c>, <c>fence-failed</c>, <c>address-added</c>, <c>address-removed</c>, <c>address-failed</c>.</param>
/// <param name="Subject">The member, <c>member link N</c>, or the service address it is about; empty for quorum.</param>
public sealed record HistoryEntry(DateTimeOffset At, string Kind, string Subject, string Reason);

/// <summary>
/// The last <see cref="Capacity"/> cluster transitions, newest last, for <c>tandem cluster status</c>.
/// Written from the membership thread and the address worker (a few per failover, never per packet).
/// </summary>
public sealed class ClusterHistory
{
    public const int Capacity = 50;

    private readonly HistoryEntry[] _ring = new HistoryEntry[Capacity];
    private readonly Lock _gate = new();
    private int _next;
    private int _count;

    public void Add(HistoryEntry entry)
    {
        lock (_gate)
        {
            _ring[_next] = entry;
            _next = (_next + 1) % Capacity;
            _count = Math.Min(_count + 1, Capacity);
        }
    }

    /// <summary>Oldest first.</summary>
    public IReadOnlyList<HistoryEntry> Snapshot()
    {
        lock (_gate)
        {
            var result = new HistoryEntry[_count];
            for (var i = 0; i < _count; i++)
            {
                result[i] = _ring[(_next - _count + i + Capacity) % Capacity];
            }

            return result;
        }
    }

    /// <summary><c>PeerDown</c> → <c>peer-down</c>.</summary>
    public static string KebabCase(string name)
    {
        var text = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                text.Append('-');
            }

            text.Append(char.ToLowerInvariant(name[i]));
        }

        return text.ToString();
    }
}
