namespace Tandem.Sip.Messages;

/// <summary>
/// Where one header field sits in <see cref="SipMessage.Head"/>. Values are slices of the head text;
/// only a value that was folded over several lines gets its own normalised copy.
/// </summary>
internal readonly struct HeaderEntry(HeaderId id, int nameStart, int nameLength, int valueStart, int valueLength, string? unfolded)
{
    public readonly HeaderId Id = id;
    public readonly int NameStart = nameStart;
    public readonly int NameLength = nameLength;
    public readonly int ValueStart = valueStart;
    public readonly int ValueLength = valueLength;

    /// <summary>The value with each CRLF+WSP fold replaced by one space (RFC 3261 §7.3.1), when folded.</summary>
    public readonly string? Unfolded = unfolded;
}
