namespace Tandem.EndToEnd.Tests.Cluster;

/// <summary>
/// The cluster tests run one at a time: each runs several `tandem` processes whose 30 ms heartbeats
/// and failure timings suffer when two such labs compete for the same cores.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection
{
    public const string Name = "Cluster (serial)";
}
