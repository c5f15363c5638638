using Tandem.Sip.Timers;
using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

// Functional race checks: several receive threads feeding one machine at once.
public sealed class TransactionConcurrencyTests
{
    [Fact]
    public void Racing_final_responses_and_retransmissions_send_one_final_and_terminate_once()
    {
        var time = new FakeTimeProvider();
        using var wheel = new TimerWheel(time, TimeSpan.FromMilliseconds(10));
        var sink = new CountingSink();
        var context = new TransactionContext<string>(wheel, SipTimerSettings.Default, sink);

        for (var round = 0; round < 200; round++)
        {
            Assert.True(TransactionKey.TryCreateServer($"z9hG4bK{round}", "h", "INVITE", out var key));
            var tx = new ServerInviteTransaction<string>(context, key, "INVITE", isReliable: true);
            var accepted = 0;
            Parallel.For(0, 8, i =>
            {
                tx.OnRequestRetransmission();
                if (tx.SendResponse(400 + i, "final"))
                {
                    Interlocked.Increment(ref accepted);
                }

                tx.OnAck("ACK");
            });

            Assert.Equal(1, accepted);
            Assert.Equal(TransactionState.Terminated, tx.State);
        }

        Assert.Equal(200, sink.FirstSends);
        Assert.Equal(200, sink.Terminations);
    }

    private sealed class CountingSink : ITransactionSink<string>
    {
        private int _firstSends;
        private int _terminations;

        public int FirstSends => Volatile.Read(ref _firstSends);

        public int Terminations => Volatile.Read(ref _terminations);

        public void SendResponse(ServerTransaction<string> transaction, string response, bool isRetransmission)
        {
            if (!isRetransmission)
            {
                Interlocked.Increment(ref _firstSends);
            }
        }

        public void Terminated(Transaction<string> transaction) => Interlocked.Increment(ref _terminations);

        public void SendRequest(ClientTransaction<string> transaction, string request, bool isRetransmission)
        {
        }

        public void SendAck(ClientInviteTransaction<string> transaction, string finalResponse)
        {
        }

        public void ResponseReceived(ClientTransaction<string> transaction, int statusCode, string response)
        {
        }

        public void AckReceived(ServerInviteTransaction<string> transaction, string ack)
        {
        }

        public void TimedOut(Transaction<string> transaction, SipTimer timer)
        {
        }

        public void TransportFailed(Transaction<string> transaction)
        {
        }
    }
}
