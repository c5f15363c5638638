namespace Tandem.Server.Resolution.Dns;

public enum DnsQueryStatus
{
    /// <summary>At least one record of the asked type (after following CNAMEs in the answer).</summary>
    Success,

    /// <summary>The name exists but has no record of this type (NOERROR, empty answer; RFC 2308 §2.2).</summary>
    NoData,

    /// <summary>NXDOMAIN: the name does not exist (RFC 1035 §4.1.1 RCODE 3).</summary>
    NameError,

    /// <summary>Every server that answered refused or failed (SERVFAIL, REFUSED, NOTIMP, FORMERR).</summary>
    ServerFailure,

    /// <summary>No usable answer from any server within the attempts.</summary>
    Timeout,

    /// <summary>The name cannot be asked for (not a host or service name); no query was sent.</summary>
    InvalidName,
}

/// <summary>The outcome of one question; <see cref="Records"/> is empty unless the status is Success.</summary>
public sealed record DnsQueryResult(DnsQueryStatus Status, IReadOnlyList<DnsRecord> Records)
{
    internal static readonly DnsRecord[] NoRecords = [];

    public static DnsQueryResult Failure(DnsQueryStatus status) => new(status, NoRecords);
}

/// <summary>Asks one question (name, type, class IN) and answers from cache when it can.</summary>
public interface IDnsClient
{
    ValueTask<DnsQueryResult> QueryAsync(string name, DnsRecordType type, CancellationToken cancellationToken);
}
