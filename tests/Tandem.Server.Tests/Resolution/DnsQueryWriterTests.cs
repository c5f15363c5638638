using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

public class DnsQueryWriterTests
{
    [Fact]
    public void Writes_a_recursive_query_with_one_question()
    {
        var buffer = new byte[DnsQueryWriter.MaxQueryLength];

        Assert.True(DnsQueryWriter.TryWrite(buffer, 0xABCD, "_SIP._udp.Example.test.", DnsRecordType.Srv, out var written));

        var expected = new DnsPacketBuilder()
            .U16(0xABCD).U16(0x0100).U16(1).U16(0).U16(0).U16(0)
            .Question("_sip._udp.example.test", DnsRecordType.Srv)
            .ToArray();
        Assert.Equal(expected, buffer[..written]);
    }

    [Fact]
    public void The_reader_reads_back_the_question()
    {
        var buffer = new byte[DnsQueryWriter.MaxQueryLength];
        DnsQueryWriter.TryWrite(buffer, 42, "gw1.example.test", DnsRecordType.Aaaa, out var written);

        Assert.True(DnsMessageReader.TryParse(buffer.AsSpan(0, written), out var message, out _));
        Assert.False(message.IsResponse);
        Assert.Equal(new DnsQuestion("gw1.example.test", DnsRecordType.Aaaa), message.Question);
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("a..b")]
    [InlineData("a b.test")]
    [InlineData("gw\u00e9.test")]
    [InlineData("a\\.b.test")]
    [InlineData("1.2.3.4:5060")]
    public void Rejects_names_that_are_not_host_names(string name)
    {
        Assert.False(DnsQueryWriter.IsValidName(name));
    }

    [Fact]
    public void Enforces_label_and_name_lengths()
    {
        Assert.True(DnsQueryWriter.IsValidName(new string('a', 63) + ".test"));
        Assert.False(DnsQueryWriter.IsValidName(new string('a', 64) + ".test"));

        // 3 × 64 + 62 + 1 = 255 octets is the longest legal name; one more is not.
        var longest = string.Join('.', Enumerable.Repeat(new string('a', 63), 3)) + "." + new string('b', 61);
        Assert.True(DnsQueryWriter.IsValidName(longest));
        Assert.False(DnsQueryWriter.IsValidName(longest + "b"));
    }
}
