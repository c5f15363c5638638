using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Tandem.Cluster.Addresses;

namespace Tandem.Lab.Netns;

/// <summary>One namespace of a <see cref="NetnsLab"/>: a "machine" with one NIC, <c>eth0</c>, on the lab's segment.</summary>
public sealed class NetnsHost
{
    private readonly NetnsLab _lab;

    internal NetnsHost(NetnsLab lab, string role, string ns, string switchPort, IPAddress? address, PhysicalAddress mac)
    {
        _lab = lab;
        Role = role;
        Namespace = ns;
        SwitchPort = switchPort;
        Address = address;
        Mac = mac;
    }

    /// <summary>The short name given to <see cref="NetnsLab.AddHostAsync"/> ("client", "a", …).</summary>
    public string Role { get; }

    /// <summary>The namespace's name, for <c>ip netns exec</c>, <c>ip -n</c> and <see cref="ServiceAddressOptions.NetworkNamespace"/>.</summary>
    public string Namespace { get; }

    /// <summary>The host's interface on the segment.</summary>
    public string Interface { get; } = "eth0";

    /// <summary>The bridge port in the switch namespace this host is plugged into.</summary>
    public string SwitchPort { get; }

    /// <summary>The host's own (non-service) address, if it was given one.</summary>
    public IPAddress? Address { get; }

    public PhysicalAddress Mac { get; }

    /// <summary>The MAC as iproute2 prints it (aa:bb:…).</summary>
    public string MacText => FormatMac(Mac);

    /// <summary>Runs <c>ip -n NS args…</c>; throws if it fails.</summary>
    public Task<CommandResult> IpAsync(params string[] args) => NetnsLab.IpAsync(Namespace, args);

    /// <summary>Runs a command to completion inside the namespace; throws if it fails.</summary>
    public Task<CommandResult> ExecAsync(string fileName, params string[] args) => NetnsLab.ExecAsync(Namespace, fileName, args);

    /// <summary>Starts a long-running process inside the namespace (killed when the lab is disposed).</summary>
    public NetnsProcess Start(string fileName, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
        => _lab.Start(Namespace, fileName, arguments, environment);

    /// <summary>Creates a socket inside this namespace, usable from any thread of the test process.</summary>
    public Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol)
        => NetworkNamespace.CreateSocket(Namespace, family, type, protocol);

    /// <summary>Sets this host's own eth0 down/up (an administrative link failure seen from the host side).</summary>
    public Task SetInterfaceAsync(bool up) => IpAsync("link", "set", Interface, up ? "up" : "down");

    /// <summary>A <see cref="ServiceAddressManager"/> working in this namespace.</summary>
    public ServiceAddressManager CreateAddressManager(Action<string>? log = null, IReadOnlyList<TimeSpan>? announcementSchedule = null)
        => new(
            announcementSchedule is null
                ? new ServiceAddressOptions { NetworkNamespace = Namespace }
                : new ServiceAddressOptions { NetworkNamespace = Namespace, AnnouncementSchedule = announcementSchedule },
            logger: log is null ? null : new TestOutputLogger(log, $"addresses[{Role}]"));

    /// <summary>The link-layer address this host's neighbour table maps <paramref name="address"/> to on eth0, and the entry's state
    /// (REACHABLE, STALE, INCOMPLETE, FAILED …); null when there is no entry.</summary>
    public async Task<(PhysicalAddress? Mac, string State)?> GetNeighbourAsync(IPAddress address)
    {
        var result = await IpAsync("-j", "neigh", "show", "to", address.ToString(), "dev", Interface);
        using var json = JsonDocument.Parse(string.IsNullOrWhiteSpace(result.StandardOutput) ? "[]" : result.StandardOutput);
        foreach (var entry in json.RootElement.EnumerateArray())
        {
            var state = entry.TryGetProperty("state", out var states) && states.GetArrayLength() > 0 ? states[0].GetString() ?? "" : "";
            var mac = entry.TryGetProperty("lladdr", out var lladdr) ? PhysicalAddress.Parse(lladdr.GetString()!.Replace(':', '-')) : null;
            return (mac, state);
        }
        return null;
    }

    /// <summary>Starts an in-process UDP responder in this namespace: every datagram to <paramref name="endPoint"/> is answered
    /// with <paramref name="reply"/> (default: the role). With <paramref name="freeBind"/> the address need not be present yet.</summary>
    public UdpResponder StartUdpResponder(IPEndPoint endPoint, bool freeBind, string? reply = null)
    {
        var socket = CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (freeBind)
            {
                socket.EnableFreeBind();
            }
            socket.Bind(endPoint);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new UdpResponder(socket, reply ?? Role);
    }

    /// <summary>A UDP socket in this namespace for <see cref="UdpProbe"/>.</summary>
    public UdpProbe CreateUdpProbe() => new(CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));

    public override string ToString() => $"{Role} ({Namespace}, {Address}, {MacText})";

    public static string FormatMac(PhysicalAddress mac) => string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
}

/// <summary>Answers every datagram with "&lt;reply&gt; &lt;datagram&gt;" (the probe's nonce comes back); counts what it answered.</summary>
public sealed class UdpResponder : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _reply;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _answered;

    internal UdpResponder(Socket socket, string reply)
    {
        _socket = socket;
        _reply = Encoding.ASCII.GetBytes(reply);
        _loop = Task.Run(LoopAsync);
    }

    public int Answered => Volatile.Read(ref _answered);

    private async Task LoopAsync()
    {
        var buffer = new byte[2048];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
                byte[] answer = [.. _reply, (byte)' ', .. buffer.AsSpan(0, received.ReceivedBytes)];
                await _socket.SendToAsync(answer, SocketFlags.None, received.RemoteEndPoint, _stop.Token);
                Interlocked.Increment(ref _answered);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                // e.g. sending while the address is being removed: keep serving.
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stop.Cancel();
        _socket.Dispose();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }

    private int _disposed;
}

/// <summary>Sends a datagram and waits for the answer: a reachability check that also tells who answered.</summary>
public sealed class UdpProbe : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[2048];
    private long _sequence;

    internal UdpProbe(Socket socket)
    {
        _socket = socket;
        _socket.Bind(new IPEndPoint(IPAddress.Any, 0));
    }

    /// <summary>One try: the responder's text (see <see cref="UdpResponder"/>), or null if no answer to this very
    /// datagram came within <paramref name="timeout"/>. Late answers to earlier tries are skipped.</summary>
    public async Task<string?> TryAsync(IPEndPoint target, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var nonce = "probe-" + Interlocked.Increment(ref _sequence).ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            await _socket.SendToAsync(Encoding.ASCII.GetBytes(nonce), SocketFlags.None, target, cts.Token);
            while (true)
            {
                var received = await _socket.ReceiveFromAsync(_buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                var text = Encoding.ASCII.GetString(_buffer, 0, received.ReceivedBytes);
                if (received.RemoteEndPoint.Equals(target) && text.EndsWith(" " + nonce, StringComparison.Ordinal))
                {
                    return text[..^(nonce.Length + 1)];
                }
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>Probes every <paramref name="interval"/> until an answer equal to <paramref name="expected"/> (any answer when null)
    /// arrives or <paramref name="timeout"/> passes. Returns the answer and when it came (from the call), or null.</summary>
    public async Task<(string Answer, TimeSpan After)?> WaitForAnswerAsync(IPEndPoint target, string? expected, TimeSpan timeout, TimeSpan interval)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            var answer = await TryAsync(target, interval);
            if (answer is not null && (expected is null || answer == expected))
            {
                return (answer, Stopwatch.GetElapsedTime(started));
            }
        }
        return null;
    }

    public void Dispose() => _socket.Dispose();
}
