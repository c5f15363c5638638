namespace Tandem.Sip.Messages;

/// <summary>Serialises a parsed message: start line, each header as "Name: value" (folds removed), body.</summary>
public static class SipMessageWriter
{
    public static void Write(SipMessage message, SipOutputBuffer output)
    {
        if (message.IsRequest)
        {
            output.Append(message.MethodName).Append(' ').Append(message.RequestUriText).Append(" SIP/2.0\r\n"u8);
        }
        else
        {
            output.Append("SIP/2.0 "u8).Append(message.StatusCode).Append(' ').Append(message.ReasonPhrase).AppendCrlf();
        }

        for (var i = 0; i < message.HeaderCount; i++)
        {
            output.Append(message.GetHeaderName(i)).Append(": "u8).Append(message.GetHeaderValue(i)).AppendCrlf();
        }

        output.AppendCrlf().Append(message.Body.Span);
    }

    public static byte[] ToBytes(SipMessage message)
    {
        using var output = new SipOutputBuffer();
        Write(message, output);
        return output.ToArray();
    }
}
