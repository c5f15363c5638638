using System.Net;
using System.Net.Sockets;
using Tandem.Cluster.Replication;
using static Tandem.Cluster.Tests.Replication.TestSupport;

namespace Tandem.Cluster.Tests.Replication;

public class ReplicationChannelTests
{
    private static readonly NodeId A = new("a");
    private static readonly NodeId B = new("b");

    [Fact(Timeout = 30_000)]
    public async Task Handshake_derives_matching_session_keys_and_a_tampered_frame_is_refused()
    {
        (Socket client, Socket server) = await PairAsync();
        var tamper = new TamperStream(new NetworkStream(client, ownsSocket: true));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Task<ReplicationChannel> accept = ReplicationChannel.AcceptAsync(
            new NetworkStream(server, ownsSocket: true), "test", B, id => id == A, Secret, new NonceCache(), 65536, cts.Token);
        await using ReplicationChannel dialler = await ReplicationChannel.ConnectAsync(tamper, "test", A, B, Secret, new NonceCache(), 65536, cts.Token);
        await using ReplicationChannel listener = await accept;
        Assert.Equal(A, listener.Peer);
        Assert.Equal(B, dialler.Peer);

        await dialler.WriteFrameAsync(new PayloadWriter(FrameType.Ack).U64(42).Written, cts.Token);
        var r = new PayloadReader(await listener.ReadFrameAsync(cts.Token));
        Assert.Equal(FrameType.Ack, r.Type);
        Assert.Equal(42ul, r.U64());
        await listener.WriteFrameAsync(new PayloadWriter(FrameType.Ack).U64(7).Written, cts.Token);
        byte[] reply = await dialler.ReadFrameAsync(cts.Token);
        Assert.Equal(7ul, new PayloadReader(reply).U64());

        tamper.CorruptNextWrite = true;
        await dialler.WriteFrameAsync(new PayloadWriter(FrameType.Ack).U64(43).Written, cts.Token);
        await Assert.ThrowsAsync<ReplicationProtocolException>(() => listener.ReadFrameAsync(cts.Token));
    }

    [Theory(Timeout = 30_000)]
    [InlineData("wrong-secret")]
    [InlineData("wrong-cluster")]
    [InlineData("unknown-node")]
    [InlineData("unexpected-listener")]
    public async Task Handshake_refusals(string fault)
    {
        (Socket client, Socket server) = await PairAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        byte[] listenerSecret = fault == "wrong-secret" ? Bytes("another secret, also long enough") : Secret;
        Task<ReplicationChannel> accept = ReplicationChannel.AcceptAsync(
            new NetworkStream(server, ownsSocket: true), "test", B, id => fault != "unknown-node", listenerSecret, new NonceCache(), 65536, cts.Token);
        Task<ReplicationChannel> connect = ReplicationChannel.ConnectAsync(
            new NetworkStream(client, ownsSocket: true), fault == "wrong-cluster" ? "other" : "test", A,
            fault == "unexpected-listener" ? new NodeId("c") : B, Secret, new NonceCache(), 65536, cts.Token);

        Exception? connectError = await Record(connect);
        Exception? acceptError = await Record(accept);
        Assert.True(connectError is not null && acceptError is not null, $"both sides fail: {connectError?.Message} / {acceptError?.Message}");
        Assert.True(
            connectError is ReplicationAuthenticationException || acceptError is ReplicationAuthenticationException,
            "at least one side reports an authentication failure");
    }

    private static async Task<Exception?> Record(Task<ReplicationChannel> task)
    {
        try
        {
            await (await task).DisposeAsync();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private static async Task<(Socket Client, Socket Server)> PairAsync()
    {
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        Task<Socket> accepted = listener.AcceptAsync();
        await client.ConnectAsync(listener.LocalEndPoint!);
        return (client, await accepted);
    }

    private sealed class TamperStream(Stream inner) : Stream
    {
        public bool CorruptNextWrite { get; set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (CorruptNextWrite)
            {
                CorruptNextWrite = false;
                byte[] copy = buffer.ToArray();
                copy[^1] ^= 0x01; // flip a bit of the GCM tag
                return inner.WriteAsync(copy, cancellationToken);
            }

            return inner.WriteAsync(buffer, cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
