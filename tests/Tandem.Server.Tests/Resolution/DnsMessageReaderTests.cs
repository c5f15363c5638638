using System.Net;
using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

public class DnsMessageReaderTests
{
    // Offset of the question name: right after the 12-octet header.
    private const int QuestionName = 12;

    private static DnsMessage Parse(byte[] packet)
    {
        Assert.True(DnsMessageReader.TryParse(packet, out var message, out var error), $"rejected: {error}");
        Assert.Equal(DnsParseError.None, error);
        return message;
    }

    private static DnsParseError Reject(byte[] packet)
    {
        Assert.False(DnsMessageReader.TryParse(packet, out var message, out var error));
        Assert.Null(message);
        Assert.NotEqual(DnsParseError.None, error);
        return error;
    }

    [Fact]
    public void Reads_an_A_answer_whose_owner_is_a_pointer_to_the_question()
    {
        var packet = new DnsPacketBuilder()
            .ResponseHeader(0xBEEF, 1, 1)
            .Question("Gw1.Example.TEST", DnsRecordType.A)
            .Record(b => b.Pointer(QuestionName), DnsRecordType.A, 300, b => b.Raw(192, 0, 2, 1))
            .ToArray();

        var message = Parse(packet);

        Assert.Equal(0xBEEF, message.Id);
        Assert.True(message.IsResponse);
        Assert.False(message.Truncated);
        Assert.Equal(DnsResponseCode.NoError, message.ResponseCode);
        Assert.Equal(new DnsQuestion("gw1.example.test", DnsRecordType.A), message.Question);
        var record = Assert.IsType<DnsAddressRecord>(Assert.Single(message.Answers));
        Assert.Equal("gw1.example.test", record.Name);
        Assert.Equal(300u, record.Ttl);
        Assert.Equal(IPAddress.Parse("192.0.2.1"), record.Address);
    }

    [Fact]
    public void Follows_a_pointer_after_leading_labels_and_a_chain_of_pointers()
    {
        // Question "example.test"; SRV owner "_sip._udp" + pointer to it; target "gw1" + pointer
        // to a name that is itself "a" + pointer to the question (two jumps).
        var builder = new DnsPacketBuilder().ResponseHeader(1, 1, 2).Question("example.test", DnsRecordType.Srv);
        var srvOwner = builder.Length;
        builder.Record(b => b.Labels("_sip._udp").Pointer(QuestionName), DnsRecordType.Srv, 60, b => b.U16(10).U16(60).U16(5060).Labels("gw1").Pointer(QuestionName));
        var cnameAt = builder.Length;
        builder.Record(b => b.Labels("alias").Pointer(srvOwner), DnsRecordType.CName, 60, b => b.Labels("b").Pointer(cnameAt));

        var message = Parse(builder.ToArray());

        var srv = Assert.IsType<DnsSrvRecord>(message.Answers[0]);
        Assert.Equal(new DnsSrvRecord("_sip._udp.example.test", 60, 10, 60, 5060, "gw1.example.test"), srv);
        var cname = Assert.IsType<DnsCNameRecord>(message.Answers[1]);
        Assert.Equal("alias._sip._udp.example.test", cname.Name);
        Assert.Equal("b.alias._sip._udp.example.test", cname.Target);
    }

    [Fact]
    public void Reads_AAAA_NAPTR_and_the_SOA_minimum()
    {
        var packet = new DnsPacketBuilder()
            .ResponseHeader(7, 1, 2, authority: 1)
            .Question("example.test", DnsRecordType.Naptr)
            .Naptr("example.test", 120, 10, 50, "S", "SIP+D2T", "", "_sip._tcp.example.test")
            .Address("gw1.example.test", 30, "2001:db8::1")
            .Soa("example.test", 3600, 45)
            .ToArray();

        var message = Parse(packet);

        Assert.Equal(new DnsNaptrRecord("example.test", 120, 10, 50, "S", "SIP+D2T", "", "_sip._tcp.example.test"), message.Answers[0]);
        Assert.Equal(IPAddress.Parse("2001:db8::1"), Assert.IsType<DnsAddressRecord>(message.Answers[1]).Address);
        Assert.Equal(DnsRecordType.Aaaa, message.Answers[1].Type);
        Assert.Equal(new DnsSoaRecord("example.test", 3600, 45), Assert.Single(message.Authority));
    }

    [Fact]
    public void Skips_unknown_types_and_other_classes_but_keeps_reading()
    {
        var packet = new DnsPacketBuilder()
            .ResponseHeader(7, 1, 3)
            .Question("example.test", DnsRecordType.A)
            .Record("example.test", (DnsRecordType)16, 60, b => b.CharacterString("v=spf1 -all")) // TXT
            .Record(b => b.Name("example.test"), DnsRecordType.A, 60, b => b.Raw(10, 0, 0, 1), @class: 3) // CHAOS
            .Address("example.test", 60, "192.0.2.7")
            .ToArray();

        var record = Assert.IsType<DnsAddressRecord>(Assert.Single(Parse(packet).Answers));
        Assert.Equal(IPAddress.Parse("192.0.2.7"), record.Address);
    }

    [Fact]
    public void A_TTL_with_the_top_bit_set_reads_as_zero()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 1).Question("a.test", DnsRecordType.A)
            .Address("a.test", 0x80000001, "192.0.2.1").ToArray();

        Assert.Equal(0u, Parse(packet).Answers[0].Ttl);
    }

    [Fact]
    public void Truncated_answer_gives_header_and_question_only()
    {
        // A TC answer may stop in the middle of a record: the counts promise more than is there.
        var packet = new DnsPacketBuilder()
            .ResponseHeader(9, 1, 5, truncated: true)
            .Question("big.example.test", DnsRecordType.Srv)
            .Raw(0xC0, 0x0C, 0x00, 0x21)
            .ToArray();

        var message = Parse(packet);

        Assert.True(message.Truncated);
        Assert.Equal(new DnsQuestion("big.example.test", DnsRecordType.Srv), message.Question);
        Assert.Empty(message.Answers);
    }

    [Theory]
    [InlineData(DnsResponseCode.NameError)]
    [InlineData(DnsResponseCode.ServerFailure)]
    [InlineData(DnsResponseCode.Refused)]
    public void Reports_the_response_code(DnsResponseCode rcode)
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 0, rcode: rcode).Question("x.test", DnsRecordType.A).ToArray();

        Assert.Equal(rcode, Parse(packet).ResponseCode);
    }

    [Fact]
    public void Every_proper_prefix_of_a_valid_answer_is_rejected_without_throwing()
    {
        var packet = new DnsPacketBuilder()
            .ResponseHeader(1, 1, 3, authority: 1)
            .Question("example.test", DnsRecordType.Naptr)
            .Naptr("example.test", 60, 10, 50, "s", "SIP+D2U", "", "_sip._udp.example.test")
            .Srv("_sip._udp.example.test", 60, 10, 60, 5060, "gw1.example.test")
            .Record(b => b.Labels("gw1").Pointer(QuestionName), DnsRecordType.A, 60, b => b.Raw(192, 0, 2, 1))
            .Soa("example.test", 60, 30)
            .ToArray();
        Parse(packet);

        for (var length = 0; length < packet.Length; length++)
        {
            Reject(packet[..length]);
        }
    }

    [Fact]
    public void A_pointer_to_itself_is_rejected()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 0).Pointer(QuestionName).U16(1).U16(1).ToArray();

        Assert.Equal(DnsParseError.ForwardCompressionPointer, Reject(packet));
    }

    [Fact]
    public void A_forward_pointer_is_rejected()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 0).Pointer(QuestionName + 6).U16(1).U16(1).Name("a").ToArray();

        Assert.Equal(DnsParseError.ForwardCompressionPointer, Reject(packet));
    }

    [Fact]
    public void Two_pointers_that_point_at_each_other_are_rejected()
    {
        // Answer owner at X: label "a" then a pointer back to X. Reading from X gives "a", then
        // jumps to X again: the loop passes the backward-pointer rule and must stop on length.
        var builder = new DnsPacketBuilder().ResponseHeader(1, 1, 1).Question("a.test", DnsRecordType.A);
        var owner = builder.Length;
        builder.Labels("a").Pointer(owner).U16(1).U16(1).U32(60).U16(4).Raw(1, 2, 3, 4);

        Assert.Equal(DnsParseError.NameTooLong, Reject(builder.ToArray()));
    }

    [Fact]
    public void A_pointer_to_a_pointer_is_followed()
    {
        // The second answer's owner points at the first answer's owner, itself a pointer.
        var builder = new DnsPacketBuilder().ResponseHeader(1, 1, 2).Question("a.test", DnsRecordType.A);
        var first = builder.Length;
        builder.Record(b => b.Pointer(QuestionName), DnsRecordType.A, 60, b => b.Raw(1, 2, 3, 4))
            .Record(b => b.Pointer(first), DnsRecordType.A, 60, b => b.Raw(5, 6, 7, 8));

        Assert.All(Parse(builder.ToArray()).Answers, r => Assert.Equal("a.test", r.Name));
    }

    [Fact]
    public void A_name_longer_than_255_octets_is_rejected()
    {
        var longName = string.Join('.', Enumerable.Repeat(new string('a', 63), 4)); // 4 × 64 + 1 = 257 octets
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 0).Question(longName, DnsRecordType.A).ToArray();

        Assert.Equal(DnsParseError.NameTooLong, Reject(packet));
    }

    [Theory]
    [InlineData(0x40)]
    [InlineData(0x80)]
    public void Reserved_label_types_are_rejected(byte type)
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 0).Raw(type, 0).U16(1).U16(1).ToArray();

        Assert.Equal(DnsParseError.BadLabelType, Reject(packet));
    }

    [Fact]
    public void An_address_of_the_wrong_length_is_rejected()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 1).Question("a.test", DnsRecordType.A)
            .Record("a.test", DnsRecordType.A, 60, b => b.Raw(1, 2, 3)).ToArray();

        Assert.Equal(DnsParseError.BadRecordData, Reject(packet));
    }

    [Fact]
    public void An_SRV_whose_target_overruns_its_RDLENGTH_is_rejected()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 1).Question("a.test", DnsRecordType.Srv)
            .Record("a.test", DnsRecordType.Srv, 60, b => b.U16(1).U16(1).U16(5060).Raw(3, (byte)'g', (byte)'w'))
            .Raw((byte)'1', 0) // the rest of the target lies after the RDATA
            .ToArray();

        Assert.False(DnsMessageReader.TryParse(packet, out _, out _));
    }

    [Fact]
    public void Trailing_bytes_inside_RDATA_are_rejected()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 1).Question("a.test", DnsRecordType.Srv)
            .Record("a.test", DnsRecordType.Srv, 60, b => b.U16(1).U16(1).U16(5060).Name("gw").Raw(0xFF))
            .ToArray();

        Assert.Equal(DnsParseError.BadRecordData, Reject(packet));
    }

    [Fact]
    public void A_NAPTR_string_longer_than_its_RDATA_is_rejected()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 1).Question("a.test", DnsRecordType.Naptr)
            .Record("a.test", DnsRecordType.Naptr, 60, b => b.U16(1).U16(1).U8(200).Raw((byte)'s'))
            .ToArray();

        Assert.Equal(DnsParseError.BadRecordData, Reject(packet));
    }

    [Fact]
    public void More_than_one_question_is_rejected()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 2, 0)
            .Question("a.test", DnsRecordType.A).Question("b.test", DnsRecordType.A).ToArray();

        Assert.Equal(DnsParseError.TooManyQuestions, Reject(packet));
    }

    [Fact]
    public void Odd_bytes_in_a_label_are_escaped_not_taken_as_dots()
    {
        var packet = new DnsPacketBuilder().ResponseHeader(1, 1, 0)
            .Raw(3, (byte)'a', (byte)'.', 0x07).Name("test").U16(1).U16(1).ToArray();

        Assert.Equal("a\\046\\007.test", Parse(packet).Question!.Value.Name);
    }

    [Fact]
    public void Random_garbage_never_throws()
    {
        var random = new Random(3263);
        var valid = new DnsPacketBuilder().ResponseHeader(1, 1, 2).Question("example.test", DnsRecordType.Srv)
            .Srv("_sip._udp.example.test", 60, 10, 60, 5060, "gw1.example.test")
            .Record(b => b.Labels("gw1").Pointer(QuestionName), DnsRecordType.A, 60, b => b.Raw(192, 0, 2, 1))
            .ToArray();
        for (var i = 0; i < 20_000; i++)
        {
            byte[] packet;
            if (i % 2 == 0)
            {
                packet = new byte[random.Next(0, 600)];
                random.NextBytes(packet);
            }
            else
            {
                // Flip a few bytes of a valid packet: mostly near-valid input, the interesting kind.
                packet = (byte[])valid.Clone();
                for (var flips = random.Next(1, 4); flips > 0; flips--)
                {
                    packet[random.Next(packet.Length)] = (byte)random.Next(256);
                }
            }

            var parsed = DnsMessageReader.TryParse(packet, out var message, out var error);
            Assert.Equal(parsed, message is not null);
            Assert.Equal(parsed, error == DnsParseError.None);
        }
    }
}
