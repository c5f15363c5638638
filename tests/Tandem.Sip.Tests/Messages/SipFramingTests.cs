using System.Text;
using Tandem.Sip.Messages;

namespace Tandem.Sip.Tests.Messages;

public class SipFramingTests
{
    private const string Message =
        "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 5\r\n\r\nhello";

    [Fact]
    public void Every_prefix_of_a_message_asks_for_more_and_consumes_nothing()
    {
        var bytes = Encoding.ASCII.GetBytes(Message);
        for (var i = 1; i < bytes.Length; i++)
        {
            Assert.Equal(FrameStatus.NeedMoreData, SipFraming.TryFrame(bytes.AsSpan(0, i), 65535, out _, out var length));
            Assert.Equal(0, length);
        }

        Assert.Equal(FrameStatus.Message, SipFraming.TryFrame(bytes, 65535, out _, out var whole));
        Assert.Equal(bytes.Length, whole);
    }

    [Fact]
    public void Two_messages_in_one_read_are_framed_one_at_a_time()
    {
        var bytes = Encoding.ASCII.GetBytes(Message + Message);
        Assert.Equal(FrameStatus.Message, SipFraming.TryFrame(bytes, 65535, out _, out var first));
        Assert.Equal(bytes.Length / 2, first);
        Assert.Equal(FrameStatus.Message, SipFraming.TryFrame(bytes.AsSpan(first), 65535, out _, out var second));
        Assert.Equal(first, second);
    }

    [Fact]
    public void Leading_CRLFs_are_reported_as_keep_alive()
    {
        var bytes = Encoding.ASCII.GetBytes("\r\n\r\n" + Message);
        Assert.Equal(FrameStatus.KeepAlive, SipFraming.TryFrame(bytes, 65535, out _, out var length));
        Assert.Equal(4, length);
    }

    [Theory]
    [InlineData("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")]
    [InlineData("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n")]
    [InlineData("OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx")]
    [InlineData("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n")]
    public void Unframeable_streams_are_invalid(string text)
    {
        Assert.Equal(FrameStatus.Invalid, SipFraming.TryFrame(Encoding.ASCII.GetBytes(text), 65535, out _, out _));
    }

    [Fact]
    public void A_header_block_that_never_ends_is_invalid_past_the_size_limit()
    {
        var bytes = Encoding.ASCII.GetBytes("OPTIONS sip:a@b SIP/2.0\r\nX: " + new string('a', 2000));
        Assert.Equal(FrameStatus.NeedMoreData, SipFraming.TryFrame(bytes, 4096, out _, out _));
        Assert.Equal(FrameStatus.Invalid, SipFraming.TryFrame(bytes, 1024, out _, out _));
    }
}
