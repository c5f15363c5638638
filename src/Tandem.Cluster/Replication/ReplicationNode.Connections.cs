using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Tandem.Cluster.Replication;

public sealed partial class ReplicationNode
{
    private async Task AcceptLoopAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                LogAcceptError(e);
                continue;
            }

            if (Interlocked.Increment(ref _pendingHandshakes) > _options.MaxPendingHandshakes)
            {
                Interlocked.Decrement(ref _pendingHandshakes);
                socket.Dispose();
                continue;
            }

            Track(HandleInboundAsync(socket, ct));
        }
    }

    /// <summary>A peer dialled us: it streams its changes, we apply them and ack.</summary>
    private async Task HandleInboundAsync(Socket socket, CancellationToken ct)
    {
        socket.NoDelay = true;
        EndPoint? remote = socket.RemoteEndPoint;
        ReplicationChannel? channel = null;
        PeerState? peer = null;
        bool handshaking = true;
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                handshake.CancelAfter(_options.HandshakeTimeout);
                channel = await ReplicationChannel.AcceptAsync(
                    new NetworkStream(socket, ownsSocket: true), _options.ClusterName, NodeId, id => _peers.ContainsKey(id),
                    _options.Secret, _nonces, _options.MaxFrameBytes, handshake.Token).ConfigureAwait(false);
            }

            handshaking = false;
            Interlocked.Decrement(ref _pendingHandshakes);
            _channels.TryAdd(channel, true);
            peer = _peers[channel.Peer];
            Interlocked.Increment(ref peer.InboundConnections);
            LogInbound(channel.Peer, remote);

            long generation;
            ulong epoch;
            ulong lastSeq;
            lock (peer.InboundGate)
            {
                generation = ++peer.InboundGeneration;
                Interlocked.Exchange(ref peer.LoggedConvergedDigest, 0);
                epoch = peer.InboundEpoch;
                lastSeq = peer.InboundLastSeq;
            }

            await channel.WriteFrameAsync(new PayloadWriter(FrameType.Resume).U64(epoch).U64(lastSeq).Written, connection.Token).ConfigureAwait(false);

            var ackSignal = new SemaphoreSlim(0);
            Task acker = AckLoopAsync(channel, peer, ackSignal, connection.Token);
            try
            {
                await ReceiveLoopAsync(channel, peer, generation, ackSignal, connection.Token).ConfigureAwait(false);
            }
            finally
            {
                await connection.CancelAsync().ConfigureAwait(false);
                try
                {
                    await acker.ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
                {
                }
            }
        }
        catch (Exception e)
        {
            ClassifyFailure(e, peer?.Options.NodeId, remote, ct);
        }
        finally
        {
            if (handshaking)
            {
                Interlocked.Decrement(ref _pendingHandshakes);
            }

            if (peer is not null)
            {
                Interlocked.Decrement(ref peer.InboundConnections);
            }

            if (channel is not null)
            {
                _channels.TryRemove(channel, out _);
                await channel.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }
        }
    }

    private async Task ReceiveLoopAsync(ReplicationChannel channel, PeerState peer, long generation, SemaphoreSlim ackSignal, CancellationToken ct)
    {
        NodeId source = peer.Options.NodeId;
        bool inSnapshot = false;
        ulong snapshotEpoch = 0;
        ulong snapshotSeq = 0;
        while (true)
        {
            byte[] frame = await ReadWithIdleTimeoutAsync(channel, ct).ConfigureAwait(false);
            var r = new PayloadReader(frame);
            switch (r.Type)
            {
                case FrameType.SnapshotBegin:
                    {
                        snapshotEpoch = r.U64();
                        snapshotSeq = r.U64();
                        r.U64(); // record count (informational)
                        r.End();
                        if (inSnapshot || snapshotEpoch == 0)
                        {
                            throw new ReplicationProtocolException("Unexpected SNAPSHOT_BEGIN.");
                        }

                        inSnapshot = true;
                        break;
                    }

                case FrameType.SnapshotRecord:
                    {
                        ReplicatedRecord record = r.Record(_options.MaxValueBytes);
                        r.End();
                        if (!inSnapshot)
                        {
                            throw new ReplicationProtocolException("SNAPSHOT_RECORD outside a snapshot.");
                        }

                        ApplyRemote(peer, generation, record);
                        break;
                    }

                case FrameType.SnapshotEnd:
                    {
                        ulong seq = r.U64();
                        r.End();
                        if (!inSnapshot || seq != snapshotSeq)
                        {
                            throw new ReplicationProtocolException("Unexpected SNAPSHOT_END.");
                        }

                        lock (peer.InboundGate)
                        {
                            EnsureCurrent(peer, generation);
                            peer.InboundEpoch = snapshotEpoch;
                            peer.InboundLastSeq = seq;
                        }

                        inSnapshot = false;
                        Interlocked.Increment(ref peer.SnapshotsReceived);
                        LogSnapshotReceived(source, seq);
                        ackSignal.Release();
                        break;
                    }

                case FrameType.Record:
                    {
                        ulong seq = r.U64();
                        ReplicatedRecord record = r.Record(_options.MaxValueBytes);
                        r.End();
                        if (inSnapshot)
                        {
                            throw new ReplicationProtocolException("RECORD inside a snapshot.");
                        }

                        lock (peer.InboundGate)
                        {
                            EnsureCurrent(peer, generation);
                            if (peer.InboundEpoch == 0)
                            {
                                throw new ReplicationProtocolException("RECORD before a snapshot or resume.");
                            }

                            if (seq <= peer.InboundLastSeq)
                            {
                                break; // already applied (harmless duplicate)
                            }

                            if (seq != peer.InboundLastSeq + 1)
                            {
                                throw new ReplicationProtocolException($"Sequence gap: expected {peer.InboundLastSeq + 1}, got {seq}.");
                            }

                            ApplyRemoteLocked(source, record);
                            peer.InboundLastSeq = seq;
                        }

                        ackSignal.Release();
                        break;
                    }

                case FrameType.Digest:
                    {
                        StateDigest digest = ReadDigest(ref r);
                        OnDigest(peer, digest);
                        await channel.WriteFrameAsync(WriteDigest(Store.StateDigest()), ct).ConfigureAwait(false);
                        break;
                    }

                default:
                    throw new ReplicationProtocolException($"Unexpected {r.Type} frame from the sender.");
            }
        }
    }

    private void ApplyRemote(PeerState peer, long generation, ReplicatedRecord record)
    {
        lock (peer.InboundGate)
        {
            EnsureCurrent(peer, generation);
            ApplyRemoteLocked(peer.Options.NodeId, record);
        }
    }

    private void ApplyRemoteLocked(NodeId source, ReplicatedRecord record)
    {
        Clock.Update(record.Version);
        Store.Apply(record, source);
    }

    private static void EnsureCurrent(PeerState peer, long generation)
    {
        if (peer.InboundGeneration != generation)
        {
            throw new OperationCanceledException("A newer connection from this peer replaced this one.");
        }
    }

    private static async Task AckLoopAsync(ReplicationChannel channel, PeerState peer, SemaphoreSlim signal, CancellationToken ct)
    {
        ulong lastSent = 0;
        while (true)
        {
            await signal.WaitAsync(ct).ConfigureAwait(false);
            while (signal.CurrentCount > 0)
            {
                await signal.WaitAsync(ct).ConfigureAwait(false);
            }

            ulong seq;
            lock (peer.InboundGate)
            {
                seq = peer.InboundLastSeq;
            }

            if (seq != lastSent)
            {
                await channel.WriteFrameAsync(new PayloadWriter(FrameType.Ack).U64(seq).Written, ct).ConfigureAwait(false);
                lastSent = seq;
            }
        }
    }

    /// <summary>Dials the peer (its endpoints in order), streams, and reconnects with backoff until stopped.</summary>
    private async Task RunOutboundAsync(PeerState peer, CancellationToken ct)
    {
        int failures = 0;
        while (!ct.IsCancellationRequested)
        {
            ReplicationChannel? channel = null;
            EndPoint? connectedTo = null;
            foreach (EndPoint endPoint in peer.Options.Endpoints)
            {
                try
                {
                    channel = await DialAsync(peer, endPoint, ct).ConfigureAwait(false);
                    connectedTo = endPoint;
                    break;
                }
                catch (Exception e)
                {
                    if (ct.IsCancellationRequested)
                    {
                        return;
                    }

                    ClassifyFailure(e, peer.Options.NodeId, endPoint, ct);
                }
            }

            if (channel is null)
            {
                failures++;
                try
                {
                    await Task.Delay(Backoff(failures), _time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            failures = 0;
            _channels.TryAdd(channel, true);
            Interlocked.Increment(ref peer.Connects);
            peer.ConnectedEndPoint = connectedTo;
            LogOutbound(peer.Options.NodeId, connectedTo);
            try
            {
                await StreamAsync(channel, peer, ct).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                ClassifyFailure(e, peer.Options.NodeId, connectedTo, ct);
            }
            finally
            {
                peer.OutboundConnected = false;
                peer.ConnectedEndPoint = null;
                _channels.TryRemove(channel, out _);
                await channel.DisposeAsync().ConfigureAwait(false);
            }

            try
            {
                await Task.Delay(Backoff(1), _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<ReplicationChannel> DialAsync(PeerState peer, EndPoint endPoint, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                connect.CancelAfter(_options.ConnectTimeout);
                await socket.ConnectAsync(endPoint, connect.Token).ConfigureAwait(false);
            }

            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct);
            handshake.CancelAfter(_options.HandshakeTimeout);
            return await ReplicationChannel.ConnectAsync(
                new NetworkStream(socket, ownsSocket: true), _options.ClusterName, NodeId, peer.Options.NodeId,
                _options.Secret, _nonces, _options.MaxFrameBytes, handshake.Token).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private TimeSpan Backoff(int failures)
    {
        double ms = _options.ReconnectInitialDelay.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 20));
        ms = Math.Min(ms, _options.ReconnectMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms * (0.75 + (Random.Shared.NextDouble() * 0.5)));
    }

    /// <summary>Our side of an outbound connection: resume or snapshot, then records and digests; acks come back.</summary>
    private async Task StreamAsync(ReplicationChannel channel, PeerState peer, CancellationToken ct)
    {
        byte[] first = await ReadWithIdleTimeoutAsync(channel, ct).ConfigureAwait(false);
        var resume = new PayloadReader(first);
        if (resume.Type != FrameType.Resume)
        {
            throw new ReplicationProtocolException($"Expected RESUME, got {resume.Type}.");
        }

        ulong epoch = resume.U64();
        ulong lastSeq = resume.U64();
        resume.End();

        using var connection = CancellationTokenSource.CreateLinkedTokenSource(ct);
        ulong? resumeAt = peer.Queue.TryResume(epoch, lastSeq, _time.GetUtcNow());
        IReadOnlyList<ReplicatedRecord>? snapshot = null;
        ulong snapshotSeq = 0;
        if (resumeAt is null)
        {
            snapshot = Store.Snapshot(() => snapshotSeq = peer.Queue.ResetForSnapshot());
        }

        ulong cursor = resumeAt ?? snapshotSeq + 1;
        peer.LastSentSeq = cursor - 1;
        peer.OutboundConnected = true;
        Task reader = ReadAcksAsync(channel, peer, connection);
        try
        {
            if (snapshot is not null)
            {
                Interlocked.Increment(ref peer.SnapshotsSent);
                LogSnapshotSending(peer.Options.NodeId, snapshot.Count, snapshotSeq);
                await channel.WriteFrameAsync(new PayloadWriter(FrameType.SnapshotBegin).U64(peer.Queue.Epoch).U64(snapshotSeq).U64((ulong)snapshot.Count).Written, connection.Token).ConfigureAwait(false);
                foreach (ReplicatedRecord r in snapshot)
                {
                    await channel.WriteFrameAsync(new PayloadWriter(FrameType.SnapshotRecord).Record(r).Written, connection.Token).ConfigureAwait(false);
                }

                await channel.WriteFrameAsync(new PayloadWriter(FrameType.SnapshotEnd).U64(snapshotSeq).Written, connection.Token).ConfigureAwait(false);
            }
            else
            {
                LogResumed(peer.Options.NodeId, cursor);
            }

            var batch = new List<(ulong Seq, ReplicatedRecord Record)>(SendBatch);
            Task digestDue = Task.CompletedTask;
            while (true)
            {
                connection.Token.ThrowIfCancellationRequested();
                if (digestDue.IsCompleted)
                {
                    await digestDue.ConfigureAwait(false);
                    await channel.WriteFrameAsync(WriteDigest(Store.StateDigest()), connection.Token).ConfigureAwait(false);
                    digestDue = Task.Delay(_options.DigestInterval, _time, connection.Token);
                }

                batch.Clear();
                if (!peer.Queue.TryRead(cursor, SendBatch, batch))
                {
                    throw new QueueOverflowException();
                }

                foreach ((ulong seq, ReplicatedRecord record) in batch)
                {
                    // Before the write: the ack may come back before WriteFrameAsync returns.
                    peer.LastSentSeq = seq;
                    await channel.WriteFrameAsync(new PayloadWriter(FrameType.Record).U64(seq).Record(record).Written, connection.Token).ConfigureAwait(false);
                    cursor = seq + 1;
                }

                if (batch.Count == 0)
                {
                    await Task.WhenAny(peer.Queue.WaitForDataAsync(cursor), digestDue, reader).ConfigureAwait(false);
                    if (reader.IsCompleted)
                    {
                        await reader.ConfigureAwait(false);
                    }
                }
            }
        }
        finally
        {
            peer.OutboundConnected = false;
            await connection.CancelAsync().ConfigureAwait(false);
            await channel.DisposeAsync().ConfigureAwait(false);
            try
            {
                await reader.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
            {
            }
        }
    }

    private async Task ReadAcksAsync(ReplicationChannel channel, PeerState peer, CancellationTokenSource connection)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                byte[] frame = await ReadWithIdleTimeoutAsync(channel, connection.Token).ConfigureAwait(false);
                var r = new PayloadReader(frame);
                switch (r.Type)
                {
                    case FrameType.Ack:
                        {
                            ulong seq = r.U64();
                            r.End();
                            if (seq > peer.LastSentSeq)
                            {
                                throw new ReplicationProtocolException($"Ack {seq} for a record not sent yet.");
                            }

                            peer.Queue.Ack(seq, _time.GetUtcNow());
                            break;
                        }

                    case FrameType.Digest:
                        OnDigest(peer, ReadDigest(ref r));
                        break;

                    default:
                        throw new ReplicationProtocolException($"Unexpected {r.Type} frame from the receiver.");
                }
            }
        }
        finally
        {
            await connection.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task<byte[]> ReadWithIdleTimeoutAsync(ReplicationChannel channel, CancellationToken ct)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        idle.CancelAfter(_options.IdleTimeout);
        try
        {
            return await channel.ReadFrameAsync(idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException("Nothing received within the idle timeout.");
        }
    }

    private static ReadOnlyMemory<byte> WriteDigest(StateDigest digest)
    {
        var w = new PayloadWriter(FrameType.Digest).U16((ushort)digest.Kinds.Count);
        foreach (KindDigest k in digest.Kinds.Values)
        {
            w.Str(k.Kind).U64((ulong)k.Count).U16(ReplicatedStore.DigestBuckets);
            foreach (ulong b in k.Buckets)
            {
                w.U64(b);
            }
        }

        return w.Written;
    }

    private static StateDigest ReadDigest(ref PayloadReader r)
    {
        int kinds = r.U16();
        if (kinds > 4096)
        {
            throw new ReplicationProtocolException("Too many kinds in DIGEST.");
        }

        var list = new List<KindDigest>(kinds);
        for (int i = 0; i < kinds; i++)
        {
            string kind = r.Str(ReplicatedRecord.MaxKindBytes);
            ulong count = r.U64();
            if (r.U16() != ReplicatedStore.DigestBuckets || count > int.MaxValue)
            {
                throw new ReplicationProtocolException("Invalid DIGEST.");
            }

            ulong[] buckets = new ulong[ReplicatedStore.DigestBuckets];
            for (int b = 0; b < buckets.Length; b++)
            {
                buckets[b] = r.U64();
            }

            list.Add(new KindDigest(kind, (long)count, buckets));
        }

        r.End();
        return new StateDigest(list);
    }

    private void ClassifyFailure(Exception e, NodeId? peer, EndPoint? endPoint, CancellationToken stopping)
    {
        if (stopping.IsCancellationRequested)
        {
            return;
        }

        switch (e)
        {
            case ReplicationAuthenticationException:
                Interlocked.Increment(ref _authFailures);
                LogAuthFailure(peer, endPoint, e.Message);
                break;
            case ReplicationProtocolException:
            case EndOfStreamException when peer is null:
                Interlocked.Increment(ref _protocolErrors);
                LogProtocolError(peer, endPoint, e.Message);
                break;
            case OperationCanceledException when peer is null:
                // Handshake timeout from an unauthenticated connection.
                Interlocked.Increment(ref _protocolErrors);
                LogProtocolError(peer, endPoint, "handshake timed out");
                break;
            default:
                LogDisconnected(peer, endPoint, e);
                break;
        }
    }

    private sealed class QueueOverflowException : Exception
    {
        public QueueOverflowException()
            : base("The peer fell behind the outbound queue capacity; reconnecting for a snapshot.")
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replication: accept failed")]
    private partial void LogAcceptError(Exception e);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replication: {Peer} connected from {EndPoint}")]
    private partial void LogInbound(NodeId peer, EndPoint? endPoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replication: connected to {Peer} at {EndPoint}")]
    private partial void LogOutbound(NodeId peer, EndPoint? endPoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replication: sending {Peer} a snapshot of {Count} records at sequence {Seq}")]
    private partial void LogSnapshotSending(NodeId peer, int count, ulong seq);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replication: snapshot from {Peer} applied at sequence {Seq}")]
    private partial void LogSnapshotReceived(NodeId peer, ulong seq);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replication: resuming stream to {Peer} at sequence {Seq}")]
    private partial void LogResumed(NodeId peer, ulong seq);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replication: authentication failed with {Peer} at {EndPoint}: {Reason}")]
    private partial void LogAuthFailure(NodeId? peer, EndPoint? endPoint, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replication: protocol error from {Peer} at {EndPoint}: {Reason}")]
    private partial void LogProtocolError(NodeId? peer, EndPoint? endPoint, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replication: connection with {Peer} at {EndPoint} closed")]
    private partial void LogDisconnected(NodeId? peer, EndPoint? endPoint, Exception e);
}
