namespace Tandem.Cluster;

/// <summary>A cluster member's name from the config (e.g. "a", "node-2"); the witness has one too.</summary>
public readonly record struct NodeId(string Value)
{
    public override string ToString() => Value;
}
