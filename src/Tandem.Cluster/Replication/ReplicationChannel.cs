using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Tandem.Cluster.Replication;

/// <summary>
/// One authenticated replication connection: length-prefixed frames over a stream, a mutual
/// HMAC-SHA256 challenge-response handshake over the cluster secret, then every frame sealed with
/// AES-256-GCM under per-direction session keys derived with HKDF (see PROTOCOL.md).
/// One reader at a time; writes are serialised internally.
/// </summary>
internal sealed class ReplicationChannel : IAsyncDisposable
{
    public const ushort ProtocolVersion = 1;
    public const int NonceBytes = 32;
    private const int TagBytes = 16;
    private const int HandshakeMaxFrame = 2048;
    private static readonly byte[] DiallerLabel = Encoding.ASCII.GetBytes("tandem-repl/1 dialler proof");
    private static readonly byte[] ListenerLabel = Encoding.ASCII.GetBytes("tandem-repl/1 listener proof");
    private static readonly byte[] KeyLabel = Encoding.ASCII.GetBytes("tandem-repl/1 session keys");

    private readonly Stream _stream;
    private readonly int _maxFrame;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _header = new byte[4];
    private AesGcm? _sendKey;
    private AesGcm? _receiveKey;
    private ulong _sendCounter;
    private ulong _receiveCounter;

    private ReplicationChannel(Stream stream, int maxFrame)
    {
        _stream = stream;
        _maxFrame = maxFrame;
    }

    /// <summary>The authenticated node at the other end.</summary>
    public NodeId Peer { get; private set; }

    /// <summary>Dials side of the handshake: proves the secret and checks the listener proves it too.</summary>
    public static async Task<ReplicationChannel> ConnectAsync(
        Stream stream, string cluster, NodeId self, NodeId expectedPeer, byte[] secret, NonceCache nonces, int maxFrame, CancellationToken ct)
    {
        var channel = new ReplicationChannel(stream, maxFrame);
        try
        {
            byte[] myNonce = RandomNumberGenerator.GetBytes(NonceBytes);
            nonces.TryAdd(myNonce);
            await channel.WriteFrameAsync(
                new PayloadWriter(FrameType.Hello).U16(ProtocolVersion).Str(cluster).Str(self.Value).Raw(myNonce).Written, ct).ConfigureAwait(false);

            byte[] reply = await channel.ReadFrameAsync(ct).ConfigureAwait(false);
            var r = new PayloadReader(reply);
            if (r.Type != FrameType.HelloReply)
            {
                throw new ReplicationProtocolException($"Expected HELLO reply, got {r.Type}.");
            }

            ushort version = r.U16();
            string theirCluster = r.Str(255);
            var peer = new NodeId(r.Str(RecordVersion.MaxNodeIdBytes));
            byte[] theirNonce = r.Raw(NonceBytes).ToArray();
            byte[] theirProof = r.Raw(32).ToArray();
            r.End();
            if (version != ProtocolVersion)
            {
                throw new ReplicationProtocolException($"Unsupported protocol version {version}.");
            }

            if (theirCluster != cluster || peer != expectedPeer)
            {
                throw new ReplicationAuthenticationException($"Connected to {theirCluster}/{peer}, expected {cluster}/{expectedPeer}.");
            }

            byte[] transcript = Transcript(cluster, self, peer, myNonce, theirNonce);
            if (!CryptographicOperations.FixedTimeEquals(Proof(secret, ListenerLabel, transcript), theirProof))
            {
                throw new ReplicationAuthenticationException($"Peer {peer} did not prove the cluster secret.");
            }

            if (!nonces.TryAdd(theirNonce))
            {
                throw new ReplicationAuthenticationException($"Peer {peer} replayed a nonce.");
            }

            await channel.WriteFrameAsync(new PayloadWriter(FrameType.Auth).Raw(Proof(secret, DiallerLabel, transcript)).Written, ct).ConfigureAwait(false);
            channel.Peer = peer;
            channel.StartEncryption(secret, transcript, myNonce, theirNonce, dialler: true);
            return channel;
        }
        catch
        {
            await channel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Listening side of the handshake.</summary>
    public static async Task<ReplicationChannel> AcceptAsync(
        Stream stream, string cluster, NodeId self, Func<NodeId, bool> isKnownPeer, byte[] secret, NonceCache nonces, int maxFrame, CancellationToken ct)
    {
        var channel = new ReplicationChannel(stream, maxFrame);
        try
        {
            byte[] hello = await channel.ReadFrameAsync(ct).ConfigureAwait(false);
            var r = new PayloadReader(hello);
            if (r.Type != FrameType.Hello)
            {
                throw new ReplicationProtocolException($"Expected HELLO, got {r.Type}.");
            }

            ushort version = r.U16();
            string theirCluster = r.Str(255);
            var peer = new NodeId(r.Str(RecordVersion.MaxNodeIdBytes));
            byte[] theirNonce = r.Raw(NonceBytes).ToArray();
            r.End();
            if (version != ProtocolVersion)
            {
                throw new ReplicationProtocolException($"Unsupported protocol version {version}.");
            }

            if (theirCluster != cluster || string.IsNullOrEmpty(peer.Value) || peer == self || !isKnownPeer(peer))
            {
                throw new ReplicationAuthenticationException($"Rejected {theirCluster}/{peer}: not a member of {cluster}.");
            }

            if (!nonces.TryAdd(theirNonce))
            {
                throw new ReplicationAuthenticationException($"Node {peer} replayed a nonce.");
            }

            byte[] myNonce = RandomNumberGenerator.GetBytes(NonceBytes);
            nonces.TryAdd(myNonce);
            byte[] transcript = Transcript(cluster, peer, self, theirNonce, myNonce);
            await channel.WriteFrameAsync(
                new PayloadWriter(FrameType.HelloReply).U16(ProtocolVersion).Str(cluster).Str(self.Value)
                    .Raw(myNonce).Raw(Proof(secret, ListenerLabel, transcript)).Written,
                ct).ConfigureAwait(false);

            byte[] auth = await channel.ReadFrameAsync(ct).ConfigureAwait(false);
            var a = new PayloadReader(auth);
            if (a.Type != FrameType.Auth)
            {
                throw new ReplicationProtocolException($"Expected AUTH, got {a.Type}.");
            }

            byte[] proof = a.Raw(32).ToArray();
            a.End();
            if (!CryptographicOperations.FixedTimeEquals(Proof(secret, DiallerLabel, transcript), proof))
            {
                throw new ReplicationAuthenticationException($"Node {peer} did not prove the cluster secret.");
            }

            channel.Peer = peer;
            channel.StartEncryption(secret, transcript, theirNonce, myNonce, dialler: false);
            return channel;
        }
        catch
        {
            await channel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task WriteFrameAsync(ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            byte[] frame;
            if (_sendKey is null)
            {
                frame = new byte[4 + payload.Length];
                BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)payload.Length);
                payload.Span.CopyTo(frame.AsSpan(4));
            }
            else
            {
                int length = payload.Length + TagBytes;
                frame = new byte[4 + length];
                BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)length);
                Span<byte> nonce = stackalloc byte[12];
                BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], _sendCounter++);
                _sendKey.Encrypt(nonce, payload.Span, frame.AsSpan(4, payload.Length), frame.AsSpan(4 + payload.Length, TagBytes), frame.AsSpan(0, 4));
            }

            await _stream.WriteAsync(frame, ct).ConfigureAwait(false);
            await _stream.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Reads one frame and returns its (decrypted) payload. Never trusts the length.</summary>
    public async Task<byte[]> ReadFrameAsync(CancellationToken ct)
    {
        await _stream.ReadExactlyAsync(_header, ct).ConfigureAwait(false);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(_header);
        int limit = _receiveKey is null ? HandshakeMaxFrame : _maxFrame + TagBytes;
        int minimum = _receiveKey is null ? 1 : TagBytes + 1;
        if (length < minimum || length > limit)
        {
            throw new ReplicationProtocolException($"Frame length {length} outside {minimum}..{limit}.");
        }

        byte[] body = new byte[length];
        await _stream.ReadExactlyAsync(body, ct).ConfigureAwait(false);
        if (_receiveKey is null)
        {
            return body;
        }

        byte[] plain = new byte[length - TagBytes];
        byte[] nonce = new byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(nonce.AsSpan(4), _receiveCounter++);
        try
        {
            _receiveKey.Decrypt(nonce, body.AsSpan(0, plain.Length), body.AsSpan(plain.Length), plain, _header);
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new ReplicationProtocolException("Frame failed authentication.", e);
        }

        return plain;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync().ConfigureAwait(false);
        _sendKey?.Dispose();
        _receiveKey?.Dispose();
    }

    private void StartEncryption(byte[] secret, byte[] transcript, byte[] diallerNonce, byte[] listenerNonce, bool dialler)
    {
        byte[] salt = [.. diallerNonce, .. listenerNonce];
        byte[] info = [.. KeyLabel, .. transcript];
        byte[] keys = HKDF.DeriveKey(HashAlgorithmName.SHA256, secret, 64, salt, info);
        var toListener = new AesGcm(keys.AsSpan(0, 32), TagBytes);
        var toDialler = new AesGcm(keys.AsSpan(32, 32), TagBytes);
        CryptographicOperations.ZeroMemory(keys);
        _sendKey = dialler ? toListener : toDialler;
        _receiveKey = dialler ? toDialler : toListener;
    }

    private static byte[] Transcript(string cluster, NodeId dialler, NodeId listener, byte[] diallerNonce, byte[] listenerNonce) =>
        new PayloadWriter(FrameType.Hello).U16(ProtocolVersion).Str(cluster).Str(dialler.Value).Str(listener.Value)
            .Raw(diallerNonce).Raw(listenerNonce).Written.ToArray();

    private static byte[] Proof(byte[] secret, byte[] label, byte[] transcript)
    {
        byte[] data = [.. label, .. transcript];
        return HMACSHA256.HashData(secret, data);
    }
}

/// <summary>Handshake nonces seen recently; a nonce seen twice is a replay. Bounded in size and time.</summary>
internal sealed class NonceCache(int capacity = 100_000, TimeSpan? lifetime = null, TimeProvider? time = null)
{
    private readonly object _gate = new();
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly Queue<(string Nonce, long At)> _order = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly long _lifetimeMs = (long)(lifetime ?? TimeSpan.FromMinutes(30)).TotalMilliseconds;

    /// <summary>Records the nonce; false when it was seen before (and not yet forgotten).</summary>
    public bool TryAdd(ReadOnlySpan<byte> nonce)
    {
        string key = Convert.ToHexString(nonce);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_gate)
        {
            while (_order.Count > 0 && (_order.Count >= capacity || now - _order.Peek().At > _lifetimeMs))
            {
                _seen.Remove(_order.Dequeue().Nonce);
            }

            if (!_seen.Add(key))
            {
                return false;
            }

            _order.Enqueue((key, now));
            return true;
        }
    }
}
