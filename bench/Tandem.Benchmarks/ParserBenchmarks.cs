using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using Tandem.Sip.Messages;

namespace Tandem.Benchmarks;

/// <summary>Parse and serialise costs of the messages a registrar sees most (messages/s and bytes allocated).</summary>
[MemoryDiagnoser]
public class ParserBenchmarks
{
    private static readonly byte[] Register = Encoding.ASCII.GetBytes(
        "REGISTER sip:example.com SIP/2.0\r\n" +
        "Via: SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bK-524287-1---6ec1b2a3f7e0c2d1\r\n" +
        "Max-Forwards: 70\r\n" +
        "Contact: <sip:alice@192.0.2.10:5062;rinstance=8e6a2d1c0b9f7e5d;transport=UDP>\r\n" +
        "To: <sip:alice@example.com>\r\n" +
        "From: <sip:alice@example.com>;tag=7c1e9a2b\r\n" +
        "Call-ID: NjA2ZTc5YmQ1ZGE0ZjE3MzEwNTQ3ZTBmNDQ3MWY2ZDg\r\n" +
        "CSeq: 2 REGISTER\r\n" +
        "Expires: 3600\r\n" +
        "Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n" +
        "User-Agent: Softphone 5.1 stamp 99053\r\n" +
        "Authorization: Digest username=\"alice\",realm=\"example.com\",nonce=\"AAAAAGZ0x9Q8f2WmKQmP3m2k9eC3o1bYlHq2\",uri=\"sip:example.com\",response=\"6b6d0e4a8f3a2b1c0d9e8f7a6b5c4d3e\",cnonce=\"0a4f113b\",nc=00000001,qop=auth,algorithm=MD5\r\n" +
        "Content-Length: 0\r\n\r\n");

    private static readonly byte[] Invite = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "wsinv.dat"));

    private SipMessage _register = null!;
    private SipOutputBuffer _output = null!;
    private readonly IPEndPoint _source = new(IPAddress.Parse("203.0.113.7"), 40000);

    [GlobalSetup]
    public void Setup()
    {
        _register = SipParser.Parse(Register).Message!;
        _output = new SipOutputBuffer(2048);
    }

    [GlobalCleanup]
    public void Cleanup() => _output.Dispose();

    [Benchmark]
    public SipMessage? ParseRegister() => SipParser.Parse(Register).Message;

    [Benchmark]
    public SipMessage? ParseTortuousInvite() => SipParser.Parse(Invite).Message;

    [Benchmark]
    public int Write200OkToRegister()
    {
        _output.Clear();
        var response = new SipResponse(_register, 200, "OK") { ToTag = "a1b2c3" };
        response.AddHeader("Contact", "<sip:alice@192.0.2.10:5062;rinstance=8e6a2d1c0b9f7e5d;transport=UDP>;expires=3600");
        response.WriteTo(_output, _source);
        return _output.Length;
    }

    [Benchmark]
    public int RoundTripRegister()
    {
        _output.Clear();
        SipMessageWriter.Write(SipParser.Parse(Register).Message!, _output);
        return _output.Length;
    }
}
