namespace Tandem.Server.Calls;

/// <summary>How a call ended, for call detail records.</summary>
public enum CallDisposition
{
    Answered,
    Busy,
    NoAnswer,
    Failed,
    Cancelled,
}

/// <summary>
/// The proxy's view of a call, reported to the dialog tracker as it happens. All are called from
/// the proxy's hot path: implementations must not block (queue disk writes).
/// </summary>
public interface ICallEvents
{
    /// <summary>A new dialog-creating INVITE was accepted for routing.</summary>
    void CallStarted(string callId, string fromTag, string caller, string callee, DateTimeOffset at);

    /// <summary>A provisional response with a To tag created an early dialog.</summary>
    void CallRinging(string callId, string fromTag, string toTag, DateTimeOffset at);

    /// <summary>A 2xx to the initial INVITE was forwarded to the caller.</summary>
    void CallAnswered(string callId, string fromTag, string toTag, DateTimeOffset at);

    /// <summary>The initial INVITE ended without a 2xx (final status sent to the caller; 487 after CANCEL).</summary>
    void CallFailed(string callId, string fromTag, int finalStatus, bool cancelled, DateTimeOffset at);

    /// <summary>
    /// A BYE within a confirmed dialog was answered with 2xx (or 481: the dialog is gone anyway).
    /// Either party may hang up, so the tags come from the BYE and may be in either order relative
    /// to the INVITE's (match on the unordered pair).
    /// </summary>
    void CallEnded(string callId, string fromTag, string toTag, int byeStatus, DateTimeOffset at);
}
