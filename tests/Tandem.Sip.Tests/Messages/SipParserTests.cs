using System.Net;
using System.Text;
using Tandem.Sip.Messages;

namespace Tandem.Sip.Tests.Messages;

public class SipParserTests
{
    private static SipParseResult Parse(string text) => SipParser.Parse(Encoding.Latin1.GetBytes(text));

    private const string Register =
        "REGISTER sip:example.com SIP/2.0\r\n" +
        "v: SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bKabc\r\n" +
        "f: \"Alice\" <sip:alice@example.com>;tag=1\r\n" +
        "t: <sip:alice@example.com>\r\n" +
        "i: call-1@192.0.2.10\r\n" +
        "CSeq: 7 REGISTER\r\n" +
        "m: <sip:alice@192.0.2.10:5062>, <sip:alice@198.51.100.1>;q=0.1\r\n" +
        "l: 0\r\n\r\n";

    [Fact]
    public void Compact_names_resolve_to_their_headers()
    {
        var message = Parse(Register).Message!;
        Assert.Equal("call-1@192.0.2.10", message.CallId);
        Assert.Equal("Alice", message.From!.DisplayName);
        Assert.Equal(1, message.ViaCount);
        var contacts = new List<string>();
        foreach (var contact in message.GetHeaderValues(HeaderId.Contact))
        {
            contacts.Add(contact.ToString());
        }

        Assert.Equal(["<sip:alice@192.0.2.10:5062>", "<sip:alice@198.51.100.1>;q=0.1"], contacts);
    }

    [Fact]
    public void Response_adds_received_and_rport_to_the_top_Via()
    {
        var request = Parse(Register).Message!;
        var response = new SipResponse(request, 200, "OK") { ToTag = "xyz" };
        var text = Encoding.ASCII.GetString(response.ToBytes(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 40000)));
        Assert.Contains("Via: SIP/2.0/UDP 192.0.2.10:5062;rport=40000;branch=z9hG4bKabc;received=203.0.113.7\r\n", text, StringComparison.Ordinal);
        Assert.Contains("To: <sip:alice@example.com>;tag=xyz\r\n", text, StringComparison.Ordinal);
        Assert.Contains("CSeq: 7 REGISTER\r\n", text, StringComparison.Ordinal);

        var parsed = SipParser.Parse(Encoding.ASCII.GetBytes(text)).Message!;
        Assert.Equal(200, parsed.StatusCode);
        Assert.Equal("40000", Tandem.Sip.Uris.SipParameters.Get(parsed.TopVia.Parameters, "rport"));
    }

    [Fact]
    public void No_received_is_added_when_the_sender_matches_sent_by_and_no_rport()
    {
        var request = Parse(Register.Replace(";rport", string.Empty, StringComparison.Ordinal)).Message!;
        var text = Encoding.ASCII.GetString(new SipResponse(request, 200, "OK").ToBytes(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 5062)));
        Assert.DoesNotContain("received=", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\r\n\r\n")]
    [InlineData("garbage")]
    [InlineData("SIP/2.0 abc OK\r\n\r\n")]
    [InlineData("\0\0\0\0")]
    public void Garbage_is_refused_without_throwing(string text)
    {
        var result = Parse(text);
        Assert.False(result.IsSuccess);
        Assert.False(result.CanRespond);
    }

    [Fact]
    public void Too_many_headers_are_refused()
    {
        var text = new StringBuilder(Register[..^2]);
        for (var i = 0; i < 300; i++)
        {
            text.Append("X-").Append(i).Append(": y\r\n");
        }

        text.Append("\r\n");
        var result = Parse(text.ToString());
        Assert.Equal(400, result.Error.StatusCode);
        Assert.Contains("too many", result.Error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Oversized_messages_are_dropped()
    {
        var result = SipParser.Parse(new byte[70000], new SipParserLimits { MaxMessageSize = 65535 });
        Assert.Null(result.Message);
        Assert.Equal(513, result.Error.StatusCode);
    }

    [Fact]
    public void Every_truncation_of_a_valid_message_is_handled()
    {
        var bytes = Encoding.ASCII.GetBytes(Register);
        for (var i = 0; i < bytes.Length; i++)
        {
            // Must never throw, whatever it decides.
            _ = SipParser.Parse(bytes.AsSpan(0, i));
        }
    }

    [Fact]
    public void Random_mutations_never_throw()
    {
        var random = new Random(4475);
        var original = Encoding.ASCII.GetBytes(Register);
        for (var round = 0; round < 5000; round++)
        {
            var bytes = (byte[])original.Clone();
            for (var flips = random.Next(1, 8); flips > 0; flips--)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            var result = SipParser.Parse(bytes);
            if (result.Message is { IsRequest: true } message && result.CanRespond)
            {
                _ = new SipResponse(message, 400, "Bad Request").ToBytes(new IPEndPoint(IPAddress.Loopback, 1));
            }
        }
    }
}
