namespace Tandem.Lab.Failover;

/// <summary>One request of the dense stream: when it was sent and when its final answer came (null: never), in Unix µs.</summary>
public readonly record struct ProbeSample(long SentUs, long? AnsweredUs)
{
    public bool Answered => AnsweredUs is not null;
}

/// <param name="GapMs">The service gap: the longest stretch between the send times of two consecutive answered
/// requests, from the last one answered before the failure to the end of the window.</param>
/// <param name="GapStartUs">Send time of the last answered request before the gap.</param>
/// <param name="GapEndUs">Send time of the first answered request after the gap (the window end if none).</param>
/// <param name="RequestsLost">Requests sent from the last answered one before the failure to the window end that got no answer.</param>
/// <param name="RequestsSent">Requests sent in that same stretch.</param>
/// <param name="Recovered">False when nothing sent after the gap began was answered by the window end (the gap is then a lower bound).</param>
/// <param name="RecoveredAfterMs">From the failure to the send time of the first answered request after the gap.</param>
public sealed record GapResult(double GapMs, long GapStartUs, long GapEndUs, int RequestsLost, int RequestsSent, bool Recovered, double RecoveredAfterMs);

/// <summary>The service gap of one run, computed only from the timestamps of the dense request stream.</summary>
public static class GapAnalysis
{
    /// <summary>
    /// Finds the gap around a failure at <paramref name="failureUs"/>. <paramref name="samples"/> must be ordered by send
    /// time; only those sent up to <paramref name="windowEndUs"/> count (pick it at least one answer timeout before the
    /// newest sample, so late answers are not taken for losses). The reference point is the last request sent before the
    /// failure that was answered; from there the longest stretch between consecutive answered requests is the gap (a
    /// graceful stop may answer a few requests after the signal before the real outage; those do not hide it). If nothing
    /// answered follows it, the gap runs to the window end and <see cref="GapResult.Recovered"/> is false.
    /// </summary>
    public static GapResult Analyze(IReadOnlyList<ProbeSample> samples, long failureUs, long windowEndUs)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var reference = failureUs;
        var startIndex = 0;
        for (var i = 0; i < samples.Count && samples[i].SentUs < failureUs; i++)
        {
            if (samples[i].Answered)
            {
                reference = samples[i].SentUs;
                startIndex = i;
            }
        }

        long gapStart = reference, gapEnd = reference, previous = reference;
        var lost = 0;
        var sent = 0;
        var recovered = true;
        for (var i = startIndex; i < samples.Count && samples[i].SentUs <= windowEndUs; i++)
        {
            var sample = samples[i];
            if (sample.SentUs < reference)
            {
                continue;
            }
            sent++;
            if (!sample.Answered)
            {
                lost++;
                continue;
            }
            if (sample.SentUs - previous > gapEnd - gapStart)
            {
                gapStart = previous;
                gapEnd = sample.SentUs;
            }
            previous = sample.SentUs;
        }

        // Still down at the window end (never recovered, or down again): that open stretch counts too.
        if (windowEndUs - previous > gapEnd - gapStart && lost > 0 && (samples.Count == 0 || !LastInWindowAnswered(samples, windowEndUs)))
        {
            gapStart = previous;
            gapEnd = windowEndUs;
            recovered = false;
        }
        return new GapResult((gapEnd - gapStart) / 1000.0, gapStart, gapEnd, lost, sent, recovered, (gapEnd - failureUs) / 1000.0);
    }

    private static bool LastInWindowAnswered(IReadOnlyList<ProbeSample> samples, long windowEndUs)
    {
        for (var i = samples.Count - 1; i >= 0; i--)
        {
            if (samples[i].SentUs <= windowEndUs)
            {
                return samples[i].Answered;
            }
        }
        return false;
    }
}
