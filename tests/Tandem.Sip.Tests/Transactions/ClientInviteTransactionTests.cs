using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

public sealed class ClientInviteTransactionTests : IDisposable
{
    private readonly TransactionHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void Udp_timer_a_doubles_without_cap_until_timer_b()
    {
        var tx = _h.ClientInvite(reliable: false);
        tx.Start();
        _h.AdvanceMs(60_000);

        // Intervals 500, 1000, 2000, 4000, 8000, 16000 ms: past T2, unlike Timer E.
        Assert.Equal([500.0, 1500, 3500, 7500, 15500, 31500], _h.Sink.TimesOf("retransmit-request"));
        var timeout = Assert.Single(_h.Sink.Of("timeout"));
        Assert.Equal((32_000.0, SipTimer.B), (timeout.AtMs, timeout.Timer!.Value));
        Assert.Equal([32_000.0], _h.Sink.TimesOf("terminated"));
        Assert.Equal(0, _h.Table.Count);
    }

    [Fact]
    public void Tcp_has_no_timer_a_but_timer_b_still_times_out()
    {
        var tx = _h.ClientInvite(reliable: true);
        tx.Start();
        _h.AdvanceMs(60_000);

        Assert.Empty(_h.Sink.TimesOf("retransmit-request"));
        Assert.Equal([32_000.0], _h.Sink.TimesOf("timeout"));
        Assert.Equal(TransactionState.Terminated, tx.State);
    }

    [Fact]
    public void Provisional_stops_timer_a_and_timer_b()
    {
        var tx = _h.ClientInvite(reliable: false);
        tx.Start();
        _h.AdvanceToMs(700);
        tx.OnResponseReceived(180, "180");
        tx.OnResponseReceived(183, "183");
        _h.AdvanceMs(120_000);

        Assert.Equal(TransactionState.Proceeding, tx.State);
        Assert.Equal([500.0], _h.Sink.TimesOf("retransmit-request"));
        Assert.Equal([180, 183], _h.Sink.Of("tu-response").Select(e => e.Status));
        Assert.Empty(_h.Sink.Of("timeout"));
        Assert.Equal(0, _h.Wheel.Count);
    }

    [Fact]
    public void Failure_response_over_udp_sends_ack_absorbs_retransmissions_and_waits_timer_d()
    {
        var tx = _h.ClientInvite(reliable: false);
        tx.Start();
        _h.AdvanceToMs(100);
        tx.OnResponseReceived(180, "180");
        _h.AdvanceToMs(1000);
        tx.OnResponseReceived(486, "486");
        _h.AdvanceToMs(1500);
        tx.OnResponseReceived(486, "486");
        _h.AdvanceMs(60_000);

        Assert.Equal(TransactionState.Terminated, tx.State);
        Assert.Equal([1000.0, 1500], _h.Sink.TimesOf("send-ack"));
        Assert.Equal([180, 486], _h.Sink.Of("tu-response").Select(e => e.Status));
        Assert.Equal([33_000.0], _h.Sink.TimesOf("terminated"));
        Assert.Empty(_h.Sink.Of("timeout"));
    }

    [Fact]
    public void Failure_response_over_tcp_sends_ack_and_terminates_at_once()
    {
        var tx = _h.ClientInvite(reliable: true);
        tx.Start();
        tx.OnResponseReceived(603, "603");

        Assert.Equal(["send-request", "send-ack", "tu-response", "terminated"], _h.Sink.Events.Select(e => e.Kind));
        Assert.Equal(TransactionState.Terminated, tx.State);
    }

    [Fact]
    public void Success_response_enters_accepted_passes_every_2xx_and_ends_on_timer_m()
    {
        var tx = _h.ClientInvite(reliable: false);
        tx.Start();
        _h.AdvanceToMs(200);
        tx.OnResponseReceived(200, "200 first branch");
        Assert.Equal(TransactionState.Accepted, tx.State);

        _h.AdvanceToMs(700);
        tx.OnResponseReceived(200, "200 second branch"); // RFC 6026 §7.2: forked 2xx reach the TU
        tx.OnResponseReceived(486, "486 late");
        _h.AdvanceMs(60_000);

        Assert.Equal(["200 first branch", "200 second branch"], _h.Sink.Of("tu-response").Select(e => e.Message));
        Assert.Empty(_h.Sink.Of("send-ack")); // the TU acknowledges 2xx, not the transaction
        Assert.Empty(_h.Sink.Of("retransmit-request"));
        Assert.Equal([32_200.0], _h.Sink.TimesOf("terminated"));
    }

    [Fact]
    public void Responses_after_termination_are_ignored()
    {
        var tx = _h.ClientInvite(reliable: true);
        tx.Start();
        tx.OnResponseReceived(500, "500");
        var before = _h.Sink.Events.Count;
        tx.OnResponseReceived(200, "200");
        tx.OnTransportError();

        Assert.Equal(before, _h.Sink.Events.Count);
    }
}
