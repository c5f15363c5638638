namespace Tandem.Server.Core;

/// <summary>Counters of the SIP core: what was received, rejected, dropped and answered.</summary>
public sealed class ServerCounters
{
    private long _requests;
    private long _responsesSent;
    private long _retransmissionsAbsorbed;
    private long _malformedDropped;
    private long _malformedAnswered;
    private long _strayResponses;
    private long _overloadRejected;

    public long Requests => Interlocked.Read(ref _requests);

    public long ResponsesSent => Interlocked.Read(ref _responsesSent);

    public long RetransmissionsAbsorbed => Interlocked.Read(ref _retransmissionsAbsorbed);

    public long MalformedDropped => Interlocked.Read(ref _malformedDropped);

    public long MalformedAnswered => Interlocked.Read(ref _malformedAnswered);

    public long StrayResponses => Interlocked.Read(ref _strayResponses);

    public long OverloadRejected => Interlocked.Read(ref _overloadRejected);

    internal void Request() => Interlocked.Increment(ref _requests);

    internal void ResponseSent() => Interlocked.Increment(ref _responsesSent);

    internal void RetransmissionAbsorbed() => Interlocked.Increment(ref _retransmissionsAbsorbed);

    internal void MalformedDrop() => Interlocked.Increment(ref _malformedDropped);

    internal void MalformedAnswer() => Interlocked.Increment(ref _malformedAnswered);

    internal void StrayResponse() => Interlocked.Increment(ref _strayResponses);

    internal void Overload() => Interlocked.Increment(ref _overloadRejected);
}
