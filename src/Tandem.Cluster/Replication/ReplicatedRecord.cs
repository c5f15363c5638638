namespace Tandem.Cluster.Replication;

/// <summary>
/// One replicated value: the state of <paramref name="Key"/> in the map <paramref name="Kind"/>
/// (e.g. kind "binding", key "sip:alice@example.com|sip:alice@10.0.0.5:5060"). The value is opaque
/// to the cluster layer; the server serialises its own record types into it. A tombstone
/// (<paramref name="Deleted"/> = true, empty value) records a deletion so that an older copy
/// arriving late cannot bring the key back.
/// </summary>
/// <param name="Kind">Name of the map, 1..<see cref="MaxKindBytes"/> UTF-8 bytes.</param>
/// <param name="Key">Key within the kind, 1..<see cref="MaxKeyBytes"/> UTF-8 bytes.</param>
/// <param name="Value">Opaque payload; empty for a tombstone. Treated as immutable once published.</param>
/// <param name="Version">Orders writes to the key: the highest version wins everywhere.</param>
/// <param name="Origin">The node that made this version (informational; the version carries the tie-break).</param>
/// <param name="Deleted">True for a tombstone.</param>
public sealed record ReplicatedRecord(
    string Kind,
    string Key,
    ReadOnlyMemory<byte> Value,
    RecordVersion Version,
    NodeId Origin,
    bool Deleted = false)
{
    public const int MaxKindBytes = 64;
    public const int MaxKeyBytes = 1024;

    /// <summary>A tombstone for <paramref name="key"/>.</summary>
    public static ReplicatedRecord Tombstone(string kind, string key, RecordVersion version, NodeId origin) =>
        new(kind, key, ReadOnlyMemory<byte>.Empty, version, origin, Deleted: true);

    /// <summary>Throws <see cref="ArgumentException"/> unless the record is well-formed.</summary>
    public void Validate(int maxValueBytes = int.MaxValue)
    {
        if (string.IsNullOrEmpty(Kind) || RecordVersion.Strict.GetByteCount(Kind) > MaxKindBytes)
        {
            throw new ArgumentException($"Record kind must be 1..{MaxKindBytes} UTF-8 bytes.");
        }

        if (string.IsNullOrEmpty(Key) || RecordVersion.Strict.GetByteCount(Key) > MaxKeyBytes)
        {
            throw new ArgumentException($"Record key must be 1..{MaxKeyBytes} UTF-8 bytes.");
        }

        if (Deleted && !Value.IsEmpty)
        {
            throw new ArgumentException("A tombstone has an empty value.");
        }

        if (Value.Length > maxValueBytes)
        {
            throw new ArgumentException($"Record value exceeds {maxValueBytes} bytes.");
        }

        if (Version.IsZero || string.IsNullOrEmpty(Version.Node.Value))
        {
            throw new ArgumentException("A record needs a version made by a clock.");
        }
    }

    public override string ToString() =>
        $"{Kind}/{Key} {Version}{(Deleted ? " (deleted)" : $" ({Value.Length} bytes)")}";
}
