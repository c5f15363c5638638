namespace Tandem.Sip.Transactions;

/// <summary>Transaction timers by their RFC 3261 §17 / Table 4 letter (L and M from RFC 6026 §8.11).</summary>
public enum SipTimer
{
    /// <summary>INVITE request retransmit, client (§17.1.1.2).</summary>
    A,

    /// <summary>INVITE transaction timeout, client.</summary>
    B,

    /// <summary>Wait for response retransmits after a non-2xx final, INVITE client.</summary>
    D,

    /// <summary>Non-INVITE request retransmit, client (§17.1.2.2).</summary>
    E,

    /// <summary>Non-INVITE transaction timeout, client.</summary>
    F,

    /// <summary>INVITE non-2xx final response retransmit, server (§17.2.1).</summary>
    G,

    /// <summary>Wait for ACK, INVITE server.</summary>
    H,

    /// <summary>Absorb ACK retransmits, INVITE server.</summary>
    I,

    /// <summary>Absorb request retransmits, non-INVITE server (§17.2.2).</summary>
    J,

    /// <summary>Absorb response retransmits, non-INVITE client.</summary>
    K,

    /// <summary>Absorb INVITE retransmits after a 2xx, INVITE server (RFC 6026 §7.1).</summary>
    L,

    /// <summary>Absorb 2xx retransmits and forks, INVITE client (RFC 6026 §7.2).</summary>
    M,
}
