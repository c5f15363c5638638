namespace Tandem.Storage;

/// <summary>
/// One registered contact of an address of record (RFC 3261 §10). Expiry is absolute so that a
/// binding loaded after a restart keeps its remaining lifetime.
/// </summary>
public sealed record Binding
{
    /// <summary>Canonical address of record, e.g. "sip:alice@example.com".</summary>
    public required string Aor { get; init; }

    /// <summary>The Contact URI exactly as registered.</summary>
    public required string ContactUri { get; init; }

    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>q-value in thousandths (0..1000); 1000 when the contact gave none.</summary>
    public int QValue { get; init; } = 1000;

    public required string CallId { get; init; }

    public required uint CSeq { get; init; }

    /// <summary>RFC 5626 +sip.instance value, if the UA sent one.</summary>
    public string? InstanceId { get; init; }

    /// <summary>RFC 5626 reg-id, if the UA sent one.</summary>
    public int? RegId { get; init; }

    /// <summary>Where the REGISTER came from ("ip:port", IPv6 in brackets): the NAT-aware target.</summary>
    public required string SourceAddress { get; init; }

    /// <summary>Local socket that received it ("ip:port"), so replies leave from the same address.</summary>
    public string? LocalAddress { get; init; }

    /// <summary>"UDP" or "TCP" (later TLS/WS).</summary>
    public required string Transport { get; init; }

    public string? UserAgent { get; init; }

    /// <summary>Other Contact header parameters as received (e.g. ";expires=..;+sip.instance=.."), for listing.</summary>
    public string? ContactParameters { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>
/// Persistence of registrar bindings. The registrar keeps the live location service in memory
/// and reports every change here; implementations decide when the change reaches the disk
/// (write-through: before the returned task completes; write-behind: batched shortly after).
/// </summary>
public interface IBindingStore : IAsyncDisposable
{
    Task<IReadOnlyList<Binding>> LoadAllAsync(CancellationToken cancellationToken = default);

    /// <summary>Bindings of one AoR, or all when <paramref name="aor"/> is null.</summary>
    Task<IReadOnlyList<Binding>> ListAsync(string? aor, CancellationToken cancellationToken = default);

    /// <summary>Insert or replace the binding identified by (Aor, ContactUri).</summary>
    ValueTask UpsertAsync(Binding binding, CancellationToken cancellationToken = default);

    ValueTask DeleteAsync(string aor, string contactUri, CancellationToken cancellationToken = default);

    /// <summary>Drops bindings whose expiry is at or before <paramref name="now"/>.</summary>
    ValueTask DeleteExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Waits until every change reported so far is on disk.</summary>
    Task FlushAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Callers waiting for their changes to be committed (write-through); 0 for stores that never
    /// make a caller wait. The registrar answers 503 while this is at its bound rather than queue
    /// ever more REGISTERs behind a disk that cannot keep up.
    /// </summary>
    int WaitingForCommit => 0;
}
