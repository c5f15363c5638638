namespace Tandem.Storage;

/// <summary>How a call ended, as stored in a call detail record (column <c>disposition</c>).</summary>
public enum CdrDisposition
{
    /// <summary>A 2xx reached the caller; the call ended with a BYE (or hit the maximum call duration).</summary>
    Answered,

    /// <summary>486 Busy Here or 600 Busy Everywhere.</summary>
    Busy,

    /// <summary>Nobody answered: 408, 480 or 487 without a CANCEL from the caller (a ring timeout).</summary>
    NoAnswer,

    /// <summary>Any other final status.</summary>
    Failed,

    /// <summary>The caller sent CANCEL before an answer.</summary>
    Cancelled,
}

/// <summary>
/// One call detail record: one per call (per initial INVITE that was routed), written when the call
/// ends. Times are UTC with millisecond precision once stored.
/// </summary>
public sealed record CallDetailRecord
{
    /// <summary>
    /// Identifier of the call, unique across nodes (the dialog tracker assigns it when the call
    /// starts). Appending a record whose id is already stored does nothing, so a record replicated
    /// twice is kept once.
    /// </summary>
    public required string Id { get; init; }

    public required string CallId { get; init; }

    /// <summary>The caller's tag (From tag of the initial INVITE).</summary>
    public required string FromTag { get; init; }

    /// <summary>The callee's tag of the answered dialog; for an unanswered call, the first early dialog's, if any.</summary>
    public string? ToTag { get; init; }

    /// <summary>The From URI of the initial INVITE.</summary>
    public required string Caller { get; init; }

    /// <summary>The Request-URI (or To URI) the caller dialled.</summary>
    public required string Callee { get; init; }

    /// <summary>When the INVITE was accepted for routing.</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>When the 2xx was forwarded to the caller; null when the call was not answered.</summary>
    public DateTimeOffset? AnsweredAt { get; init; }

    /// <summary>When the BYE was answered, the final non-2xx status was sent, or the call timed out.</summary>
    public required DateTimeOffset EndedAt { get; init; }

    /// <summary>Talk time: <see cref="AnsweredAt"/> to <see cref="EndedAt"/>; zero when unanswered.</summary>
    public required TimeSpan Duration { get; init; }

    /// <summary>Final status of the initial INVITE as sent to the caller (200 when answered).</summary>
    public required int FinalStatus { get; init; }

    public required CdrDisposition Disposition { get; init; }

    /// <summary>
    /// The call never ended by signalling: it was closed by the tracker's maximum call duration
    /// (answered calls) or maximum setup time (unanswered ones).
    /// </summary>
    public bool TimedOut { get; init; }

    /// <summary>The node that closed the call and wrote this record (the record's origin for replication).</summary>
    public string Node { get; init; } = "";
}

/// <summary>Filters for <see cref="ICdrStore.ListAsync"/>. Results are newest first (by start time).</summary>
public sealed record CdrQuery
{
    /// <summary>Calls that started at or after this time.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Calls that started before this time.</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>Case-insensitive (ASCII) substring of the caller URI.</summary>
    public string? Caller { get; init; }

    /// <summary>Case-insensitive (ASCII) substring of the callee URI.</summary>
    public string? Callee { get; init; }

    /// <summary>At most this many records (the newest); null for all.</summary>
    public int? Limit { get; init; }
}

/// <summary>
/// Call detail records. <see cref="AppendAsync"/> is called from the proxy's hot path (through the
/// dialog tracker): implementations used there must queue and return at once.
/// </summary>
public interface ICdrStore : IAsyncDisposable
{
    /// <summary>Adds a record; a record whose <see cref="CallDetailRecord.Id"/> is already stored is ignored.</summary>
    ValueTask AppendAsync(CallDetailRecord record, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<CallDetailRecord>> ListAsync(CdrQuery query, CancellationToken cancellationToken = default);

    /// <summary>Waits until every record appended so far is on disk.</summary>
    Task FlushAsync(CancellationToken cancellationToken = default);
}
