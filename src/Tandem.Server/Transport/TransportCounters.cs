namespace Tandem.Server.Transport;

/// <summary>Counters of the transport layer, read by logs and (later) metrics.</summary>
public sealed class TransportCounters
{
    private long _datagramsReceived;
    private long _streamMessagesReceived;
    private long _bytesReceived;
    private long _sendFailures;
    private long _framingErrors;
    private long _keepAlives;
    private long _connectionsAccepted;
    private long _connectionsClosedIdle;

    public long DatagramsReceived => Interlocked.Read(ref _datagramsReceived);

    public long StreamMessagesReceived => Interlocked.Read(ref _streamMessagesReceived);

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public long SendFailures => Interlocked.Read(ref _sendFailures);

    public long FramingErrors => Interlocked.Read(ref _framingErrors);

    public long KeepAlives => Interlocked.Read(ref _keepAlives);

    public long ConnectionsAccepted => Interlocked.Read(ref _connectionsAccepted);

    public long ConnectionsClosedIdle => Interlocked.Read(ref _connectionsClosedIdle);

    internal void Datagram(int bytes)
    {
        Interlocked.Increment(ref _datagramsReceived);
        Interlocked.Add(ref _bytesReceived, bytes);
    }

    internal void StreamMessage(int bytes)
    {
        Interlocked.Increment(ref _streamMessagesReceived);
        Interlocked.Add(ref _bytesReceived, bytes);
    }

    internal void SendFailed() => Interlocked.Increment(ref _sendFailures);

    internal void FramingError() => Interlocked.Increment(ref _framingErrors);

    internal void KeepAlive() => Interlocked.Increment(ref _keepAlives);

    internal void ConnectionAccepted() => Interlocked.Increment(ref _connectionsAccepted);

    internal void ConnectionClosedIdle() => Interlocked.Increment(ref _connectionsClosedIdle);
}
