using System.Net;
using System.Text;
using Tandem.Cluster.Replication;

namespace Tandem.Cluster.Tests.Replication;

internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

internal static class TestSupport
{
    public static readonly byte[] Secret = Encoding.UTF8.GetBytes("correct horse battery staple 42!");

    public static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    public static string Text(ReplicatedRecord? r) => r is null ? "<none>" : Encoding.UTF8.GetString(r.Value.Span);

    public static ReplicationOptions Options(string node, byte[]? secret = null, int queueCapacity = 100_000, TimeSpan? syncTimeout = null) => new()
    {
        NodeId = new NodeId(node),
        ClusterName = "test",
        Secret = secret ?? Secret,
        ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        DigestInterval = TimeSpan.FromMilliseconds(100),
        IdleTimeout = TimeSpan.FromSeconds(5),
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        ConnectTimeout = TimeSpan.FromSeconds(2),
        HandshakeTimeout = TimeSpan.FromSeconds(3),
        SyncTimeout = syncTimeout ?? TimeSpan.FromSeconds(10),
        QueueCapacity = queueCapacity,
    };

    public static async Task<ReplicationNode> StartAsync(ReplicationOptions options, IReplicatedPersistence? persistence = null)
    {
        var node = new ReplicationNode(options, persistence);
        await node.StartAsync();
        return node;
    }

    /// <summary>Makes every node a peer of every other (full mesh).</summary>
    public static void Mesh(params ReplicationNode[] nodes)
    {
        foreach (ReplicationNode a in nodes)
        {
            foreach (ReplicationNode b in nodes)
            {
                if (a != b)
                {
                    a.AddPeer(new ReplicationPeerOptions(b.NodeId, [b.ListenEndPoint!]));
                }
            }
        }
    }

    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }

            await Task.Delay(20);
        }
    }

    public static Task WaitConvergedAsync(params ReplicationNode[] nodes) =>
        WaitUntilAsync(
            () => nodes.All(n => nodes.Where(o => o != n).All(o => n.IsConverged(o.NodeId))),
            "convergence of " + string.Join(",", nodes.Select(n => n.NodeId)));

    /// <summary>A loopback port that refuses connections (bound then released).</summary>
    public static IPEndPoint DeadEndPoint()
    {
        var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var ep = (IPEndPoint)l.LocalEndpoint;
        l.Stop();
        return ep;
    }

    public static async Task DisposeAllAsync(params ReplicationNode?[] nodes)
    {
        foreach (ReplicationNode? n in nodes)
        {
            if (n is not null)
            {
                await n.DisposeAsync();
            }
        }
    }
}
