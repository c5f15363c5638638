using Tandem.Cluster.Replication;
using static Tandem.Cluster.Tests.Replication.TestSupport;

namespace Tandem.Cluster.Tests.Replication;

public class ClockAndStoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly NodeId A = new("a");
    private static readonly NodeId B = new("b");

    [Fact]
    public void Clock_is_monotonic_when_wall_clock_stalls_or_goes_back()
    {
        var time = new ManualTimeProvider(T0);
        var clock = new HybridLogicalClock(A, time);
        RecordVersion v1 = clock.Now();
        RecordVersion v2 = clock.Now();
        time.Advance(TimeSpan.FromSeconds(-5));
        RecordVersion v3 = clock.Now();
        Assert.True(v1 < v2 && v2 < v3);
        Assert.Equal(T0.ToUnixTimeMilliseconds(), v3.WallMs);
        Assert.Equal(2u, v3.Counter);
        time.Advance(TimeSpan.FromSeconds(10));
        RecordVersion v4 = clock.Now();
        Assert.Equal(0u, v4.Counter);
        Assert.True(v4 > v3);
    }

    [Fact]
    public void Clock_update_orders_later_writes_after_a_remote_version_from_a_fast_clock()
    {
        var time = new ManualTimeProvider(T0);
        var clock = new HybridLogicalClock(A, time, TimeSpan.FromSeconds(1));
        var remote = new RecordVersion(T0.ToUnixTimeMilliseconds() + 5000, 7, B);
        clock.Update(remote);
        RecordVersion next = clock.Now();
        Assert.True(next > remote);
        Assert.Equal(remote.WallMs, next.WallMs);
        Assert.Equal(1, clock.RemoteAheadCount);
    }

    [Fact]
    public void Version_compares_wall_then_counter_then_node_and_round_trips()
    {
        var a = new RecordVersion(100, 1, A);
        var b = new RecordVersion(100, 1, B);
        Assert.True(a < b);
        Assert.True(new RecordVersion(100, 2, A) > b);
        Assert.True(new RecordVersion(101, 0, A) > new RecordVersion(100, 9, B));
        Assert.Equal(b, RecordVersion.Parse(b.ToString()));

        byte[] buffer = new byte[b.SerializedLength];
        b.WriteTo(buffer);
        Assert.True(RecordVersion.TryRead(buffer, out RecordVersion read, out int n));
        Assert.Equal(b, read);
        Assert.Equal(buffer.Length, n);
        Assert.False(RecordVersion.TryRead(buffer.AsSpan(0, 5), out _, out _));
    }

    [Fact]
    public void Apply_is_last_writer_wins_idempotent_and_order_independent()
    {
        var older = new ReplicatedRecord("binding", "k", Bytes("old"), new RecordVersion(100, 0, A), A);
        var newer = new ReplicatedRecord("binding", "k", Bytes("new"), new RecordVersion(100, 0, B), B);

        var s1 = new ReplicatedStore();
        var changes = new List<RecordChange>();
        s1.Changed += changes.Add;
        Assert.True(s1.Apply(older));
        Assert.True(s1.Apply(newer));
        Assert.False(s1.Apply(newer));
        Assert.False(s1.Apply(older));
        Assert.Equal(2, changes.Count);
        Assert.Same(older, changes[1].Previous);

        var s2 = new ReplicatedStore();
        Assert.True(s2.Apply(newer));
        Assert.False(s2.Apply(older));

        Assert.Equal("new", Text(s1.Get("binding", "k")));
        Assert.Equal("new", Text(s2.Get("binding", "k")));
        Assert.Equal(s1.StateDigest(), s2.StateDigest());
    }

    [Fact]
    public void Digest_is_order_independent_localises_differences_and_ignores_tombstones()
    {
        var records = Enumerable.Range(0, 200)
            .Select(i => new ReplicatedRecord(i % 2 == 0 ? "binding" : "dialog", $"key-{i}", Bytes($"v{i}"), new RecordVersion(1000 + i, 0, A), A))
            .ToList();
        var s1 = new ReplicatedStore();
        var s2 = new ReplicatedStore();
        records.ForEach(r => s1.Apply(r));
        Enumerable.Reverse(records).ToList().ForEach(r => s2.Apply(r));
        Assert.Equal(s1.StateDigest().Combined, s2.StateDigest().Combined);
        Assert.Equal(100, s1.StateDigest().Kinds["dialog"].Count);

        s2.Apply(records[7] with { Value = Bytes("changed"), Version = new RecordVersion(5000, 0, B) });
        StateDigest d1 = s1.StateDigest();
        StateDigest d2 = s2.StateDigest();
        Assert.NotEqual(d1.Combined, d2.Combined);
        Assert.Equal(d1.Kinds["binding"].Value, d2.Kinds["binding"].Value);
        (string kind, int bucket) = Assert.Single(d1.Differences(d2));
        Assert.Equal("dialog", kind);
        Assert.Contains(s2.GetBucket("dialog", bucket), r => r.Key == "key-7");

        // A tombstone and an absent key are the same live state.
        var s3 = new ReplicatedStore();
        var s4 = new ReplicatedStore();
        s3.Apply(records[0]);
        s3.Apply(ReplicatedRecord.Tombstone("binding", "key-0", new RecordVersion(9000, 0, A), A));
        Assert.Equal(s4.StateDigest().Combined, s3.StateDigest().Combined);
        Assert.Empty(s3.GetAll("binding"));
    }

    [Fact]
    public void Tombstone_blocks_an_older_write_until_purged_after_retention()
    {
        var time = new ManualTimeProvider(T0);
        var store = new ReplicatedStore(TimeSpan.FromMinutes(10), time);
        long now = T0.ToUnixTimeMilliseconds();
        var live = new ReplicatedRecord("sub", "alice", Bytes("x"), new RecordVersion(now, 0, A), A);
        var tomb = ReplicatedRecord.Tombstone("sub", "alice", new RecordVersion(now, 1, A), A);
        Assert.True(store.Apply(tomb));
        Assert.False(store.Apply(live));
        Assert.Equal(1, store.TombstoneCount);

        Assert.Empty(store.PurgeTombstones());
        time.Advance(TimeSpan.FromMinutes(11));
        Assert.Same(tomb, Assert.Single(store.PurgeTombstones()));
        Assert.Equal(0, store.TombstoneCount);
    }

    [Fact]
    public void Invalid_records_are_rejected()
    {
        var store = new ReplicatedStore();
        Assert.Throws<ArgumentException>(() => store.Apply(new ReplicatedRecord("", "k", Bytes("x"), new RecordVersion(1, 0, A), A)));
        Assert.Throws<ArgumentException>(() => store.Apply(new ReplicatedRecord("k", "k", Bytes("x"), RecordVersion.Zero, A)));
        Assert.Throws<ArgumentException>(() => store.Apply(new ReplicatedRecord("k", "k", Bytes("x"), new RecordVersion(1, 0, A), A, Deleted: true)));
    }

    [Fact]
    public void Payload_reader_rejects_truncated_and_oversized_input()
    {
        byte[] frame = new PayloadWriter(FrameType.Record).U64(1)
            .Record(new ReplicatedRecord("k", "key", Bytes("value"), new RecordVersion(1, 0, A), A)).Written.ToArray();
        var ok = new PayloadReader(frame);
        ok.U64();
        Assert.Equal("key", ok.Record(1024).Key);
        ok.End();

        for (int cut = 1; cut < frame.Length; cut++)
        {
            byte[] truncated = frame[..cut];
            Assert.Throws<ReplicationProtocolException>(() =>
            {
                var r = new PayloadReader(truncated);
                r.U64();
                r.Record(1024);
                r.End();
            });
        }

        Assert.Throws<ReplicationProtocolException>(() =>
        {
            var r = new PayloadReader(frame);
            r.U64();
            r.Record(2);
        });
    }
}
