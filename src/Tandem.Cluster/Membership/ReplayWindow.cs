namespace Tandem.Cluster.Membership;

public enum ReplayVerdict
{
    Accepted,

    /// <summary>This sequence number of this incarnation was accepted before.</summary>
    Replayed,

    /// <summary>More than <see cref="ReplayWindow.Size"/> packets older than the newest one.</summary>
    TooOld,

    /// <summary>An incarnation that is retired, or a new one whose send time is not after the current one's.</summary>
    StaleIncarnation,
}

/// <summary>
/// Replay protection for one sender, checked after the HMAC. Within an incarnation, sequence
/// numbers are accepted once each, inside a sliding window of 64 (packets of several links may
/// arrive out of order). A new incarnation (the sender restarted) is accepted only if its send time,
/// on the sender's own clock, is later than the last packet of the current one — a recorded packet
/// of an old run is refused — or after the current incarnation has been silent for
/// <see cref="IncarnationTakeover"/> (so a sender whose clock stepped back is not locked out forever).
/// Retired incarnations are never accepted again.
/// </summary>
public sealed class ReplayWindow
{
    public const int Size = 64;

    public static readonly TimeSpan IncarnationTakeover = TimeSpan.FromSeconds(30);

    private readonly ulong[] _retired = new ulong[8];
    private int _retiredNext;
    private bool _any;
    private ulong _incarnation;
    private ulong _highest;
    private ulong _bitmap; // bit k: sequence _highest - k was accepted
    private long _lastSentAtMs;
    private TimeSpan _lastAccepted;

    public ulong Incarnation => _incarnation;

    public ReplayVerdict Check(ulong incarnation, ulong sequence, long sentAtUnixMs, TimeSpan now)
    {
        if (!_any || incarnation != _incarnation)
        {
            if (_any)
            {
                if (Array.IndexOf(_retired, incarnation) >= 0 && incarnation != 0)
                {
                    return ReplayVerdict.StaleIncarnation;
                }

                if (sentAtUnixMs <= _lastSentAtMs && now - _lastAccepted < IncarnationTakeover)
                {
                    return ReplayVerdict.StaleIncarnation;
                }

                _retired[_retiredNext] = _incarnation;
                _retiredNext = (_retiredNext + 1) % _retired.Length;
            }

            _any = true;
            _incarnation = incarnation;
            _highest = sequence;
            _bitmap = 1;
            _lastSentAtMs = sentAtUnixMs;
            _lastAccepted = now;
            return ReplayVerdict.Accepted;
        }

        if (sequence > _highest)
        {
            var shift = sequence - _highest;
            _bitmap = shift >= Size ? 1 : (_bitmap << (int)shift) | 1;
            _highest = sequence;
            Accept(sentAtUnixMs, now);
            return ReplayVerdict.Accepted;
        }

        var age = _highest - sequence;
        if (age >= Size)
        {
            return ReplayVerdict.TooOld;
        }

        var bit = 1UL << (int)age;
        if ((_bitmap & bit) != 0)
        {
            return ReplayVerdict.Replayed;
        }

        _bitmap |= bit;
        Accept(sentAtUnixMs, now);
        return ReplayVerdict.Accepted;
    }

    private void Accept(long sentAtUnixMs, TimeSpan now)
    {
        _lastSentAtMs = Math.Max(_lastSentAtMs, sentAtUnixMs);
        _lastAccepted = now;
    }
}
