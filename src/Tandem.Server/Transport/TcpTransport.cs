using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tandem.Cluster.Addresses;
using Tandem.Sip.Messages;

namespace Tandem.Server.Transport;

/// <summary>
/// A TCP listener. Each connection frames messages with <see cref="SipFraming"/> and hands them to
/// the sink in order; responses go back on the same connection. Connections are remembered by
/// remote address so later requests to a registered contact reuse them (RFC 3261 §18.3, RFC 5626),
/// and closed after an idle timeout.
/// </summary>
public sealed class TcpTransport : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly ISipMessageSink _sink;
    private readonly TransportCounters _counters;
    private readonly ILogger _logger;
    private readonly int _maxMessageSize;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<IPEndPoint, TcpConnection> _connections = new();
    private Task? _acceptLoop;
    private ITimer? _idleSweep;

    /// <param name="freeBind">Bind with IP_FREEBIND (a cluster service address not held yet); off for every other listener.</param>
    public TcpTransport(IPEndPoint bindTo, ISipMessageSink sink, TransportCounters counters, ILogger logger, int maxMessageSize, TimeSpan idleTimeout, TimeProvider? time = null, bool freeBind = false)
    {
        _sink = sink;
        _counters = counters;
        _logger = logger;
        _maxMessageSize = maxMessageSize;
        _idleTimeout = idleTimeout;
        _time = time ?? TimeProvider.System;
        _listener = new Socket(bindTo.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (bindTo.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _listener.DualMode = false;
        }

        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (freeBind)
        {
            _listener.EnableFreeBind();
        }

        _listener.Bind(bindTo);
        LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }

    public int ConnectionCount => _connections.Count;

    public void Start()
    {
        _listener.Listen(1024);
        _acceptLoop = AcceptLoopAsync();
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, _idleTimeout.Ticks / 4));
        _idleSweep = _time.CreateTimer(_ => CloseIdleConnections(), null, period, period);
    }

    /// <summary>An open connection to <paramref name="remote"/>, if there is one.</summary>
    public SipFlow? FindConnection(IPEndPoint remote) => _connections.TryGetValue(Normalize(remote), out var connection) ? connection : null;

    /// <summary>
    /// The open connection to <paramref name="remote"/>, or a new outbound one (RFC 3261 §18.1.1:
    /// reuse before connecting). Null when the connection cannot be made within the timeout.
    /// </summary>
    public async ValueTask<SipFlow?> GetOrConnectAsync(IPEndPoint remote, TimeSpan timeout, CancellationToken cancellationToken)
    {
        remote = Normalize(remote);
        if (_connections.TryGetValue(remote, out var existing))
        {
            return existing;
        }

        var socket = new Socket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
            deadline.CancelAfter(timeout);
            await socket.ConnectAsync(remote, deadline.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            socket.Dispose();
            _counters.SendFailed();
            return null;
        }

        var connection = new TcpConnection(this, socket, (IPEndPoint)socket.LocalEndPoint!, remote);
        var winner = _connections.GetOrAdd(remote, connection);
        if (!ReferenceEquals(winner, connection))
        {
            // Another sender connected first; use theirs.
            connection.Close();
            return winner;
        }

        _ = connection.RunAsync();
        return connection;
    }

    private static IPEndPoint Normalize(IPEndPoint endPoint)
        => endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                _logger.LogWarning("TCP accept failed on {Local}: {Error}", LocalEndPoint, ex.SocketErrorCode);
                continue;
            }

            socket.NoDelay = true;
            _counters.ConnectionAccepted();
            var remote = (IPEndPoint)socket.RemoteEndPoint!;
            var local = (IPEndPoint)socket.LocalEndPoint!;
            var connection = new TcpConnection(this, socket, local, remote);
            _connections[remote] = connection;
            _ = connection.RunAsync();
        }
    }

    private void CloseIdleConnections()
    {
        var now = _time.GetTimestamp();
        foreach (var connection in _connections.Values)
        {
            if (_time.GetElapsedTime(connection.LastActivity, now) > _idleTimeout)
            {
                _counters.ConnectionClosedIdle();
                connection.Close();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _idleSweep?.Dispose();
        _listener.Dispose();
        foreach (var connection in _connections.Values)
        {
            connection.Close();
        }

        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    // The send lock never allocates a wait handle, so leaving it to the GC is harmless and avoids
    // racing a Dispose against a sender still waiting on it.
#pragma warning disable CA1001
    private sealed class TcpConnection : SipFlow
#pragma warning restore CA1001
    {
        private readonly TcpTransport _owner;
        private readonly Socket _socket;
        private readonly SemaphoreSlim _sendLock = new(1, 1);
        private int _closed;

        public TcpConnection(TcpTransport owner, Socket socket, IPEndPoint local, IPEndPoint remote)
            : base(SipTransportProtocol.Tcp, local, remote)
        {
            _owner = owner;
            _socket = socket;
            LastActivity = owner._time.GetTimestamp();
        }

        public long LastActivity { get; private set; }

        public async Task RunAsync()
        {
            var buffer = ArrayPool<byte>.Shared.Rent(8192);
            var filled = 0;
            try
            {
                while (true)
                {
                    if (filled == buffer.Length)
                    {
                        if (buffer.Length >= _owner._maxMessageSize + 4)
                        {
                            // Framing already refuses larger messages; this is only a backstop.
                            _owner._counters.FramingError();
                            return;
                        }

                        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _owner._maxMessageSize + 4));
                        buffer.AsSpan(0, filled).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }

                    var read = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, _owner._stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    LastActivity = _owner._time.GetTimestamp();
                    filled += read;
                    var consumed = await ProcessFramesAsync(buffer, filled);
                    if (consumed < 0)
                    {
                        return;
                    }

                    if (consumed > 0)
                    {
                        buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
                        filled -= consumed;
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
            catch (Exception ex)
            {
                _owner._logger.LogError(ex, "Unhandled error on TCP connection {Remote}", RemoteEndPoint);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                Close();
            }
        }

        /// <summary>Handles every whole frame in the buffer; returns octets consumed, or -1 to close.</summary>
        private async ValueTask<int> ProcessFramesAsync(byte[] buffer, int filled)
        {
            var consumed = 0;
            while (consumed < filled)
            {
                var status = SipFraming.TryFrame(buffer.AsSpan(consumed, filled - consumed), _owner._maxMessageSize, out _, out var length);
                switch (status)
                {
                    case FrameStatus.NeedMoreData:
                        return consumed;
                    case FrameStatus.Invalid:
                        _owner._counters.FramingError();
                        return -1;
                    case FrameStatus.KeepAlive:
                        _owner._counters.KeepAlive();
                        if (length >= 4)
                        {
                            // RFC 5626 §4.4.1: answer a CRLFCRLF ping with a CRLF pong.
                            await SendToAsync("\r\n"u8.ToArray(), RemoteEndPoint);
                        }

                        consumed += length;
                        break;
                    case FrameStatus.Message:
                        _owner._counters.StreamMessage(length);
                        try
                        {
                            await _owner._sink.OnMessageAsync(buffer.AsMemory(consumed, length), this);
                        }
                        catch (Exception ex)
                        {
                            _owner._logger.LogError(ex, "Unhandled error while handling a message from {Remote}", RemoteEndPoint);
                        }

                        consumed += length;
                        break;
                }
            }

            return consumed;
        }

        public override async ValueTask<bool> SendToAsync(ReadOnlyMemory<byte> data, IPEndPoint target)
        {
            if (Volatile.Read(ref _closed) != 0)
            {
                _owner._counters.SendFailed();
                return false;
            }

            await _sendLock.WaitAsync();
            try
            {
                while (!data.IsEmpty)
                {
                    var sent = await _socket.SendAsync(data, SocketFlags.None);
                    data = data[sent..];
                }

                LastActivity = _owner._time.GetTimestamp();
                return true;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                _owner._counters.SendFailed();
                Close();
                return false;
            }
            finally
            {
                _sendLock.Release();
            }
        }

        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
            {
                return;
            }

            _owner._connections.TryRemove(new KeyValuePair<IPEndPoint, TcpConnection>(RemoteEndPoint, this));
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
            }

            _socket.Dispose();
        }
    }
}
