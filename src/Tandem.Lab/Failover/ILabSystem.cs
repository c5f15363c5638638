using System.Net;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover;

/// <summary>
/// A clustered SIP service under test in the failover lab: nodes, each in its own network namespace of a
/// <see cref="NetnsLab"/>, behind one service address. Implemented by the Tandem cluster and by the classic design
/// (Kamailio behind keepalived VRRP), so the lab drives both the same way. Failures of the network (link down,
/// partition) are injected by the lab itself; failures of a node's software go through this interface because
/// each system knows which processes make up a node.
/// </summary>
public interface ILabSystem : IAsyncDisposable
{
    /// <summary>Name in reports and runs.csv, e.g. "tandem", "kamailio-vrrp-1s".</summary>
    string Name { get; }

    /// <summary>The service address (VIP); SIP on UDP port <see cref="SipPort"/>.</summary>
    IPAddress ServiceAddress { get; }

    int SipPort { get; }

    /// <summary>The SIP domain of the provisioned users (digest realm).</summary>
    string Domain { get; }

    /// <summary>Node names (also the roles of their namespaces), in the service address's preference order.</summary>
    IReadOnlyList<string> Nodes { get; }

    /// <summary>Users every node accepts (digest auth), provisioned before the nodes start.</summary>
    IReadOnlyList<(string User, string Password)> Users { get; }

    /// <summary>Starts every node (and a witness, if the system has one) and returns once the service address
    /// answers SIP OPTIONS and exactly one node holds it.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>The nodes that have the service address configured right now (normally one; two is split brain).</summary>
    Task<IReadOnlyList<string>> HoldersAsync(CancellationToken cancellationToken);

    /// <summary>kill -9 of every process of the node (a crash).</summary>
    Task CrashAsync(string node);

    /// <summary>SIGSTOP of every process of the node (a hang); <see cref="ThawAsync"/> resumes them.</summary>
    Task FreezeAsync(string node);

    Task ThawAsync(string node);

    /// <summary>Graceful stop (SIGTERM) of the node's processes; returns when they have exited.</summary>
    Task StopAsync(string node, CancellationToken cancellationToken);

    /// <summary>Starts a crashed or stopped node again and returns once it has rejoined the cluster (for the
    /// next run). Must cope with leftovers of a crash (the service address still configured in its namespace).</summary>
    Task RestartAsync(string node, CancellationToken cancellationToken);

    /// <summary>Returns once the service address is where the system keeps it in steady state after a node came back
    /// (restart, thaw, link up, partition healed), e.g. the preferred node took it back; the lab calls it before the
    /// next run so a late move does not fall into that run. Default: nothing to wait for.</summary>
    Task SettleAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
