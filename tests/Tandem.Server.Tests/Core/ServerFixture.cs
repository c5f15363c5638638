using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tandem.Server.Config;
using Tandem.Server.Transport;
using Tandem.Sip.Auth;
using Tandem.Sip.Messages;
using Tandem.Storage;

namespace Tandem.Server.Tests.Core;

/// <summary>A real <see cref="TandemServer"/> on loopback ports chosen by the OS, with one subscriber.</summary>
public sealed class ServerFixture : IAsyncDisposable
{
    public const string User = "alice";
    public const string Domain = "example.com";
    public const string Password = "secret";

    private readonly TempDirectory _dir = new();

    private ServerFixture(TandemServer server, TandemOptions options)
    {
        Server = server;
        Options = options;
    }

    public TandemServer Server { get; private set; }

    /// <summary>The options the server was started with (data directory included).</summary>
    public TandemOptions Options { get; private set; }

    /// <summary>Changes the options the next <see cref="RestartAsync"/> uses (same data directory).</summary>
    public void Reconfigure(Func<TandemOptions, TandemOptions> change) => Options = change(Options);

    public IPEndPoint Udp => Server.ListeningOn.First(l => l.Protocol == SipTransportProtocol.Udp).EndPoint;

    public IPEndPoint Tcp => Server.ListeningOn.First(l => l.Protocol == SipTransportProtocol.Tcp).EndPoint;

    public static async Task<ServerFixture> StartAsync(Func<TandemOptions, TandemOptions>? configure = null)
    {
        var dir = new TempDirectory();
        await using (var storage = StorageFactory.Open(dir.Path, StorageMode.WriteThrough))
        {
            await storage.Subscribers.AddAsync(new Subscriber(User, Domain,
                DigestHash.ComputeHa1(DigestAlgorithm.Md5, User, Domain, Password),
                DigestHash.ComputeHa1(DigestAlgorithm.Sha256, User, Domain, Password), null, true));
        }

        var options = new TandemOptions
        {
            DataDir = dir.Path,
            Listen = [ListenEndpoint.Parse("udp:127.0.0.1:0"), ListenEndpoint.Parse("tcp:127.0.0.1:0")],
            Auth = new AuthOptions { SharedSecret = "0123456789abcdef0123456789abcdef" },
            Sip = new SipOptions { ReceiveLoops = 2 },
        };
        options = configure?.Invoke(options) ?? options;
        var server = new TandemServer(options, NullLoggerFactory.Instance);
        await server.StartAsync(CancellationToken.None);
        var fixture = new ServerFixture(server, options);
        fixture._dir.Dispose();
        fixture.DataDir = dir;
        return fixture;
    }

    public TempDirectory DataDir { get; private set; } = null!;

    /// <summary>Stops the server, keeping its data directory (a crash-free shutdown).</summary>
    public Task StopAsync() => Server.StopAsync(CancellationToken.None);

    /// <summary>Stops the server if running and starts a new one on the same options and data directory.</summary>
    public async Task RestartAsync()
    {
        await Server.DisposeAsync();
        Server = new TandemServer(Options, NullLoggerFactory.Instance);
        await Server.StartAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        DataDir.Dispose();
    }

    /// <summary>
    /// Sends one datagram and waits for the reply to it (or null after the timeout). Replies to
    /// other requests, such as retransmitted final responses to earlier INVITEs, are skipped.
    /// </summary>
    public static async Task<SipMessage?> ExchangeAsync(UdpClient client, IPEndPoint server, string request, int timeoutMs = 2000)
    {
        await client.SendAsync(Encoding.ASCII.GetBytes(request), server);
        var sent = SipParser.Parse(Encoding.ASCII.GetBytes(request)).Message;
        var deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            var remaining = (int)(deadline - Environment.TickCount64);
            var reply = remaining > 0 ? await ReceiveAsync(client, remaining) : null;
            if (reply is null || sent is null || (reply.CallId == sent.CallId && reply.CSeq == sent.CSeq))
            {
                return reply;
            }
        }
    }

    public static async Task<SipMessage?> ReceiveAsync(UdpClient client, int timeoutMs = 2000)
    {
        using var cts = new CancellationTokenSource(timeoutMs);
        try
        {
            var result = await client.ReceiveAsync(cts.Token);
            return SipParser.Parse(result.Buffer).Message;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>An Authorization/Proxy-Authorization value answering a digest challenge (qop=auth).</summary>
    public static string DigestAnswer(string challenge, string method, string uri, string user = User, string password = Password, DigestAlgorithm algorithm = DigestAlgorithm.Md5)
    {
        var from = challenge.IndexOf("nonce=\"", StringComparison.Ordinal) + 7;
        var nonce = challenge[from..challenge.IndexOf('"', from)];
        var ha1 = DigestHash.ComputeHa1(algorithm, user, Domain, password);
        var response = DigestHash.ComputeResponse(algorithm, ha1, method, uri, nonce, DigestQop.Auth, "00000001", "0a1b2c");
        return $"Digest username=\"{user}\", realm=\"{Domain}\", nonce=\"{nonce}\", uri=\"{uri}\", " +
               $"response=\"{response}\", algorithm={DigestHash.Token(algorithm)}, qop=auth, nc=00000001, cnonce=\"0a1b2c\"";
    }

    public static string Request(string method, string branch, string callId = "c1", uint cseq = 1, string extra = "", string uri = "sip:example.com", int localPort = 5999)
        => $"{method} {uri} SIP/2.0\r\n" +
           $"Via: SIP/2.0/UDP 127.0.0.1:{localPort};rport;branch=z9hG4bK{branch}\r\n" +
           "Max-Forwards: 70\r\n" +
           $"From: <sip:{User}@{Domain}>;tag=ft\r\n" +
           $"To: <sip:{User}@{Domain}>\r\n" +
           $"Call-ID: {callId}\r\n" +
           $"CSeq: {cseq} {method}\r\n" +
           extra +
           "Content-Length: 0\r\n\r\n";
}
