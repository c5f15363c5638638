using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover;

/// <summary>
/// The dense stream: one SIP OPTIONS every <see cref="Interval"/> (4 ms = 250/s) from the client namespace to the
/// service address, never retransmitted, each send and each final answer timestamped with <see cref="LabClock"/>.
/// A request is matched to its answer by the number in its Call-ID, so late answers still count for the right request.
/// </summary>
public sealed class OptionsProber : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly IPEndPoint _target;
    private readonly IPEndPoint _local;
    private readonly Lock _gate = new();
    private readonly List<long> _sent = [];
    private readonly List<long> _answered = [];
    private readonly CancellationTokenSource _stop = new();
    private Task? _sender;
    private Task? _receiver;

    // Sequence number of _sent[0]: old samples are dropped (Forget), numbers keep counting.
    private long _offset;

    public OptionsProber(NetnsHost client, IPEndPoint target, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _target = target;
        Interval = interval ?? TimeSpan.FromMilliseconds(4);
        _socket = client.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(client.Address ?? IPAddress.Any, 0));
        _local = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public TimeSpan Interval { get; }

    public void Start()
    {
        _sender = Task.Run(SendLoopAsync);
        _receiver = Task.Run(ReceiveLoopAsync);
    }

    /// <summary>The requests sent at or after <paramref name="fromUs"/>, in send order.</summary>
    public List<ProbeSample> Samples(long fromUs)
    {
        lock (_gate)
        {
            var first = _sent.BinarySearch(fromUs);
            first = first < 0 ? ~first : first;
            var list = new List<ProbeSample>(_sent.Count - first);
            for (var i = first; i < _sent.Count; i++)
            {
                list.Add(new ProbeSample(_sent[i], _answered[i] == 0 ? null : _answered[i]));
            }
            return list;
        }
    }

    /// <summary>Drops what is older than <paramref name="beforeUs"/> (memory stays bounded over many runs).</summary>
    public void Forget(long beforeUs)
    {
        lock (_gate)
        {
            var index = _sent.BinarySearch(beforeUs);
            index = index < 0 ? ~index : index;
            _sent.RemoveRange(0, index);
            _answered.RemoveRange(0, index);
            _offset += index;
        }
    }

    /// <summary>Whether every request sent in the <paramref name="span"/> before the last <paramref name="grace"/> was answered.</summary>
    public bool AnsweredThroughout(TimeSpan span, TimeSpan grace)
    {
        var now = LabClock.NowUs();
        var from = now - (long)(span + grace).TotalMicroseconds;
        var to = now - (long)grace.TotalMicroseconds;
        var samples = Samples(from);
        var count = 0;
        foreach (var sample in samples)
        {
            if (sample.SentUs > to)
            {
                break;
            }
            if (!sample.Answered)
            {
                return false;
            }
            count++;
        }
        // Most of the expected requests must exist too (the sender was not starved).
        return count >= span / Interval / 2;
    }

    /// <summary>Waits until <see cref="AnsweredThroughout"/> holds, or the timeout; returns whether it did.</summary>
    public async Task<bool> WaitHealthyAsync(TimeSpan span, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (AnsweredThroughout(span, TimeSpan.FromMilliseconds(200)))
            {
                return true;
            }
            await Task.Delay(50, cancellationToken);
        }
        return false;
    }

    private async Task SendLoopAsync()
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                long number;
                lock (_gate)
                {
                    number = _offset + _sent.Count;
                    _sent.Add(LabClock.NowUs());
                    _answered.Add(0);
                }
                var request = Encoding.ASCII.GetBytes(Request(number));
                try
                {
                    await _socket.SendToAsync(request, SocketFlags.None, _target, _stop.Token);
                }
                catch (SocketException)
                {
                    // No route / unreachable while the address moves: that request is simply unanswered.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private string Request(long sequence)
    {
        var number = sequence.ToString(CultureInfo.InvariantCulture);
        return
            $"OPTIONS sip:{_target.Address}:{_target.Port} SIP/2.0\r\n" +
            $"Via: SIP/2.0/UDP {_local.Address}:{_local.Port};branch=z9hG4bK-lab-{number};rport\r\n" +
            "Max-Forwards: 70\r\n" +
            $"From: <sip:prober@{_local.Address}>;tag=lab{number}\r\n" +
            $"To: <sip:{_target.Address}:{_target.Port}>\r\n" +
            $"Call-ID: lab-probe-{number}\r\n" +
            $"CSeq: 1 OPTIONS\r\n" +
            "Content-Length: 0\r\n\r\n";
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[8192];
        var marker = "Call-ID: lab-probe-"u8.ToArray();
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // ICMP unreachable reported on the socket
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            var now = LabClock.NowUs();
            var message = buffer.AsSpan(0, received.ReceivedBytes);
            // Final answers only ("SIP/2.0 1xx" is provisional).
            if (message.Length < 12 || !message.StartsWith("SIP/2.0 "u8) || message[8] == (byte)'1')
            {
                continue;
            }
            var at = message.IndexOf(marker);
            if (at < 0)
            {
                continue;
            }
            var digits = message[(at + marker.Length)..];
            long number = 0;
            var length = 0;
            while (length < digits.Length && digits[length] is >= (byte)'0' and <= (byte)'9')
            {
                number = (number * 10) + (digits[length] - '0');
                length++;
            }
            if (length == 0)
            {
                continue;
            }
            lock (_gate)
            {
                var index = number - _offset;
                if (index >= 0 && index < _answered.Count && _answered[(int)index] == 0)
                {
                    _answered[(int)index] = now;
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        foreach (var task in new[] { _sender, _receiver })
        {
            if (task is not null)
            {
                try
                {
                    await task.WaitAsync(TimeSpan.FromSeconds(2));
                }
                catch (Exception e) when (e is TimeoutException or OperationCanceledException or ObjectDisposedException)
                {
                }
            }
        }
        _stop.Dispose();
    }
}
