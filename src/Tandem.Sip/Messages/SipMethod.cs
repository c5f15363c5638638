namespace Tandem.Sip.Messages;

/// <summary>Methods the stack knows; any other token is <see cref="Extension"/> with its name kept.</summary>
public enum SipMethod : byte
{
    Extension,
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
}

public static class SipMethods
{
    /// <summary>Methods are case-sensitive (RFC 3261 §7.1), so only upper-case names match.</summary>
    public static SipMethod Lookup(ReadOnlySpan<char> name) => name switch
    {
        "INVITE" => SipMethod.Invite,
        "ACK" => SipMethod.Ack,
        "BYE" => SipMethod.Bye,
        "CANCEL" => SipMethod.Cancel,
        "REGISTER" => SipMethod.Register,
        "OPTIONS" => SipMethod.Options,
        "INFO" => SipMethod.Info,
        "UPDATE" => SipMethod.Update,
        "PRACK" => SipMethod.Prack,
        "SUBSCRIBE" => SipMethod.Subscribe,
        "NOTIFY" => SipMethod.Notify,
        "REFER" => SipMethod.Refer,
        "MESSAGE" => SipMethod.Message,
        "PUBLISH" => SipMethod.Publish,
        _ => SipMethod.Extension,
    };

    public static string Name(SipMethod method) => method switch
    {
        SipMethod.Invite => "INVITE",
        SipMethod.Ack => "ACK",
        SipMethod.Bye => "BYE",
        SipMethod.Cancel => "CANCEL",
        SipMethod.Register => "REGISTER",
        SipMethod.Options => "OPTIONS",
        SipMethod.Info => "INFO",
        SipMethod.Update => "UPDATE",
        SipMethod.Prack => "PRACK",
        SipMethod.Subscribe => "SUBSCRIBE",
        SipMethod.Notify => "NOTIFY",
        SipMethod.Refer => "REFER",
        SipMethod.Message => "MESSAGE",
        SipMethod.Publish => "PUBLISH",
        _ => throw new ArgumentOutOfRangeException(nameof(method)),
    };
}
