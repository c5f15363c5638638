using System.Net;
using System.Net.Sockets;
using System.Text;
using Tandem.Sip.Messages;

namespace Tandem.Server.Tests.Proxy;

/// <summary>A UDP socket playing a phone in proxy tests: sends text, waits for messages that match.</summary>
public sealed class SipPeer : IDisposable
{
    private readonly UdpClient _client = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly List<(SipMessage Message, IPEndPoint From)> _unclaimed = [];

    public int Port => ((IPEndPoint)_client.Client.LocalEndPoint!).Port;

    public string Address => $"127.0.0.1:{Port}";

    public Task SendAsync(string text, IPEndPoint to) => _client.SendAsync(Encoding.ASCII.GetBytes(text), to).AsTask();

    /// <summary>The first message (already received or arriving within the timeout) that matches.</summary>
    public async Task<(SipMessage Message, IPEndPoint From)> ExpectAsync(Func<SipMessage, bool> match, string what, int timeoutMs = 3000)
    {
        var index = _unclaimed.FindIndex(m => match(m.Message));
        if (index >= 0)
        {
            var found = _unclaimed[index];
            _unclaimed.RemoveAt(index);
            return found;
        }

        using var cts = new CancellationTokenSource(timeoutMs);
        while (true)
        {
            UdpReceiveResult result;
            try
            {
                result = await _client.ReceiveAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting for {what}; got instead: {string.Join(" | ", _unclaimed.Select(m => m.Message.ToString()))}");
            }

            var message = SipParser.Parse(result.Buffer).Message;
            if (message is null)
            {
                continue;
            }

            if (match(message))
            {
                return (message, result.RemoteEndPoint);
            }

            _unclaimed.Add((message, result.RemoteEndPoint));
        }
    }

    public Task<(SipMessage Message, IPEndPoint From)> ExpectResponseAsync(int status, string method, int timeoutMs = 3000)
        => ExpectAsync(m => !m.IsRequest && m.StatusCode == status && m.CSeq.MethodName == method, $"{status} to {method}", timeoutMs);

    public Task<(SipMessage Message, IPEndPoint From)> ExpectRequestAsync(string method, int timeoutMs = 3000)
        => ExpectAsync(m => m.IsRequest && m.MethodName == method, method, timeoutMs);

    /// <summary>Nothing matching arrives within the time.</summary>
    public async Task ExpectNothingAsync(Func<SipMessage, bool> match, int timeoutMs = 500)
    {
        try
        {
            var (message, _) = await ExpectAsync(match, "nothing", timeoutMs);
            throw new Xunit.Sdk.XunitException($"did not expect {message}");
        }
        catch (Xunit.Sdk.XunitException ex) when (ex.Message.StartsWith("timed out", StringComparison.Ordinal))
        {
        }
    }

    /// <summary>A response to <paramref name="request"/> copying its Via, From, To (plus tag), Call-ID, CSeq and Record-Route.</summary>
    public static string Answer(SipMessage request, int status, string reason, string toTag, string? contact = null)
    {
        var text = new StringBuilder().Append("SIP/2.0 ").Append(status).Append(' ').Append(reason).Append("\r\n");
        foreach (var via in request.GetHeaderValues(HeaderId.Via))
        {
            text.Append("Via: ").Append(via).Append("\r\n");
        }

        foreach (var rr in request.GetHeaderValues(HeaderId.RecordRoute))
        {
            text.Append("Record-Route: ").Append(rr).Append("\r\n");
        }

        text.Append("From: ").Append(request.GetHeader(HeaderId.From)).Append("\r\n");
        var to = request.GetHeader(HeaderId.To)!;
        text.Append("To: ").Append(to).Append(request.To!.Tag is null && status > 100 ? $";tag={toTag}" : string.Empty).Append("\r\n");
        text.Append("Call-ID: ").Append(request.CallId).Append("\r\n");
        text.Append("CSeq: ").Append(request.GetHeader(HeaderId.CSeq)).Append("\r\n");
        if (contact is not null)
        {
            text.Append("Contact: <").Append(contact).Append(">\r\n");
        }

        return text.Append("Content-Length: 0\r\n\r\n").ToString();
    }

    public void Dispose() => _client.Dispose();
}
