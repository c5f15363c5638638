using System.Collections.Concurrent;
using System.Net;
using Tandem.Server.Resolution.Dns;

namespace Tandem.Server.Tests.Resolution;

/// <summary>Answers from a table; any other question is NXDOMAIN. Records each question asked.</summary>
internal sealed class FakeDnsClient : IDnsClient
{
    private readonly Dictionary<(string, DnsRecordType), List<DnsRecord>> _records = [];

    public ConcurrentQueue<(string Name, DnsRecordType Type)> Asked { get; } = new();

    public FakeDnsClient A(string name, params string[] addresses) => Add(name, DnsRecordType.A, addresses.Select(a => new DnsAddressRecord(name, 60, IPAddress.Parse(a))));

    public FakeDnsClient Aaaa(string name, params string[] addresses) => Add(name, DnsRecordType.Aaaa, addresses.Select(a => new DnsAddressRecord(name, 60, IPAddress.Parse(a))));

    public FakeDnsClient Srv(string name, ushort priority, ushort weight, ushort port, string target) =>
        Add(name, DnsRecordType.Srv, [new DnsSrvRecord(name, 60, priority, weight, port, target)]);

    public FakeDnsClient Naptr(string name, ushort order, ushort preference, string flags, string services, string replacement) =>
        Add(name, DnsRecordType.Naptr, [new DnsNaptrRecord(name, 60, order, preference, flags, services, "", replacement)]);

    private FakeDnsClient Add(string name, DnsRecordType type, IEnumerable<DnsRecord> records)
    {
        if (!_records.TryGetValue((name, type), out var list))
        {
            _records[(name, type)] = list = [];
        }

        list.AddRange(records);
        return this;
    }

    public ValueTask<DnsQueryResult> QueryAsync(string name, DnsRecordType type, CancellationToken cancellationToken)
    {
        Asked.Enqueue((name, type));
        return ValueTask.FromResult(_records.TryGetValue((name, type), out var list)
            ? new DnsQueryResult(DnsQueryStatus.Success, list)
            : DnsQueryResult.Failure(DnsQueryStatus.NameError));
    }
}
