namespace Tandem.Storage;

/// <summary>How subscribers are named in cluster replication (kind and key of their records).</summary>
public static class ReplicatedSubscriber
{
    /// <summary>The replicated record kind of subscribers.</summary>
    public const string Kind = "subscriber";

    /// <summary><c>user@domain</c> with the domain in lower case (domains compare case-insensitively).</summary>
    public static string Key(string username, string domain) => username + "@" + domain.ToLowerInvariant();

    /// <summary>Splits a key at its last '@' (user names may contain '@', domains cannot).</summary>
    public static (string Username, string Domain) Split(string key)
    {
        var at = key.LastIndexOf('@');
        return at < 0 ? (key, string.Empty) : (key[..at], key[(at + 1)..]);
    }
}

/// <summary>
/// One row of the subscriber change journal: an account change made on this node (by the CLI)
/// that a clustered server has not replicated yet.
/// </summary>
/// <param name="Seq">Journal order.</param>
/// <param name="Key">See <see cref="ReplicatedSubscriber.Key"/>.</param>
/// <param name="AtMs">Version time of the change (Unix ms), above every version of the key known when it was made.</param>
/// <param name="Subscriber">The account after the change; null when it was removed.</param>
public sealed record SubscriberChange(long Seq, string Key, long AtMs, Subscriber? Subscriber);
