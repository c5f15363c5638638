namespace Tandem.Cluster.Membership;

/// <summary>
/// Checks that this node can serve. The server implements it by sending a SIP OPTIONS through its
/// own stack and checking that its receive and timer loops are alive. A node whose probe keeps
/// failing says so in its heartbeats and gives up its service addresses.
/// </summary>
public interface IHealthProbe
{
    /// <summary>
    /// One check. Should finish well within <see cref="MembershipOptions.HealthTimeout"/> (the token
    /// is cancelled then and the check counts as failed). Exceptions count as failures too.
    /// </summary>
    ValueTask<HealthReport> CheckAsync(CancellationToken cancellationToken);
}

/// <summary>The outcome of one check: a score 0..100 (≥ <see cref="HealthyThreshold"/> is able to serve) and why, when it is not.</summary>
public readonly record struct HealthReport(byte Score, string? Reason = null)
{
    public const byte HealthyThreshold = 50;

    public static HealthReport Healthy => new(100);

    public bool IsHealthy => Score >= HealthyThreshold;

    public static HealthReport Failed(string reason) => new(0, reason);
}
