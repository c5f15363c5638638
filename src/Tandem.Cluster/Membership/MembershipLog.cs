using Microsoft.Extensions.Logging;

namespace Tandem.Cluster.Membership;

/// <summary>
/// Cluster log lines, event ids 6xx. Every state transition is one line with its reason; the
/// logger's timestamp is when it was logged, the event's own time is in the text. Keep the texts stable.
/// </summary>
internal static partial class MembershipLog
{
    [LoggerMessage(601, LogLevel.Warning, "cluster: peer {Member} up at {At:O}: {Reason}")]
    public static partial void PeerUp(ILogger logger, string member, DateTimeOffset at, string reason);

    [LoggerMessage(602, LogLevel.Warning, "cluster: peer {Member} down at {At:O}: {Reason}")]
    public static partial void PeerDown(ILogger logger, string member, DateTimeOffset at, string reason);

    [LoggerMessage(603, LogLevel.Information, "cluster: link {Link} to {Member} {State} at {At:O}: {Reason}")]
    public static partial void Link(ILogger logger, int link, string member, string state, DateTimeOffset at, string reason);

    [LoggerMessage(604, LogLevel.Warning, "cluster: quorum {State} at {At:O}: {Reason}")]
    public static partial void Quorum(ILogger logger, string state, DateTimeOffset at, string reason);

    [LoggerMessage(605, LogLevel.Warning, "cluster: address {Address} {Change} at {At:O}: {Reason}")]
    public static partial void Address(ILogger logger, string address, string change, DateTimeOffset at, string reason);

    [LoggerMessage(606, LogLevel.Warning, "cluster: this node {Member} health changed at {At:O}: {Reason}")]
    public static partial void Health(ILogger logger, string member, DateTimeOffset at, string reason);

    [LoggerMessage(607, LogLevel.Information, "cluster: {Member} started, incarnation {Incarnation:x16}, heartbeats every {IntervalMs} ms, down after {Misses} misses, listening on {Listen}")]
    public static partial void Started(ILogger logger, string member, ulong incarnation, double intervalMs, int misses, string listen);

    [LoggerMessage(608, LogLevel.Information, "cluster: {Member} leaving (graceful stop), handing over its addresses")]
    public static partial void Leaving(ILogger logger, string member);

    [LoggerMessage(609, LogLevel.Debug, "cluster: dropped heartbeat from {Remote}: {Reason}")]
    public static partial void Dropped(ILogger logger, string remote, string reason);

    [LoggerMessage(610, LogLevel.Warning, "cluster: {Member} has a different cluster configuration (members or service addresses); fix the config files so they agree")]
    public static partial void ConfigMismatch(ILogger logger, string member);

    [LoggerMessage(611, LogLevel.Error, "cluster: a membership event handler failed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(612, LogLevel.Debug, "cluster: sending to {Remote} on link {Link} failed: {Reason}")]
    public static partial void SendFailed(ILogger logger, string remote, int link, string reason);

    [LoggerMessage(613, LogLevel.Warning, "cluster: fencing {Member} started at {At:O}: {Reason}")]
    public static partial void FenceStarted(ILogger logger, string member, DateTimeOffset at, string reason);

    [LoggerMessage(614, LogLevel.Warning, "cluster: fencing {Member} succeeded at {At:O}: {Reason}")]
    public static partial void FenceSucceeded(ILogger logger, string member, DateTimeOffset at, string reason);

    [LoggerMessage(615, LogLevel.Error, "cluster: fencing {Member} failed at {At:O}: {Reason}")]
    public static partial void FenceFailed(ILogger logger, string member, DateTimeOffset at, string reason);

    public static void Event(ILogger logger, MembershipEvent e)
    {
        var member = e.Member?.Value ?? "";
        switch (e.Kind)
        {
            case MembershipEventKind.PeerUp:
                PeerUp(logger, member, e.At, e.Reason);
                break;
            case MembershipEventKind.PeerDown:
                PeerDown(logger, member, e.At, e.Reason);
                break;
            case MembershipEventKind.LinkUp:
            case MembershipEventKind.LinkDown:
                Link(logger, e.Link ?? 0, member, e.Kind == MembershipEventKind.LinkUp ? "up" : "down", e.At, e.Reason);
                break;
            case MembershipEventKind.QuorumGained:
            case MembershipEventKind.QuorumLost:
                Quorum(logger, e.Kind == MembershipEventKind.QuorumGained ? "gained" : "lost", e.At, e.Reason);
                break;
            case MembershipEventKind.AddressAcquired:
            case MembershipEventKind.AddressReleased:
                Address(logger, e.Address?.ToString() ?? "", e.Kind == MembershipEventKind.AddressAcquired ? "acquired" : "released", e.At, e.Reason);
                break;
            case MembershipEventKind.HealthChanged:
                Health(logger, member, e.At, e.Reason);
                break;
            case MembershipEventKind.FenceStarted:
                FenceStarted(logger, member, e.At, e.Reason);
                break;
            case MembershipEventKind.FenceSucceeded:
                FenceSucceeded(logger, member, e.At, e.Reason);
                break;
            case MembershipEventKind.FenceFailed:
                FenceFailed(logger, member, e.At, e.Reason);
                break;
        }
    }
}
