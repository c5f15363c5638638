using System.Net;
using System.Net.Sockets;
using System.Text;
using Tandem.Cluster.Membership;
using Tandem.Sip.Timers;

namespace Tandem.Server.Cluster;

/// <summary>
/// The server's <see cref="IHealthProbe"/> (docs/cluster.md, Health): one check sends a SIP OPTIONS
/// through a real socket to this node's own UDP listener and expects a 200 (so a receive loop, the
/// parser and the core answered), and schedules a zero-delay timer on the transaction timer wheel
/// and expects it to fire (so the wheel still advances). Both within the membership's health timeout
/// (the token it passes).
/// </summary>
internal sealed class SipHealthProbe : IHealthProbe
{
    private readonly Func<IPEndPoint?> _target;
    private readonly Func<TimerWheel?> _wheel;
    private long _sequence;

    /// <param name="target">The UDP listener to probe (a loopback or local address, not a service address); null = none yet.</param>
    /// <param name="wheel">The timer wheel; null = not started.</param>
    public SipHealthProbe(Func<IPEndPoint?> target, Func<TimerWheel?> wheel)
    {
        _target = target;
        _wheel = wheel;
    }

    public async ValueTask<HealthReport> CheckAsync(CancellationToken cancellationToken)
    {
        var wheel = _wheel();
        if (wheel is null)
        {
            return HealthReport.Failed("the timer wheel is not running");
        }

        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        wheel.Schedule(static state => ((TaskCompletionSource)state!).TrySetResult(), fired, TimeSpan.Zero);

        var target = _target();
        if (target is null)
        {
            return HealthReport.Failed("no UDP listener to probe");
        }

        try
        {
            if (!await OptionsAsync(target, cancellationToken).ConfigureAwait(false))
            {
                return HealthReport.Failed($"OPTIONS to {target} was not answered with 200");
            }
        }
        catch (OperationCanceledException)
        {
            return HealthReport.Failed($"OPTIONS to {target} timed out");
        }
        catch (SocketException ex)
        {
            return HealthReport.Failed($"OPTIONS to {target} failed: {ex.Message}");
        }

        try
        {
            await fired.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return HealthReport.Failed("the timer wheel did not fire a due timer within the health timeout");
        }

        return HealthReport.Healthy;
    }

    private async Task<bool> OptionsAsync(IPEndPoint target, CancellationToken cancellationToken)
    {
        // From the listener's own address (loopback for a loopback listener), so the answer comes straight back.
        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(target.Address, 0));
        return await OptionsOnAsync(socket, target, cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> OptionsOnAsync(Socket socket, IPEndPoint target, CancellationToken cancellationToken)
    {
        var local = (IPEndPoint)socket.LocalEndPoint!;
        var host = Host(local.Address);
        var callId = $"health-{Interlocked.Increment(ref _sequence)}-{Guid.NewGuid():N}";
        var request =
            $"OPTIONS sip:{Host(target.Address)}:{target.Port} SIP/2.0\r\n" +
            $"Via: SIP/2.0/UDP {host}:{local.Port};branch=z9hG4bK{callId};rport\r\n" +
            "Max-Forwards: 70\r\n" +
            $"From: <sip:health@{host}:{local.Port}>;tag={callId[..12]}\r\n" +
            $"To: <sip:{Host(target.Address)}:{target.Port}>\r\n" +
            $"Call-ID: {callId}\r\n" +
            "CSeq: 1 OPTIONS\r\n" +
            "Content-Length: 0\r\n\r\n";
        await socket.SendToAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
        var buffer = new byte[8192];
        while (true)
        {
            var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), cancellationToken).ConfigureAwait(false);
            var text = Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes);
            if (!text.Contains(callId, StringComparison.Ordinal) || text.StartsWith("SIP/2.0 1", StringComparison.Ordinal))
            {
                continue;
            }

            return text.StartsWith("SIP/2.0 200", StringComparison.Ordinal);
        }
    }

    private static string Host(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
}
