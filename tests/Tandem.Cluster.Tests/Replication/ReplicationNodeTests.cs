using System.Net.Sockets;
using System.Security.Cryptography;
using Tandem.Cluster.Replication;
using static Tandem.Cluster.Tests.Replication.TestSupport;

namespace Tandem.Cluster.Tests.Replication;

public class ReplicationNodeTests
{
    [Fact(Timeout = 60_000)]
    public async Task Two_nodes_converge_after_concurrent_writes_to_the_same_key()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        try
        {
            Mesh(a, b);
            var writes = new List<Task<PublishResult>>();
            for (int i = 0; i < 200; i++)
            {
                writes.Add(a.PutAsync("binding", $"k{i % 20}", Bytes($"a{i}"), Durability.Async));
                writes.Add(b.PutAsync("binding", $"k{i % 20}", Bytes($"b{i}"), Durability.Async));
            }

            await Task.WhenAll(writes);
            await WaitConvergedAsync(a, b);
            for (int k = 0; k < 20; k++)
            {
                ReplicatedRecord ra = a.Store.Get("binding", $"k{k}")!;
                ReplicatedRecord rb = b.Store.Get("binding", $"k{k}")!;
                Assert.Equal(ra.Version, rb.Version);
                Assert.Equal(Text(ra), Text(rb));
            }

            Assert.Equal(a.Store.StateDigest(), b.Store.StateDigest());
            Assert.Equal(0, a.ProtocolErrors + b.ProtocolErrors + a.AuthenticationFailures + b.AuthenticationFailures);
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Three_nodes_converge_on_the_highest_version_of_each_key()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        ReplicationNode c = await StartAsync(Options("c"));
        try
        {
            Mesh(a, b, c);
            ReplicationNode[] nodes = [a, b, c];
            await Parallel.ForEachAsync(Enumerable.Range(0, 300), async (i, ct) =>
            {
                ReplicationNode n = nodes[i % 3];
                await n.PutAsync("dialog", $"call{i % 10}", Bytes($"{n.NodeId}-{i}"), Durability.Async, ct);
                if (i % 50 == 0)
                {
                    await n.DeleteAsync("dialog", $"call{i % 10}", Durability.Async, ct);
                }
            });

            await WaitConvergedAsync(a, b, c);
            for (int k = 0; k < 10; k++)
            {
                RecordVersion max = nodes.Select(n => n.Store.Get("dialog", $"call{k}")!.Version).Max();
                foreach (ReplicationNode n in nodes)
                {
                    Assert.Equal(max, n.Store.Get("dialog", $"call{k}")!.Version);
                }
            }
        }
        finally
        {
            await DisposeAllAsync(a, b, c);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Applying_a_replicated_record_twice_is_harmless()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        try
        {
            Mesh(a, b);
            await WaitUntilAsync(() => a.GetPeerStatus(b.NodeId).OutboundConnected, "a connected to b");
            Assert.Equal(PublishResult.Acknowledged, await a.PutAsync("cdr", "id-1", Bytes("cdr"), Durability.Sync));
            ReplicatedRecord copy = b.Store.Get("cdr", "id-1")!;
            StateDigest before = b.Store.StateDigest();
            int changes = 0;
            b.Store.Changed += _ => changes++;

            Assert.False(b.Store.Apply(copy, a.NodeId));
            Assert.Equal(PublishResult.Superseded, await a.PublishAsync(copy, Durability.Async));
            Assert.Equal(0, changes);
            Assert.Equal(before, b.Store.StateDigest());
            await WaitConvergedAsync(a, b);
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 90_000)]
    public async Task Connections_killed_mid_stream_resume_without_loss_or_snapshot()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        try
        {
            Mesh(a, b);
            await WaitUntilAsync(() => a.GetPeerStatus(b.NodeId).OutboundConnected, "a connected to b");
            Task writer = Task.Run(async () =>
            {
                for (int i = 0; i < 3000; i++)
                {
                    await a.PutAsync("binding", $"aor{i}", Bytes($"v{i}"), Durability.Async);
                    if (i % 100 == 0)
                    {
                        await Task.Delay(5);
                    }
                }
            });

            for (int kill = 0; kill < 5; kill++)
            {
                await Task.Delay(40);
                a.AbortConnections();
                b.AbortConnections();
            }

            await writer;
            await WaitUntilAsync(() => b.Store.Count == 3000, "b has all 3000 records");
            await WaitConvergedAsync(a, b);
            PeerStatus status = a.GetPeerStatus(b.NodeId);
            Assert.True(status.Connects > 1, "reconnected");
            Assert.Equal(1, b.GetPeerStatus(a.NodeId).SnapshotsReceived); // the first connection only: every reconnect resumed
            Assert.Equal(0, status.Overflows);
            await WaitUntilAsync(() => a.GetPeerStatus(b.NodeId).QueuedRecords == 0, "everything acked");
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task A_late_joiner_gets_a_snapshot_including_deletions()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        ReplicationNode? c = null;
        try
        {
            Mesh(a, b);
            for (int i = 0; i < 50; i++)
            {
                await a.PutAsync("subscriber", $"user{i}", Bytes($"ha1-{i}"), Durability.Async);
            }

            await b.PutAsync("routing", "config", Bytes("v1"), Durability.Async);
            await WaitConvergedAsync(a, b);
            ReplicatedRecord old = a.Store.Get("subscriber", "user0")!;
            await a.DeleteAsync("subscriber", "user0", Durability.Async);
            await WaitConvergedAsync(a, b);

            c = await StartAsync(Options("c"));
            // c holds a stale copy of a deleted key: the snapshot's tombstone must win.
            Assert.True(c.Store.Apply(old));
            c.AddPeer(new ReplicationPeerOptions(a.NodeId, [a.ListenEndPoint!]));
            c.AddPeer(new ReplicationPeerOptions(b.NodeId, [b.ListenEndPoint!]));
            a.AddPeer(new ReplicationPeerOptions(c.NodeId, [c.ListenEndPoint!]));
            b.AddPeer(new ReplicationPeerOptions(c.NodeId, [c.ListenEndPoint!]));
            await WaitConvergedAsync(a, b, c);
            Assert.Equal(50, c.Store.Count); // 49 subscribers + routing config
            Assert.True(c.Store.Get("subscriber", "user0")!.Deleted);
            Assert.Equal("v1", Text(c.Store.Get("routing", "config")));
            Assert.True(c.GetPeerStatus(a.NodeId).SnapshotsReceived >= 1);
        }
        finally
        {
            await DisposeAllAsync(a, b, c);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Digests_differ_before_and_are_equal_after_convergence()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        try
        {
            await a.PutAsync("binding", "x", Bytes("1"), Durability.Async);
            await b.PutAsync("dialog", "y", Bytes("2"), Durability.Async);
            Assert.NotEqual(a.Store.StateDigest(), b.Store.StateDigest());
            Mesh(a, b);
            await WaitUntilAsync(() => a.RemoteDigest(b.NodeId) is not null && b.RemoteDigest(a.NodeId) is not null, "digests exchanged");
            await WaitConvergedAsync(a, b);
            Assert.Equal(a.Store.StateDigest(), b.Store.StateDigest());
            Assert.True(a.IsConvergedWithAll && b.IsConvergedWithAll);

            await a.PutAsync("binding", "x", Bytes("3"), Durability.Async);
            Assert.False(a.IsConverged(b.NodeId) && a.Store.StateDigest() == b.RemoteDigest(a.NodeId));
            await WaitConvergedAsync(a, b);
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Sync_publish_completes_after_the_peer_holds_the_record()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        try
        {
            Mesh(a, b);
            await WaitUntilAsync(() => a.GetPeerStatus(b.NodeId).OutboundConnected, "a connected to b");
            for (int i = 0; i < 20; i++)
            {
                Assert.Equal(PublishResult.Acknowledged, await a.PutAsync("binding", $"aor{i}", Bytes("c"), Durability.Sync));
                Assert.NotNull(b.Store.Get("binding", $"aor{i}"));
            }

            Assert.Equal(20, a.SyncAcknowledged);
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Sync_publish_degrades_when_no_peer_is_connected_and_times_out_when_the_peer_stalls()
    {
        // Peer configured but down: nothing to wait for.
        ReplicationNode a = await StartAsync(Options("a", syncTimeout: TimeSpan.FromMilliseconds(300)));
        ReplicationNode b = await StartAsync(Options("b"));
        using var release = new ManualResetEventSlim(false);
        try
        {
            a.AddPeer(new ReplicationPeerOptions(new NodeId("down"), [DeadEndPoint()]));
            Assert.Equal(PublishResult.Degraded, await a.PutAsync("binding", "k", Bytes("v"), Durability.Sync));
            Assert.Equal(1, a.SyncDegraded);

            // A connected peer that does not ack in time: bounded wait, the record stays queued.
            Mesh(a, b);
            await WaitUntilAsync(() => a.GetPeerStatus(b.NodeId).OutboundConnected, "a connected to b");
            await WaitConvergedAsync(a, b);
            b.Store.Changed += c =>
            {
                if (c.Record.Key == "stall")
                {
                    release.Wait(TimeSpan.FromSeconds(30));
                }
            };
            Assert.Equal(PublishResult.TimedOut, await a.PutAsync("binding", "stall", Bytes("v"), Durability.Sync));
            Assert.Equal(1, a.SyncTimedOut);
            release.Set();
            await WaitUntilAsync(() => b.Store.Get("binding", "stall") is not null, "stalled record delivered later");
        }
        finally
        {
            release.Set();
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task A_node_with_the_wrong_secret_is_rejected_both_ways()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b", secret: Bytes("a different secret of 32 bytes!!")));
        try
        {
            await a.PutAsync("binding", "k", Bytes("v"), Durability.Async);
            Mesh(a, b);
            await WaitUntilAsync(() => a.AuthenticationFailures >= 2 && b.AuthenticationFailures >= 2, "handshakes refused on both sides");
            Assert.Null(b.Store.Get("binding", "k"));
            Assert.False(a.GetPeerStatus(b.NodeId).OutboundConnected);
            Assert.False(b.GetPeerStatus(a.NodeId).OutboundConnected);
            Assert.Equal(PublishResult.Degraded, await a.PutAsync("binding", "k2", Bytes("v"), Durability.Sync));
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Garbage_and_replayed_nonces_are_refused_and_the_listener_keeps_working()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        try
        {
            a.AddPeer(new ReplicationPeerOptions(b.NodeId, [b.ListenEndPoint!])); // a accepts b; b does not dial yet

            byte[][] junk =
            [
                RandomNumberGenerator.GetBytes(3000),
                [0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3],
                [0, 0, 0, 0],
                [0, 0, 0, 3, 99, 1, 2],
                [0, 0, 0, 10, 1, 0, 1, 0, 4, (byte)'t'],
                new PayloadWriter(FrameType.Record).U64(1).Written.ToArray() is var rec ? [0, 0, 0, (byte)rec.Length, .. rec] : [],
            ];
            foreach (byte[] bytes in junk)
            {
                Assert.True(await SendAndSeeCloseAsync(a, bytes), "connection closed");
            }

            await WaitUntilAsync(() => a.ProtocolErrors >= junk.Length, "protocol errors counted");

            // A HELLO replayed with the same nonce: the second one gets no reply.
            byte[] nonce = RandomNumberGenerator.GetBytes(32);
            byte[] hello = new PayloadWriter(FrameType.Hello).U16(1).Str("test").Str("b").Raw(nonce).Written.ToArray();
            byte[] framed = [0, 0, (byte)(hello.Length >> 8), (byte)hello.Length, .. hello];
            Assert.False(await SendAndSeeCloseAsync(a, framed), "first HELLO is answered");
            long failures = a.AuthenticationFailures;
            Assert.True(await SendAndSeeCloseAsync(a, framed), "replayed HELLO is refused");
            Assert.Equal(failures + 1, a.AuthenticationFailures);

            // The listener still serves real peers.
            await a.PutAsync("binding", "k", Bytes("v"), Durability.Async);
            b.AddPeer(new ReplicationPeerOptions(a.NodeId, [a.ListenEndPoint!]));
            await WaitConvergedAsync(a, b);
            Assert.Equal("v", Text(b.Store.Get("binding", "k")));
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task A_peer_that_fell_behind_the_queue_capacity_gets_a_snapshot()
    {
        ReplicationNode a = await StartAsync(Options("a", queueCapacity: 10));
        ReplicationNode b = await StartAsync(Options("b"));
        try
        {
            b.AddPeer(new ReplicationPeerOptions(a.NodeId, [a.ListenEndPoint!]));
            a.AddPeer(new ReplicationPeerOptions(b.NodeId, [DeadEndPoint(), b.ListenEndPoint!])); // first endpoint refuses
            await WaitUntilAsync(() => a.GetPeerStatus(b.NodeId).OutboundConnected, "a connected to b via its second endpoint");
            await WaitConvergedAsync(a, b);

            using var release = new ManualResetEventSlim(false);
            b.Store.Changed += c =>
            {
                if (c.Record.Key == "k0")
                {
                    release.Wait(TimeSpan.FromSeconds(30));
                }
            };
            for (int i = 0; i < 100; i++)
            {
                await a.PutAsync("binding", $"k{i}", Bytes($"v{i}"), Durability.Async);
            }

            Assert.True(a.GetPeerStatus(b.NodeId).Overflows > 0);
            release.Set();
            await WaitUntilAsync(() => b.Store.Count == 100, "b caught up");
            await WaitConvergedAsync(a, b);
            Assert.True(a.GetPeerStatus(b.NodeId).SnapshotsSent >= 2);
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Restarting_the_whole_cluster_loses_nothing()
    {
        var pa = new InMemoryReplicatedPersistence();
        var pb = new InMemoryReplicatedPersistence();
        ReplicationNode a = await StartAsync(Options("a"), pa);
        ReplicationNode b = await StartAsync(Options("b"), pb);
        RecordVersion last;
        try
        {
            Mesh(a, b);
            for (int i = 0; i < 30; i++)
            {
                await a.PutAsync("binding", $"k{i}", Bytes($"a{i}"), Durability.Async);
                await b.PutAsync("cdr", $"c{i}", Bytes($"b{i}"), Durability.Async);
            }

            await b.DeleteAsync("binding", "k0", Durability.Async);
            await WaitConvergedAsync(a, b);
            last = a.Clock.Current;
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }

        Assert.Equal(60, pa.Count); // 30 bindings (one a tombstone) + 30 CDRs
        Assert.Equal(60, pb.Count);
        a = await StartAsync(Options("a"), pa);
        b = await StartAsync(Options("b"), pb);
        try
        {
            Assert.Equal(59, a.Store.Count);
            Assert.True(a.Store.Get("binding", "k0")!.Deleted);
            Assert.True(a.NewVersion() > last);
            Mesh(a, b);
            await WaitConvergedAsync(a, b);
            Assert.Equal(59, b.Store.Count);
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task A_stable_digest_mismatch_is_repaired_by_resending_the_differing_buckets()
    {
        ReplicationNode a = await StartAsync(Options("a"));
        ReplicationNode b = await StartAsync(Options("b"));
        try
        {
            Mesh(a, b);
            await a.PutAsync("binding", "shared", Bytes("x"), Durability.Async);
            await WaitConvergedAsync(a, b);

            // A record b believes came from a is never streamed back to a: only anti-entropy can fix it.
            var orphan = new ReplicatedRecord("binding", "orphan", Bytes("o"), b.NewVersion(), b.NodeId);
            Assert.True(b.Store.Apply(orphan, a.NodeId));
            await WaitUntilAsync(() => a.Store.Get("binding", "orphan") is not null, "orphan repaired onto a");
            await WaitConvergedAsync(a, b);
            Assert.True(b.GetPeerStatus(a.NodeId).RepairsSent >= 1);
        }
        finally
        {
            await DisposeAllAsync(a, b);
        }
    }

    /// <summary>Sends bytes to the node's listener; true when the node closes the connection without replying.</summary>
    private static async Task<bool> SendAndSeeCloseAsync(ReplicationNode node, byte[] bytes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(node.ListenEndPoint!);
        NetworkStream stream = client.GetStream();
        try
        {
            await stream.WriteAsync(bytes);
        }
        catch (IOException)
        {
            return true;
        }

        byte[] buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            int n = await stream.ReadAsync(buffer, timeout.Token);
            return n == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }
}
