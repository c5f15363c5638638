using System.Text.Json;
using System.Text.Json.Serialization;
using Tandem.Storage;

namespace Tandem.Server.Cluster;

/// <summary>
/// The value of a replicated "subscriber" record (key <see cref="ReplicatedSubscriber.Key"/>): the
/// account's HA1 hashes and flags as compact JSON — never a password. A removal is a record with
/// <c>removed: true</c> rather than a store tombstone: tombstones are purged after an hour, and a
/// node returning after longer would bring a removed account back; removals are rare and small.
/// </summary>
public static class SubscriberCodec
{
    public const string Kind = ReplicatedSubscriber.Kind;

    /// <summary>Encodes an account, or the removal of <paramref name="key"/> when <paramref name="subscriber"/> is null.</summary>
    public static byte[] Encode(string key, Subscriber? subscriber)
    {
        var (username, domain) = ReplicatedSubscriber.Split(key);
        var value = subscriber is null
            ? new SubscriberValue(username, domain, null, null, null, false, true)
            : new SubscriberValue(subscriber.Username, subscriber.Domain, subscriber.Ha1Md5, subscriber.Ha1Sha256, subscriber.DisplayName, subscriber.Enabled, false);
        return JsonSerializer.SerializeToUtf8Bytes(value, ReplicatedConfigJsonContext.Default.SubscriberValue);
    }

    /// <summary>
    /// Decodes a value: <c>Valid</c> false for garbage (the record is then ignored); otherwise the
    /// account, or null for a removal.
    /// </summary>
    public static (bool Valid, Subscriber? Subscriber) Decode(ReadOnlySpan<byte> value)
    {
        SubscriberValue? decoded;
        try
        {
            decoded = JsonSerializer.Deserialize(value, ReplicatedConfigJsonContext.Default.SubscriberValue);
        }
        catch (JsonException)
        {
            return (false, null);
        }

        if (decoded is null || string.IsNullOrEmpty(decoded.User) || string.IsNullOrEmpty(decoded.Domain))
        {
            return (false, null);
        }

        if (decoded.Removed)
        {
            return (true, null);
        }

        return decoded is { Md5: { Length: > 0 } md5, Sha256: { Length: > 0 } sha256 }
            ? (true, new Subscriber(decoded.User, decoded.Domain, md5, sha256, decoded.Display, decoded.Enabled))
            : (false, null);
    }

    internal sealed record SubscriberValue(string User, string Domain, string? Md5, string? Sha256, string? Display, bool Enabled, bool Removed);
}

/// <summary>
/// The replicated routing configuration: one "routing" record (key "routing") holding the last
/// routing document reloaded on any node (<see cref="Config.RoutingOptions.Document"/>), where it
/// came from and when. Each node validates it before use (docs/routing.md, "In a cluster").
/// </summary>
public static class RoutingCodec
{
    public const string Kind = "routing";
    public const string Key = "routing";

    public static byte[] Encode(RoutingValue value) => JsonSerializer.SerializeToUtf8Bytes(value, ReplicatedConfigJsonContext.Default.RoutingValue);

    public static RoutingValue? Decode(ReadOnlySpan<byte> value)
    {
        try
        {
            return JsonSerializer.Deserialize(value, ReplicatedConfigJsonContext.Default.RoutingValue) is { Document: not null, Node: not null } decoded ? decoded : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <param name="Document">The routing section as YAML.</param>
/// <param name="Node">The node whose file it was read from.</param>
/// <param name="File">That file's path on that node.</param>
/// <param name="At">When it was reloaded there (or the file's modification time, for a file read at start).</param>
public sealed record RoutingValue(string Document, string Node, string File, DateTimeOffset At);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SubscriberCodec.SubscriberValue))]
[JsonSerializable(typeof(RoutingValue))]
internal sealed partial class ReplicatedConfigJsonContext : JsonSerializerContext;
