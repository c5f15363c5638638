using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

public sealed class ServerNonInviteTransactionTests : IDisposable
{
    private readonly TransactionHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void Retransmission_in_trying_is_discarded()
    {
        var tx = _h.ServerNonInvite(reliable: false);
        tx.OnRequestRetransmission();

        Assert.Empty(_h.Sink.Events);
        Assert.Equal(TransactionState.Trying, tx.State);
    }

    [Fact]
    public void Final_over_udp_is_resent_for_retransmissions_until_timer_j()
    {
        var tx = _h.ServerNonInvite(reliable: false);
        _h.AdvanceToMs(50);
        Assert.True(tx.SendResponse(200, "200"));
        Assert.Equal(TransactionState.Completed, tx.State);
        _h.AdvanceToMs(550);
        tx.OnRequestRetransmission();
        _h.AdvanceMs(40_000);
        tx.OnRequestRetransmission(); // after Terminated: nothing

        var resent = Assert.Single(_h.Sink.Of("resend-response"));
        Assert.Equal((550.0, "200"), (resent.AtMs, resent.Message));
        Assert.Equal([32_050.0], _h.Sink.TimesOf("terminated"));
        Assert.Equal(0, _h.Table.Count);
    }

    [Fact]
    public void Final_over_tcp_terminates_at_once()
    {
        var tx = _h.ServerNonInvite(reliable: true);
        tx.SendResponse(200, "200");

        Assert.Equal(["send-response", "terminated"], _h.Sink.Events.Select(e => e.Kind));
        Assert.Equal(0, _h.Wheel.Count);
    }

    [Fact]
    public void Provisional_moves_to_proceeding_and_is_resent_and_later_finals_are_refused()
    {
        var tx = _h.ServerNonInvite(reliable: false);
        tx.SendResponse(100, "100");
        Assert.Equal(TransactionState.Proceeding, tx.State);
        tx.OnRequestRetransmission();
        Assert.True(tx.SendResponse(202, "202"));
        Assert.False(tx.SendResponse(500, "500"));

        Assert.Equal("100", Assert.Single(_h.Sink.Of("resend-response")).Message);
        Assert.Equal(["100", "202"], _h.Sink.Of("send-response").Select(e => e.Message));
        Assert.Equal("202", tx.LastResponse);
    }

    [Fact]
    public void Sink_may_report_a_send_failure_from_inside_the_send_callback()
    {
        var tx = _h.ServerNonInvite(reliable: false);
        _h.Sink.OnSendResponse = t => t.OnTransportError(); // the machine's lock is already released

        tx.SendResponse(200, "200");

        Assert.Equal(["send-response", "transport-failed", "terminated"], _h.Sink.Events.Select(e => e.Kind));
        Assert.Equal(TransactionState.Terminated, tx.State);
    }

    [Fact]
    public void Abort_terminates_without_informing_the_tu()
    {
        var tx = _h.ServerNonInvite(reliable: false);
        tx.SendResponse(200, "200");
        tx.Abort();
        tx.Abort();

        Assert.Equal(["send-response", "terminated"], _h.Sink.Events.Select(e => e.Kind));
        Assert.Equal(0, _h.Wheel.Count);
    }
}
