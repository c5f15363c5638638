namespace Tandem.Sip.Messages;

/// <summary>
/// Why a message was rejected. A request whose Via could be read is answered with
/// <see cref="StatusCode"/> and the reason phrase; anything else is dropped and counted.
/// </summary>
public readonly record struct SipParseError(int StatusCode, string Reason)
{
    public static SipParseError BadRequest(string reason) => new(400, reason);

    public static SipParseError VersionNotSupported => new(505, "Version Not Supported");

    public bool IsEmpty => StatusCode == 0;
}
