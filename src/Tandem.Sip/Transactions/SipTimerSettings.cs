namespace Tandem.Sip.Transactions;

/// <summary>
/// RFC 3261 §17 timer values (Table 4 in Appendix A). Passed to each transaction, never global, so a
/// node can run different values per transport or in tests. Derived timers follow T1/T2/T4.
/// </summary>
public sealed record SipTimerSettings
{
    public static SipTimerSettings Default { get; } = new();

    /// <summary>RTT estimate (§17.1.1.1): 500 ms by default.</summary>
    public TimeSpan T1 { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Maximum retransmit interval for non-INVITE requests and INVITE responses: 4 s.</summary>
    public TimeSpan T2 { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Maximum time a message stays in the network: 5 s.</summary>
    public TimeSpan T4 { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Timer D on unreliable transports; RFC 3261 §17.1.1.2 requires at least 32 s.</summary>
    public TimeSpan TimerDUnreliable { get; init; } = TimeSpan.FromSeconds(32);

    // 64*T1 bounds every transaction (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2; RFC 6026 §8.11).
    public TimeSpan TimerB => 64 * T1;

    public TimeSpan TimerF => 64 * T1;

    public TimeSpan TimerH => 64 * T1;

    public TimeSpan TimerL => 64 * T1;

    public TimeSpan TimerM => 64 * T1;

    // On reliable transports nothing is retransmitted, so there is nothing to wait out: these are zero.
    public TimeSpan TimerD(bool reliable) => reliable ? TimeSpan.Zero : TimerDUnreliable;

    public TimeSpan TimerI(bool reliable) => reliable ? TimeSpan.Zero : T4;

    public TimeSpan TimerJ(bool reliable) => reliable ? TimeSpan.Zero : 64 * T1;

    public TimeSpan TimerK(bool reliable) => reliable ? TimeSpan.Zero : T4;

    /// <summary>Throws when values are inconsistent; call when loading configuration.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(T1, TimeSpan.Zero, nameof(T1));
        ArgumentOutOfRangeException.ThrowIfLessThan(T2, T1, nameof(T2));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(T4, TimeSpan.Zero, nameof(T4));
        ArgumentOutOfRangeException.ThrowIfLessThan(TimerDUnreliable, TimeSpan.FromSeconds(32), nameof(TimerDUnreliable));
    }
}
