using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tandem.Cluster.Membership;

/// <summary>
/// Membership of one node (or of the witness): sends authenticated heartbeats on every link every
/// interval, detects failed peers, computes quorum and which service addresses this node should
/// hold, and publishes it all as <see cref="View"/> and <see cref="Changed"/> events.
/// </summary>
/// <remarks>
/// Threads: one dedicated thread sends and evaluates (it does not depend on the thread pool, so a
/// busy server does not delay heartbeats), one dedicated thread per socket receives. Buffers are
/// reused: the steady state does not allocate per packet. Health probes run on the thread pool.
/// Event handlers run on the membership thread: they must be quick (hand work off).
/// </remarks>
public sealed class MembershipService : IDisposable, IAsyncDisposable
{
    private readonly MembershipOptions _options;
    private readonly MemberTable _table;
    private readonly MembershipCore _core;
    private readonly IHealthProbe? _probe;
    private readonly IFencer? _fencer;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Thread> _threads = [];
    private readonly SendTarget[] _targets;
    private readonly DateTimeOffset[] _lastMismatchWarning;
    private MembershipView _view;
    private MembershipEvent[] _initialEvents;
    private Thread? _loop;
    private Task? _healthLoop;
    private volatile bool _sendNow;
    private volatile int _droppedLinks; // test hook: bit l = link l silenced both ways
    private volatile bool _sendingSuspended; // test hook: behave like a hung process
    private long _received;
    private long _dropped;
    private int _disposed;

    /// <param name="fencer">Runs fences when <see cref="MembershipOptions.Fencing"/> is set; default: <see cref="ShellFencer"/>.</param>
    public MembershipService(MembershipOptions options, ILoggerFactory? loggerFactory = null, IHealthProbe? healthProbe = null, TimeProvider? time = null,
        IFencer? fencer = null)
    {
        options.Validate();
        _options = options;
        _table = new MemberTable(options);
        _probe = options.IsWitness ? null : healthProbe;
        _time = time ?? TimeProvider.System;
        _fencer = options.Fencing is { } fencing ? fencer ?? new ShellFencer(fencing, options.Self) : null;
        _startTimestamp = _time.GetTimestamp();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Tandem.Cluster");
        var incarnation = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        _core = new MembershipCore(options, _table, Now, incarnation, initiallyHealthy: _probe is null);
        _initialEvents = _core.Evaluate(Now, _time.GetUtcNow(), out var view);
        _view = view!;
        _targets = [.. BuildTargets()];
        _lastMismatchWarning = new DateTimeOffset[_table.Count];
    }

    /// <summary>The current snapshot; replaced atomically on every change.</summary>
    public MembershipView View => Volatile.Read(ref _view);

    /// <summary>Every state transition (peer, link, quorum, address, health), in order. Raised on the membership thread.</summary>
    public event Action<MembershipEvent>? Changed;

    /// <summary>Raised after <see cref="View"/> changed, on the membership thread, after the <see cref="Changed"/> events of the same step.</summary>
    public event Action<MembershipView>? ViewChanged;

    /// <summary>The bound heartbeat sockets (after <see cref="Start"/>; port 0 resolved).</summary>
    public IReadOnlyList<IPEndPoint> LocalEndPoints => [.. _sockets.Select(s => (IPEndPoint)s.LocalEndPoint!)];

    public ulong Incarnation => _core.Incarnation;

    /// <summary>Authenticated heartbeats accepted so far.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Packets dropped: bad HMAC, replay, malformed, unknown sender.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    private TimeSpan Now => _time.GetElapsedTime(_startTimestamp);

    /// <summary>Binds the sockets and starts the threads. Throws <see cref="SocketException"/> when a listen address cannot be bound.</summary>
    public void Start()
    {
        foreach (var endpoint in _options.Listen)
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp)
            {
                SendTimeout = 20, // never stall the heartbeat thread on a full buffer
            };
            socket.Bind(endpoint);
            _sockets.Add(socket);
        }

        for (var i = 0; i < _sockets.Count; i++)
        {
            var socket = _sockets[i];
            var thread = new Thread(() => ReceiveLoop(socket)) { IsBackground = true, Name = $"tandem-hb-recv-{i}" };
            _threads.Add(thread);
            thread.Start();
        }

        // The first evaluation ran in the constructor (e.g. quorum of a two-node cluster allowed to run
        // alone): log and raise it now that handlers are attached.
        foreach (var e in Interlocked.Exchange(ref _initialEvents, []))
        {
            MembershipLog.Event(_logger, e);
            try
            {
                Changed?.Invoke(e);
            }
            catch (Exception ex)
            {
                MembershipLog.HandlerFailed(_logger, ex);
            }
        }

        _loop = new Thread(MainLoop) { IsBackground = true, Name = "tandem-membership", Priority = ThreadPriority.AboveNormal };
        _loop.Start();
        if (_probe is not null)
        {
            _healthLoop = Task.Run(HealthLoopAsync);
        }

        MembershipLog.Started(_logger, _options.Self.Value, _core.Incarnation, _options.HeartbeatInterval.TotalMilliseconds, _options.HeartbeatMisses,
            string.Join(", ", LocalEndPoints));
    }

    /// <summary>
    /// Tells the engine which service addresses the address manager actually holds (after adding or
    /// removing them). Heartbeats announce them until they are let go, so that a peer never takes an
    /// address this node still answers for.
    /// </summary>
    public void ReportHeld(IEnumerable<string> addresses)
    {
        ulong mask = 0;
        var set = addresses.ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < _options.ServiceAddresses.Count; i++)
        {
            if (set.Contains(_options.ServiceAddresses[i].Address))
            {
                mask |= 1UL << i;
            }
        }

        lock (_gate)
        {
            _core.ReportHeld(mask);
        }

        _sendNow = true;
        _wake.Set();
    }

    /// <summary>
    /// Graceful stop (handover): this node stops owning addresses (an <see cref="MembershipEventKind.AddressReleased"/>
    /// per address, which the address manager should act on and confirm with <see cref="ReportHeld"/>) and announces
    /// that it is leaving on every link, so peers take over at once instead of waiting for the failure detector.
    /// Call before <see cref="DisposeAsync"/>.
    /// </summary>
    public async Task LeaveAsync(CancellationToken cancellationToken = default)
    {
        MembershipLog.Leaving(_logger, _options.Self.Value);
        lock (_gate)
        {
            _core.SetLeaving();
        }

        // A few copies, a fraction of an interval apart: one lost packet must not turn a handover into a failure detection.
        for (var i = 0; i < 3; i++)
        {
            _sendNow = true;
            _wake.Set();
            await Task.Delay(_options.HeartbeatInterval / 3, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Test hook: silence link <paramref name="link"/> in both directions (as if its network were cut).</summary>
    internal void SetLinkDropped(int link, bool dropped)
    {
        var bit = 1 << link;
        int current, next;
        do
        {
            current = _droppedLinks;
            next = dropped ? current | bit : current & ~bit;
        }
        while (Interlocked.CompareExchange(ref _droppedLinks, next, current) != current);
    }

    /// <summary>Test hook: stop sending heartbeats (a hung process) while still receiving.</summary>
    internal void SuspendSending(bool suspended) => _sendingSuspended = suspended;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        _wake.Set();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        _loop?.Join(TimeSpan.FromSeconds(5));
        foreach (var thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(5));
        }

        try
        {
            _healthLoop?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop ends by cancellation.
        }

        _wake.Dispose();
        _stop.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    private IEnumerable<SendTarget> BuildTargets()
    {
        for (var member = 1; member < _table.Count; member++)
        {
            var addresses = _table.Addresses[member];
            if (_options.IsWitness)
            {
                // The witness answers on every address of every node; all of it counts as the node's witness link.
                foreach (var address in addresses)
                {
                    yield return new SendTarget(0, 0, address);
                }
            }
            else if (_table.Roles[member] == MemberRole.Witness)
            {
                yield return new SendTarget(0, 0, addresses[0]);
            }
            else
            {
                for (var link = 0; link < addresses.Count; link++)
                {
                    yield return new SendTarget(Math.Min(link, _options.Listen.Count - 1), link, addresses[link]);
                }
            }
        }
    }

    private void MainLoop()
    {
        var frame = new HeartbeatFrame();
        var buffer = new byte[HeartbeatCodec.MaxSize];
        var addresses = _targets.Select(t => t.EndPoint.Serialize()).ToArray();
        var interval = _options.HeartbeatInterval;
        var evaluateEvery = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, interval.Ticks / 4));
        var nextSend = Now;
        while (!_stop.IsCancellationRequested)
        {
            var now = Now;
            var holdings = EvaluateAndPublish(now);
            if (now >= nextSend || _sendNow || holdings)
            {
                _sendNow = false;
                SendAll(frame, buffer, addresses);
                nextSend = now >= nextSend ? nextSend + interval : nextSend;
                if (nextSend <= now)
                {
                    nextSend = now + interval; // we fell behind (suspended process): do not burst
                }
            }

            var wait = Min(nextSend - Now, evaluateEvery);
            if (wait > TimeSpan.Zero)
            {
                _wake.WaitOne(wait);
            }
        }
    }

    /// <summary>Returns whether this node's claims changed (then a heartbeat goes out at once).</summary>
    private bool EvaluateAndPublish(TimeSpan now)
    {
        MembershipEvent[] events;
        MembershipView? view;
        ulong before, after;
        IReadOnlyList<FenceRequest> fences;
        lock (_gate)
        {
            before = _core.Desired;
            events = _core.Evaluate(now, _time.GetUtcNow(), out view);
            after = _core.Desired;
            fences = _core.TakeFenceRequests();
        }

        foreach (var fence in fences)
        {
            // Off the membership thread: the takeover waits for the result, the heartbeats do not.
            _ = Task.Run(() => FenceAsync(fence));
        }

        foreach (var e in events)
        {
            MembershipLog.Event(_logger, e);
        }

        if (view is not null)
        {
            Volatile.Write(ref _view, view);
        }

        try
        {
            foreach (var e in events)
            {
                Changed?.Invoke(e);
            }

            if (view is not null)
            {
                ViewChanged?.Invoke(view);
            }
        }
        catch (Exception e)
        {
            MembershipLog.HandlerFailed(_logger, e);
        }

        return before != after;
    }

    private async Task FenceAsync(FenceRequest request)
    {
        FenceResult result;
        try
        {
            result = await _fencer!.FenceAsync(request, _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return; // stopping
        }
        catch (Exception e)
        {
            result = new FenceResult(false, e.Message);
        }

        lock (_gate)
        {
            _core.FenceCompleted(request.Node, result.Succeeded, result.Detail, Now, _time.GetUtcNow());
        }

        try
        {
            _wake.Set();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void SendAll(HeartbeatFrame frame, byte[] buffer, SocketAddress[] addresses)
    {
        if (_sendingSuspended)
        {
            return;
        }

        var wall = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var dropped = _droppedLinks;
        for (var i = 0; i < _targets.Length; i++)
        {
            var target = _targets[i];
            if ((dropped & (1 << target.Link)) != 0)
            {
                continue;
            }

            int length;
            lock (_gate)
            {
                _core.Fill(frame, target.Link, wall);
            }

            length = HeartbeatCodec.Encode(frame, _table, _options.Secret, buffer);
            try
            {
                _sockets[target.Socket].SendTo(buffer.AsSpan(0, length), SocketFlags.None, addresses[i]);
            }
            catch (SocketException e)
            {
                MembershipLog.SendFailed(_logger, target.EndPoint.ToString(), target.Link, e.SocketErrorCode.ToString());
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    private void ReceiveLoop(Socket socket)
    {
        var buffer = new byte[HeartbeatCodec.MaxSize + 512];
        var frame = new HeartbeatFrame();
        var remote = new SocketAddress(socket.AddressFamily);
        while (!_stop.IsCancellationRequested)
        {
            int length;
            try
            {
                length = socket.ReceiveFrom(buffer, SocketFlags.None, remote);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                continue; // e.g. an ICMP error reported on the socket
            }

            var error = HeartbeatCodec.Decode(buffer.AsSpan(0, length), _table, _options.Secret, frame);
            if (error != HeartbeatError.None)
            {
                Drop(remote, error.ToString());
                continue;
            }

            if ((_droppedLinks & (1 << frame.Link)) != 0)
            {
                continue;
            }

            ReceiveOutcome outcome;
            lock (_gate)
            {
                outcome = _core.Receive(frame, Now, _time.GetUtcNow());
            }

            if (outcome.Verdict != ReplayVerdict.Accepted)
            {
                Drop(remote, outcome.Verdict.ToString());
                continue;
            }

            Interlocked.Increment(ref _received);
            if (outcome.ConfigMismatch)
            {
                WarnMismatch(frame.Sender);
            }

            if (outcome.Urgent)
            {
                _wake.Set();
            }
        }
    }

    private void Drop(SocketAddress remote, string reason)
    {
        Interlocked.Increment(ref _dropped);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            MembershipLog.Dropped(_logger, remote.ToString(), reason);
        }
    }

    private void WarnMismatch(int member)
    {
        var now = _time.GetUtcNow();
        lock (_lastMismatchWarning)
        {
            if (now - _lastMismatchWarning[member] < TimeSpan.FromSeconds(60))
            {
                return;
            }

            _lastMismatchWarning[member] = now;
        }

        MembershipLog.ConfigMismatch(_logger, _table.Ids[member].Value);
    }

    private async Task HealthLoopAsync()
    {
        var good = 0;
        var bad = 0;
        var healthy = false;
        var everHealthy = false;
        using var timer = new PeriodicTimer(_options.HealthInterval, _time);
        do
        {
            HealthReport report;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                timeout.CancelAfter(_options.HealthTimeout);
                try
                {
                    report = await _probe!.CheckAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (OperationCanceledException)
                {
                    report = HealthReport.Failed($"no answer within {_options.HealthTimeout.TotalMilliseconds:0} ms");
                }
                catch (Exception e)
                {
                    report = HealthReport.Failed(e.Message);
                }
            }

            (good, bad) = report.IsHealthy ? (good + 1, 0) : (0, bad + 1);

            // Hysteresis: unhealthy after HealthFailures failed probes in a row, healthy again after
            // HealthRecoveries good ones (the first good probe after start is enough).
            var next = healthy
                ? bad < _options.HealthFailures
                : good >= _options.HealthRecoveries || (good >= 1 && !everHealthy);
            everHealthy |= next;
            var announced = (next, report.IsHealthy) switch
            {
                (true, true) => report,
                (true, false) => new HealthReport(HealthReport.HealthyThreshold, report.Reason), // one miss: degraded, still serving
                (false, true) => new HealthReport(HealthReport.HealthyThreshold - 1, "recovering"),
                _ => report,
            };
            lock (_gate)
            {
                _core.SetHealth(announced, Now, _time.GetUtcNow());
            }

            if (next != healthy)
            {
                _sendNow = true;
                _wake.Set();
            }

            healthy = next;
        }
        while (await WaitAsync(timer).ConfigureAwait(false));
    }

    private async Task<bool> WaitAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>One heartbeat destination: from socket <see cref="Socket"/>, announced as link <see cref="Link"/>.</summary>
    private readonly record struct SendTarget(int Socket, int Link, IPEndPoint EndPoint);
}
