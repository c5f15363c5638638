using Tandem.Sip.Transactions;

namespace Tandem.Sip.Tests.Transactions;

public sealed class ClientNonInviteTransactionTests : IDisposable
{
    private readonly TransactionHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void Udp_retransmits_on_timer_e_doubling_to_t2_and_times_out_on_timer_f()
    {
        var tx = _h.ClientNonInvite(reliable: false);
        tx.Start();
        _h.AdvanceMs(40_000);

        Assert.Equal([0.0], _h.Sink.TimesOf("send-request"));
        Assert.Equal(
            [500.0, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
            _h.Sink.TimesOf("retransmit-request"));
        var timeout = Assert.Single(_h.Sink.Of("timeout"));
        Assert.Equal((32_000.0, SipTimer.F), (timeout.AtMs, timeout.Timer!.Value));
        Assert.Equal([32_000.0], _h.Sink.TimesOf("terminated"));
        Assert.Equal(TransactionState.Terminated, tx.State);
        Assert.Equal(0, _h.Table.Count);
        Assert.Equal(0, _h.Wheel.Count);
    }

    [Fact]
    public void Tcp_never_retransmits_and_times_out_on_timer_f()
    {
        var tx = _h.ClientNonInvite(reliable: true);
        tx.Start();
        _h.AdvanceMs(40_000);

        Assert.Empty(_h.Sink.TimesOf("retransmit-request"));
        Assert.Equal([32_000.0], _h.Sink.TimesOf("timeout"));
        Assert.Equal(TransactionState.Terminated, tx.State);
    }

    [Fact]
    public void Provisional_moves_to_proceeding_and_retransmissions_continue_every_t2()
    {
        var tx = _h.ClientNonInvite(reliable: false);
        tx.Start();
        _h.AdvanceToMs(600);
        tx.OnResponseReceived(100, "100");
        _h.AdvanceToMs(10_000);

        Assert.Equal(TransactionState.Proceeding, tx.State);
        Assert.Equal("100", Assert.Single(_h.Sink.Of("tu-response")).Message);
        // E already armed for 1500 keeps that; its firing in Proceeding resets it to T2 (§17.1.2.2).
        Assert.Equal([500.0, 1500, 5500, 9500], _h.Sink.TimesOf("retransmit-request"));
    }

    [Fact]
    public void Final_response_completes_stops_retransmissions_and_timer_k_terminates_after_t4()
    {
        var tx = _h.ClientNonInvite(reliable: false);
        tx.Start();
        _h.AdvanceToMs(700);
        tx.OnResponseReceived(200, "200");
        _h.AdvanceToMs(2000);
        tx.OnResponseReceived(200, "200 again");
        _h.AdvanceToMs(40_000);

        Assert.Equal([500.0], _h.Sink.TimesOf("retransmit-request"));
        var delivered = Assert.Single(_h.Sink.Of("tu-response"));
        Assert.Equal((200, "200"), (delivered.Status, delivered.Message));
        Assert.Empty(_h.Sink.Of("timeout"));
        Assert.Equal([5700.0], _h.Sink.TimesOf("terminated"));
    }

    [Fact]
    public void Final_response_over_tcp_terminates_at_once()
    {
        var tx = _h.ClientNonInvite(reliable: true);
        tx.Start();
        tx.OnResponseReceived(404, "404");

        Assert.Equal(TransactionState.Terminated, tx.State);
        Assert.Equal(["send-request", "tu-response", "terminated"], _h.Sink.Events.Select(e => e.Kind));
        Assert.Equal(0, _h.Wheel.Count);
    }

    [Fact]
    public void Transport_error_informs_tu_and_terminates()
    {
        var tx = _h.ClientNonInvite(reliable: false);
        tx.Start();
        tx.OnTransportError();
        _h.AdvanceMs(40_000);

        Assert.Equal(["send-request", "transport-failed", "terminated"], _h.Sink.Events.Select(e => e.Kind));
    }

    [Fact]
    public void Firing_a_timer_by_hand_cancels_its_wheel_entry()
    {
        var tx = _h.ClientNonInvite(reliable: false);
        tx.Start();
        Assert.True(tx.OnTimer(SipTimer.E));
        Assert.False(tx.OnTimer(SipTimer.K)); // not armed in Trying
        _h.AdvanceToMs(1200);

        // Hand firing at 0 re-armed E for 1000 ms; the original 500 ms entry must not also fire.
        Assert.Equal([0.0, 1000], _h.Sink.TimesOf("retransmit-request"));
    }

    [Fact]
    public void Start_twice_is_refused()
    {
        var tx = _h.ClientNonInvite(reliable: true);
        tx.Start();
        Assert.Throws<InvalidOperationException>(tx.Start);
        Assert.Single(_h.Sink.Of("send-request"));
    }
}
