using Tandem.Sip.Timers;
using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

internal sealed record SinkEvent(double AtMs, string Kind, string? Message, int Status = 0, SipTimer? Timer = null);

/// <summary>Fake clock + real timer wheel + a sink that records what the machines asked for, and when.</summary>
internal sealed class TransactionHarness : IDisposable
{
    public TransactionHarness(SipTimerSettings? timers = null)
    {
        Wheel = new TimerWheel(Time, TimeSpan.FromMilliseconds(10));
        Wheel.Start();
        Sink = new RecordingSink(Time, Table);
        Context = new TransactionContext<string>(Wheel, timers ?? SipTimerSettings.Default, Sink);
    }

    public FakeTimeProvider Time { get; } = new();

    public TimerWheel Wheel { get; }

    public RecordingSink Sink { get; }

    public TransactionTable<Transaction<string>> Table { get; } = new(100);

    public TransactionContext<string> Context { get; }

    public ClientNonInviteTransaction<string> ClientNonInvite(bool reliable)
        => Added(new ClientNonInviteTransaction<string>(Context, TransactionKey.ForClient("z9hG4bKc1", "OPTIONS"), "OPTIONS", reliable));

    public ClientInviteTransaction<string> ClientInvite(bool reliable)
        => Added(new ClientInviteTransaction<string>(Context, TransactionKey.ForClient("z9hG4bKc2", "INVITE"), "INVITE", reliable));

    public ServerInviteTransaction<string> ServerInvite(bool reliable)
        => Added(new ServerInviteTransaction<string>(Context, ServerKey("INVITE"), "INVITE", reliable));

    public ServerNonInviteTransaction<string> ServerNonInvite(bool reliable)
        => Added(new ServerNonInviteTransaction<string>(Context, ServerKey("BYE"), "BYE", reliable));

    public void AdvanceMs(double milliseconds) => Time.AdvanceMs(milliseconds);

    public void AdvanceToMs(double milliseconds) => Time.AdvanceMs(milliseconds - Time.ElapsedMs);

    public void Dispose() => Wheel.Dispose();

    private static TransactionKey ServerKey(string method)
    {
        Assert.True(TransactionKey.TryCreateServer("z9hG4bKs1", "client.example:5060", method, out var key));
        return key;
    }

    private T Added<T>(T transaction)
        where T : Transaction<string>
    {
        Assert.Equal(TransactionAddResult.Added, Table.TryAdd(transaction.Key, transaction));
        return transaction;
    }
}

internal sealed class RecordingSink(FakeTimeProvider time, TransactionTable<Transaction<string>> table) : ITransactionSink<string>
{
    public List<SinkEvent> Events { get; } = [];

    /// <summary>Runs inside the next SendResponse call, to test calling back into a machine.</summary>
    public Action<ServerTransaction<string>>? OnSendResponse { get; set; }

    public double[] TimesOf(string kind) => Events.Where(e => e.Kind == kind).Select(e => e.AtMs).ToArray();

    public SinkEvent[] Of(string kind) => Events.Where(e => e.Kind == kind).ToArray();

    public void SendRequest(ClientTransaction<string> transaction, string request, bool isRetransmission)
        => Record(isRetransmission ? "retransmit-request" : "send-request", request);

    public void SendAck(ClientInviteTransaction<string> transaction, string finalResponse)
        => Record("send-ack", finalResponse);

    public void SendResponse(ServerTransaction<string> transaction, string response, bool isRetransmission)
    {
        Record(isRetransmission ? "resend-response" : "send-response", response);
        var hook = OnSendResponse;
        OnSendResponse = null;
        hook?.Invoke(transaction);
    }

    public void ResponseReceived(ClientTransaction<string> transaction, int statusCode, string response)
        => Events.Add(new SinkEvent(time.ElapsedMs, "tu-response", response, statusCode));

    public void AckReceived(ServerInviteTransaction<string> transaction, string ack)
        => Record("tu-ack", ack);

    public void TimedOut(Transaction<string> transaction, SipTimer timer)
        => Events.Add(new SinkEvent(time.ElapsedMs, "timeout", null, Timer: timer));

    public void TransportFailed(Transaction<string> transaction)
        => Record("transport-failed", null);

    public void Terminated(Transaction<string> transaction)
    {
        Record("terminated", null);
        Assert.True(table.TryRemove(transaction.Key, transaction));
    }

    private void Record(string kind, string? message) => Events.Add(new SinkEvent(time.ElapsedMs, kind, message));
}
