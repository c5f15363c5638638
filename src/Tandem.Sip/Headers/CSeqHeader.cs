using Tandem.Sip.Messages;
using Tandem.Sip.Text;

namespace Tandem.Sip.Headers;

/// <summary>CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16); the number must stay below 2^31 (§8.1.1.5).</summary>
public readonly record struct CSeqHeader(uint Number, SipMethod Method, string MethodName)
{
    public static bool TryParse(ReadOnlySpan<char> value, out CSeqHeader cseq, out string? error)
    {
        cseq = default;
        error = null;
        var s = SipChars.Trim(value);
        var space = 0;
        while (space < s.Length && !SipChars.IsWhitespace(s[space]))
        {
            space++;
        }

        if (!SipChars.TryParseUInt(s[..space], int.MaxValue, out var number))
        {
            error = "CSeq number is missing or larger than 2^31-1";
            return false;
        }

        var method = SipChars.Trim(s[space..]);
        if (space == s.Length || !SipChars.IsToken(method))
        {
            error = "CSeq method is missing or not a token";
            return false;
        }

        var id = SipMethods.Lookup(method);
        cseq = new CSeqHeader((uint)number, id, id == SipMethod.Extension ? method.ToString() : SipMethods.Name(id));
        return true;
    }
}
