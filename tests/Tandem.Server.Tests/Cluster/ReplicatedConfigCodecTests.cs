using System.Text;
using Tandem.Cluster;
using Tandem.Cluster.Replication;
using Tandem.Server.Cluster;
using Tandem.Server.Config;
using Tandem.Server.Tests.Routing;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Cluster;

/// <summary>The subscriber and routing record codecs, their merge, the routing document and the change journal.</summary>
public sealed class ReplicatedConfigCodecTests : IDisposable
{
    private static readonly Subscriber Bob = new("bob", "Example.com", "md5hash", "sha256hash", "Bob B", true);

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Subscriber_key_lowers_the_domain_and_splits_at_the_last_at_sign()
    {
        Assert.Equal("bob@example.com", ReplicatedSubscriber.Key("bob", "Example.COM"));
        Assert.Equal(("a@b", "example.com"), ReplicatedSubscriber.Split("a@b@example.com"));
    }

    [Fact]
    public void Subscriber_round_trips_and_carries_hashes_not_passwords()
    {
        var value = SubscriberCodec.Encode("bob@example.com", Bob);

        Assert.Equal((true, Bob), SubscriberCodec.Decode(value));
        var json = Encoding.UTF8.GetString(value);
        Assert.Contains("md5hash", json);
        Assert.DoesNotContain("password", json, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_removal_decodes_as_valid_and_empty_and_garbage_as_invalid()
    {
        Assert.Equal((true, null), SubscriberCodec.Decode(SubscriberCodec.Encode("bob@example.com", null)));
        Assert.False(SubscriberCodec.Decode("not json"u8).Valid);
        Assert.False(SubscriberCodec.Decode("""{"User":"bob","Domain":"example.com","Enabled":true,"Removed":false}"""u8).Valid);
        Assert.False(SubscriberCodec.Decode("""{"Domain":"example.com","Removed":true}"""u8).Valid);
    }

    [Fact]
    public void A_removal_wins_over_older_writes_and_loses_to_newer_ones_whatever_the_arrival_order()
    {
        var added = new ReplicatedRecord(SubscriberCodec.Kind, "bob@example.com", SubscriberCodec.Encode("bob@example.com", Bob), new RecordVersion(1000, 0, new NodeId("a")), new NodeId("a"));
        var removed = new ReplicatedRecord(SubscriberCodec.Kind, "bob@example.com", SubscriberCodec.Encode("bob@example.com", null), new RecordVersion(2000, 0, new NodeId("b")), new NodeId("b"));
        var readded = added with { Version = new RecordVersion(3000, 0, new NodeId("a")), Value = SubscriberCodec.Encode("bob@example.com", Bob with { Ha1Md5 = "new" }) };

        var forward = new ReplicatedStore();
        var backward = new ReplicatedStore();
        foreach (var record in new[] { added, removed })
        {
            forward.Apply(record);
        }

        foreach (var record in new[] { removed, added })
        {
            backward.Apply(record);
        }

        Assert.Equal((true, null), SubscriberCodec.Decode(forward.Get(SubscriberCodec.Kind, "bob@example.com")!.Value.Span));
        Assert.Equal((true, null), SubscriberCodec.Decode(backward.Get(SubscriberCodec.Kind, "bob@example.com")!.Value.Span));
        Assert.Equal(forward.StateDigest(), backward.StateDigest());

        // The removal is a live record, not a store tombstone: purging tombstones cannot bring bob back.
        Assert.Empty(forward.PurgeTombstones());
        forward.Apply(readded);
        Assert.Equal("new", SubscriberCodec.Decode(forward.Get(SubscriberCodec.Kind, "bob@example.com")!.Value.Span).Subscriber!.Ha1Md5);
    }

    [Fact]
    public void Routing_value_round_trips_and_garbage_is_null()
    {
        var value = new RoutingValue("routing:\n  trusted-peers: [198.18.0.0/15]\n", "a", "/etc/tandem.yaml", DateTimeOffset.FromUnixTimeMilliseconds(1_767_225_600_123));

        Assert.Equal(value, RoutingCodec.Decode(RoutingCodec.Encode(value)));
        Assert.Null(RoutingCodec.Decode("{"u8));
        Assert.Null(RoutingCodec.Decode("{}"u8));
    }

    [Fact]
    public void The_routing_document_reads_back_to_the_same_tables_and_is_stable()
    {
        var loaded = RoutingTestConfig.Load(_dir, RoutingTestConfig.Pbx);
        var routing = loaded.Options!.Routing;
        Assert.StartsWith("routing:\n", routing.Document);
        Assert.Equal(_dir.Combine("tandem.yaml"), routing.File);
        Assert.NotNull(routing.ModifiedAt);

        var again = ConfigLoader.LoadRouting(routing.Document, "replicated", loaded.Options);

        Assert.True(again.Succeeded, string.Join("; ", again.Errors));
        var copy = again.Options!.Routing;
        Assert.Equal(routing.Document, copy.Document);
        Assert.Null(copy.ModifiedAt);
        Assert.Equal(routing.OutboundRoutes.Select(r => (r.Name, r.Pattern.ToString(), r.Strip, r.Prepend)), copy.OutboundRoutes.Select(r => (r.Name, r.Pattern.ToString(), r.Strip, r.Prepend)));
        Assert.Equal(routing.Gateways, copy.Gateways);
        Assert.Equal(routing.TrustedPeers, copy.TrustedPeers);
        Assert.Equal(routing.Users.Select(u => u.Aor), copy.Users.Select(u => u.Aor));
        Assert.Equal(routing.RingGroups.Select(g => (g.Aor, g.RingTimeoutS, g.Members.Count)), copy.RingGroups.Select(g => (g.Aor, g.RingTimeoutS, g.Members.Count)));
    }

    [Fact]
    public void Routing_from_the_environment_is_part_of_the_document()
    {
        var loaded = RoutingTestConfig.Load(_dir, "sip:\n  domains: [example.com]\n", environment: new()
        {
            ["TANDEM_ROUTING_TRUSTED_PEERS"] = "198.18.0.0/15, 192.0.2.1",
            ["TANDEM_ROUTING_RING_GROUPS"] = "{ sales@example.com: { members: [alice] } }",
        });

        var routing = loaded.Options!.Routing;
        Assert.Null(routing.ModifiedAt); // nothing from the file: not published at start
        var copy = ConfigLoader.LoadRouting(routing.Document, "replicated", loaded.Options).Options!.Routing;
        Assert.Equal(routing.TrustedPeers, copy.TrustedPeers);
        Assert.Equal("sales@example.com", Assert.Single(copy.RingGroups).Aor);
    }

    [Fact]
    public void A_routing_document_is_validated_against_this_nodes_configuration()
    {
        var options = RoutingTestConfig.Load(_dir, "sip:\n  domains: [other.example.org]\n").Options!;
        var group = "routing:\n  ring-groups:\n    sales@example.com: { members: [alice] }\n";

        var foreignDomain = ConfigLoader.LoadRouting(group, "replicated from a", options);
        var otherSection = ConfigLoader.LoadRouting("sip:\n  domains: [x.org]\n", "replicated from a", options);
        var badGateway = ConfigLoader.LoadRouting("routing:\n  outbound-routes:\n    - { name: r, pattern: \"_X.\", gateways: [nope] }\n", "replicated from a", options);

        Assert.Contains(foreignDomain.Errors, e => e.ToString().Contains("sip.domains", StringComparison.Ordinal) && e.ToString().StartsWith("replicated from a", StringComparison.Ordinal));
        Assert.Contains(otherSection.Errors, e => e.Reason.Contains("only the routing section", StringComparison.Ordinal));
        Assert.Contains(badGateway.Errors, e => e.Reason.Contains("unknown gateway 'nope'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_account_change_is_journalled_with_a_version_time_above_what_the_node_knows()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        var store = new SqliteSubscriberStore(database);
        var farFuture = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        await new SqliteReplicatedPersistence(database).SaveAsync(
            [new ReplicatedRecord(SubscriberCodec.Kind, "bob@example.com", SubscriberCodec.Encode("bob@example.com", Bob), new RecordVersion(farFuture, 4, new NodeId("b")), new NodeId("b"))],
            CancellationToken.None);

        Assert.True(await store.AddAsync(Bob));
        Assert.False(await store.AddAsync(Bob)); // exists: nothing journalled
        Assert.True(await store.UpdateAsync(Bob with { Enabled = false }));
        Assert.False(await store.UpdateAsync(Bob with { Username = "nobody" }));
        Assert.Equal(1, await store.AddManyAsync([Bob, Bob with { Username = "carol" }]));
        Assert.True(await store.RemoveAsync("bob", "example.com"));

        var changes = await store.ReadChangesAsync(100);
        Assert.Equal(["bob@example.com", "bob@example.com", "carol@example.com", "bob@example.com"], changes.Select(c => c.Key));
        Assert.Equal([farFuture + 1, farFuture + 2], changes.Take(2).Select(c => c.AtMs)); // after the known version, then strictly increasing
        Assert.False(changes[1].Subscriber!.Enabled);
        Assert.Null(changes[3].Subscriber);
        Assert.True(changes[3].AtMs > changes[1].AtMs);

        // Replicated writes are not journalled; applying drops the journal up to the given row.
        await store.ApplyReplicatedAsync([("dave@example.com", Bob with { Username = "dave" }), ("carol@example.com", null)], changes[1].Seq);
        Assert.Equal(["carol@example.com", "bob@example.com"], (await store.ReadChangesAsync(100)).Select(c => c.Key));
        Assert.Equal(["dave"], (await store.ListAsync()).Select(s => s.Username));
    }

    [Fact]
    public async Task A_node_that_never_replicated_subscribers_drops_its_journal()
    {
        var database = SqliteDatabase.Open(_dir.Path);
        var store = new SqliteSubscriberStore(database);
        await store.AddAsync(Bob);

        Assert.Equal(1, await store.DiscardChangesIfNeverReplicatedAsync());
        Assert.Empty(await store.ReadChangesAsync(10));

        await store.RemoveAsync("bob", "example.com");
        await new SqliteReplicatedPersistence(database).SaveAsync(
            [new ReplicatedRecord(SubscriberCodec.Kind, "x@example.com", SubscriberCodec.Encode("x@example.com", null), new RecordVersion(1, 0, new NodeId("b")), new NodeId("b"))],
            CancellationToken.None);
        Assert.Equal(0, await store.DiscardChangesIfNeverReplicatedAsync());
        Assert.Single(await store.ReadChangesAsync(10));
    }
}
