using Tandem.Storage;

namespace Tandem.Server.Cluster;

/// <summary>
/// The registrar's view of state replication (null on a standalone node). <see cref="Publish"/> is
/// called under the AoR's lock right after a REGISTER's plan is applied, so the records it stamps are
/// ordered like the REGISTERs; the registrar awaits the returned task after releasing the lock and
/// only then sends the 200 OK (sync mode: until a peer acked, or degraded / timed out).
/// </summary>
public interface IBindingReplicator
{
    /// <summary>Publishes the changed bindings. Never throws for peer trouble.</summary>
    Task Publish(IReadOnlyList<Binding> upserts, IReadOnlyList<Binding> deletes, CancellationToken cancellationToken);
}
