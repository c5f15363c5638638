using Microsoft.Extensions.Logging;

namespace Tandem.Cluster.Membership;

/// <summary>
/// <c>tandem witness</c>: a vote-only member for a third machine. It exchanges heartbeats with every
/// node (on all their addresses) so that a two-node cluster keeps a majority when one node dies,
/// and it reports which nodes it hears, so that two nodes that cannot hear each other but both hear
/// the witness do not both take the same address. It holds no address and runs no SIP.
/// </summary>
public sealed class WitnessService : IDisposable, IAsyncDisposable
{
    private readonly MembershipService _membership;

    /// <param name="options">
    /// The cluster as seen from the witness: <see cref="MembershipOptions.Self"/> is the witness id
    /// (<see cref="MembershipOptions.Witness"/> names it too), <see cref="MembershipOptions.Peers"/> are the nodes,
    /// <see cref="MembershipOptions.Listen"/> is the witness address.
    /// </param>
    public WitnessService(MembershipOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        if (!options.IsWitness)
        {
            throw new ArgumentException($"'{options.Self}' is not the witness of this cluster (witness id: {options.Witness?.Id.Value ?? "none"})", nameof(options));
        }

        _membership = new MembershipService(options, loggerFactory, healthProbe: null, time);
    }

    public MembershipView View => _membership.View;

    public event Action<MembershipEvent>? Changed
    {
        add => _membership.Changed += value;
        remove => _membership.Changed -= value;
    }

    public IReadOnlyList<System.Net.IPEndPoint> LocalEndPoints => _membership.LocalEndPoints;

    internal MembershipService Membership => _membership;

    public void Start() => _membership.Start();

    public void Stop() => _membership.Dispose();

    public void Dispose() => _membership.Dispose();

    public ValueTask DisposeAsync() => _membership.DisposeAsync();
}
