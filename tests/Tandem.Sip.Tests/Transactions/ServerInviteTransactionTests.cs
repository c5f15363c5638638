using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

public sealed class ServerInviteTransactionTests : IDisposable
{
    private readonly TransactionHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void Invite_retransmission_in_proceeding_resends_the_latest_provisional_only_once_there_is_one()
    {
        var tx = _h.ServerInvite(reliable: false);
        tx.OnRequestRetransmission();
        Assert.Empty(_h.Sink.Events);

        Assert.True(tx.SendResponse(100, "100"));
        Assert.True(tx.SendResponse(180, "180"));
        tx.OnRequestRetransmission();

        Assert.Equal("180", Assert.Single(_h.Sink.Of("resend-response")).Message);
        Assert.Equal(TransactionState.Proceeding, tx.State);
    }

    [Fact]
    public void Failure_over_udp_retransmits_on_timer_g_and_timer_h_reports_the_missing_ack()
    {
        var tx = _h.ServerInvite(reliable: false);
        _h.AdvanceToMs(1000);
        Assert.True(tx.SendResponse(486, "486"));
        _h.AdvanceMs(60_000);

        // G doubles from T1 and caps at T2 (§17.2.1); H = 64*T1 after the response was sent.
        Assert.Equal(
            [1500.0, 2500, 4500, 8500, 12500, 16500, 20500, 24500, 28500, 32500],
            _h.Sink.TimesOf("resend-response"));
        var timeout = Assert.Single(_h.Sink.Of("timeout"));
        Assert.Equal((33_000.0, SipTimer.H), (timeout.AtMs, timeout.Timer!.Value));
        Assert.Equal([33_000.0], _h.Sink.TimesOf("terminated"));
        Assert.Equal(0, _h.Table.Count);
    }

    [Fact]
    public void Ack_confirms_stops_timer_g_and_timer_i_terminates_after_t4()
    {
        var tx = _h.ServerInvite(reliable: false);
        tx.SendResponse(404, "404");
        _h.AdvanceToMs(700);
        tx.OnAck("ACK");
        Assert.Equal(TransactionState.Confirmed, tx.State);
        tx.OnAck("ACK again");
        tx.OnRequestRetransmission();
        _h.AdvanceMs(60_000);

        Assert.Equal([500.0], _h.Sink.TimesOf("resend-response"));
        Assert.Empty(_h.Sink.Of("tu-ack")); // an ACK for a failure is the transaction's own
        Assert.Empty(_h.Sink.Of("timeout"));
        Assert.Equal([5700.0], _h.Sink.TimesOf("terminated"));
    }

    [Fact]
    public void Invite_retransmission_in_completed_resends_the_final_response()
    {
        var tx = _h.ServerInvite(reliable: false);
        tx.SendResponse(180, "180");
        tx.SendResponse(480, "480");
        _h.AdvanceToMs(200);
        tx.OnRequestRetransmission();

        var resent = Assert.Single(_h.Sink.Of("resend-response"));
        Assert.Equal((200.0, "480"), (resent.AtMs, resent.Message));
    }

    [Fact]
    public void Tcp_failure_has_no_timer_g_and_ack_terminates_at_once()
    {
        var tx = _h.ServerInvite(reliable: true);
        tx.SendResponse(486, "486");
        _h.AdvanceToMs(10_000);
        tx.OnAck("ACK");

        Assert.Empty(_h.Sink.Of("resend-response"));
        Assert.Equal([10_000.0], _h.Sink.TimesOf("terminated"));
        Assert.Equal(TransactionState.Terminated, tx.State);
    }

    [Fact]
    public void Tcp_failure_without_ack_still_times_out_on_timer_h()
    {
        var tx = _h.ServerInvite(reliable: true);
        tx.SendResponse(486, "486");
        _h.AdvanceMs(40_000);

        Assert.Equal([32_000.0], _h.Sink.TimesOf("timeout"));
        Assert.Equal(TransactionState.Terminated, tx.State);
    }

    [Fact]
    public void Only_one_final_response_is_sent()
    {
        var tx = _h.ServerInvite(reliable: false);
        Assert.True(tx.SendResponse(486, "486"));
        Assert.False(tx.SendResponse(200, "200"));
        Assert.False(tx.SendResponse(180, "180"));

        Assert.Equal("486", Assert.Single(_h.Sink.Of("send-response")).Message);
    }

    [Fact]
    public void Success_enters_accepted_which_absorbs_invites_passes_tu_2xx_and_acks_and_ends_on_timer_l()
    {
        var tx = _h.ServerInvite(reliable: false);
        _h.AdvanceToMs(100);
        Assert.True(tx.SendResponse(200, "200"));
        Assert.Equal(TransactionState.Accepted, tx.State);

        tx.OnRequestRetransmission();
        _h.AdvanceToMs(600);
        Assert.True(tx.SendResponse(200, "200 again")); // TU retransmits its 2xx (§13.3.1.4)
        Assert.False(tx.SendResponse(486, "486"));
        tx.OnAck("ACK");
        _h.AdvanceMs(60_000);

        Assert.Equal(["200", "200 again"], _h.Sink.Of("send-response").Select(e => e.Message));
        Assert.Empty(_h.Sink.Of("resend-response"));
        Assert.Equal("ACK", Assert.Single(_h.Sink.Of("tu-ack")).Message);
        Assert.Equal([32_100.0], _h.Sink.TimesOf("terminated"));
    }

    [Fact]
    public void Transport_error_in_completed_informs_tu_and_terminates()
    {
        var tx = _h.ServerInvite(reliable: false);
        tx.SendResponse(500, "500");
        tx.OnTransportError();
        _h.AdvanceMs(60_000);

        Assert.Equal(["send-response", "transport-failed", "terminated"], _h.Sink.Events.Select(e => e.Kind));
    }

    [Fact]
    public void Transport_error_in_accepted_informs_tu_but_keeps_absorbing_until_timer_l()
    {
        var tx = _h.ServerInvite(reliable: false);
        tx.SendResponse(200, "200");
        tx.OnTransportError();

        Assert.Equal(TransactionState.Accepted, tx.State);
        Assert.Single(_h.Sink.Of("transport-failed"));
        _h.AdvanceMs(40_000);
        Assert.Equal([32_000.0], _h.Sink.TimesOf("terminated"));
    }
}
