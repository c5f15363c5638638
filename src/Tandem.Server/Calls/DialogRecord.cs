using Tandem.Storage;

namespace Tandem.Server.Calls;

/// <summary>Where a call is in its life, for accounting.</summary>
public enum DialogState
{
    /// <summary>The INVITE was routed and no final response has reached the caller yet (with or without early dialogs).</summary>
    Early,

    /// <summary>A 2xx reached the caller: the dialog with that 2xx's To tag is established.</summary>
    Confirmed,

    /// <summary>The call is over and its CDR has been written; only ever seen in change notifications and imports.</summary>
    Terminated,
}

/// <summary>
/// One call as the dialog tracker knows it: an immutable, versioned snapshot with everything another
/// node needs to take the call over (match its BYE, close its CDR). Every change the tracker makes
/// produces a new record with <see cref="Version"/> one higher; a node applying replicated records
/// keeps the highest version of each <see cref="Id"/>, and a <see cref="DialogState.Terminated"/>
/// record ends the call wherever it is applied.
/// </summary>
public sealed record DialogRecord
{
    /// <summary>Unique across nodes and restarts (a version 7 GUID): becomes the CDR's id.</summary>
    public required string Id { get; init; }

    /// <summary>1 when the call starts, one more on every change.</summary>
    public required long Version { get; init; }

    public required DialogState State { get; init; }

    public required string CallId { get; init; }

    /// <summary>The caller's tag (From tag of the initial INVITE): with the Call-ID, the call's key.</summary>
    public required string FromTag { get; init; }

    /// <summary>The To tag of the confirmed dialog (the first 2xx's); null before an answer.</summary>
    public string? ToTag { get; init; }

    /// <summary>To tags of the early dialogs seen so far (several when the INVITE forked), oldest first, at most 16.</summary>
    public IReadOnlyList<string> EarlyToTags { get; init; } = [];

    public required string Caller { get; init; }

    public required string Callee { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>The first provisional response with a To tag.</summary>
    public DateTimeOffset? RingingAt { get; init; }

    public DateTimeOffset? AnsweredAt { get; init; }

    /// <summary>Set when <see cref="State"/> is <see cref="DialogState.Terminated"/>.</summary>
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>Final status of the INVITE (200 when answered); set when terminated.</summary>
    public int? FinalStatus { get; init; }

    /// <summary>Set when terminated.</summary>
    public CallDisposition? Disposition { get; init; }

    /// <summary>Terminated by the maximum call (or setup) duration rather than by signalling.</summary>
    public bool TimedOut { get; init; }

    /// <summary>The node that made this version.</summary>
    public required string Node { get; init; }

    /// <summary>The CDR of a terminated call.</summary>
    public CallDetailRecord ToCdr()
    {
        if (State != DialogState.Terminated || EndedAt is not { } ended || FinalStatus is not { } status || Disposition is not { } disposition)
        {
            throw new InvalidOperationException($"dialog {Id} is {State}; only a terminated dialog has a CDR");
        }

        return new CallDetailRecord
        {
            Id = Id,
            CallId = CallId,
            FromTag = FromTag,
            ToTag = ToTag ?? (EarlyToTags.Count > 0 ? EarlyToTags[0] : null),
            Caller = Caller,
            Callee = Callee,
            StartedAt = StartedAt,
            AnsweredAt = AnsweredAt,
            EndedAt = ended,
            Duration = AnsweredAt is { } answered && ended > answered ? ended - answered : TimeSpan.Zero,
            FinalStatus = status,
            Disposition = ToStored(disposition),
            TimedOut = TimedOut,
            Node = Node,
        };
    }

    internal static CdrDisposition ToStored(CallDisposition disposition) => disposition switch
    {
        CallDisposition.Answered => CdrDisposition.Answered,
        CallDisposition.Busy => CdrDisposition.Busy,
        CallDisposition.NoAnswer => CdrDisposition.NoAnswer,
        CallDisposition.Cancelled => CdrDisposition.Cancelled,
        _ => CdrDisposition.Failed,
    };
}
