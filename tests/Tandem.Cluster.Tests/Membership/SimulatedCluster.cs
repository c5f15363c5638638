using System.Net;
using System.Text;
using Tandem.Cluster.Membership;

namespace Tandem.Cluster.Tests.Membership;

/// <summary>
/// Members' <see cref="MembershipCore"/>s on a simulated network with a manual clock: every packet
/// goes through the real codec (HMAC and all); links can be cut and members crashed.
/// </summary>
internal sealed class SimulatedCluster
{
    public static readonly byte[] Secret = Encoding.UTF8.GetBytes("0123456789abcdef-shared");

    private readonly Dictionary<string, Sim> _members = [];
    private readonly HashSet<(string From, string To, int Link)> _cut = [];
    private readonly HeartbeatFrame _frame = new();
    private readonly HeartbeatFrame _decoded = new();
    private readonly byte[] _buffer = new byte[HeartbeatCodec.MaxSize];

    public SimulatedCluster(string[] nodes, string? witness = null, int links = 1, IReadOnlyList<ServiceAddress>? addresses = null,
        FailbackOptions? failback = null, bool allowTwoNode = false, FencingOptions? fencing = null)
    {
        Nodes = nodes;
        var all = witness is null ? nodes : [.. nodes, witness];
        var port = 7000;
        var endpoints = all.ToDictionary(n => n, n => Enumerable.Range(0, links).Select(l => new IPEndPoint(IPAddress.Loopback, port++ + (100 * l))).ToList());
        foreach (var id in all)
        {
            var isWitness = id == witness;
            var options = new MembershipOptions
            {
                Self = new NodeId(id),
                Peers = [.. nodes.Where(n => n != id).Select(n => new PeerOptions(new NodeId(n), isWitness ? [endpoints[n][0]] : endpoints[n]))],
                Listen = isWitness ? [endpoints[id][0]] : endpoints[id],
                Secret = Secret,
                Witness = witness is null ? null : new WitnessOptions(new NodeId(witness), endpoints[witness][0]),
                ServiceAddresses = addresses ?? [],
                Failback = failback ?? new FailbackOptions(),
                AllowTwoNodeWithoutWitness = allowTwoNode,
                Fencing = fencing,
            };
            options.Validate();
            var table = new MemberTable(options);
            _members[id] = new Sim(options, table, new MembershipCore(options, table, Now, (ulong)Random.Shared.NextInt64(), initiallyHealthy: true));
        }
    }

    public string[] Nodes { get; }

    public TimeSpan Now { get; private set; }

    public DateTimeOffset Wall => new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero) + Now;

    public List<(string Member, MembershipEvent Event)> Events { get; } = [];

    public MembershipCore Core(string id) => _members[id].Core;

    public MembershipView View(string id) => _members[id].Core.View;

    /// <summary>Addresses member <paramref name="id"/> should hold now.</summary>
    public string[] Owned(string id) => _members[id].Crashed ? [] : [.. View(id).Owned.Select(a => a.Address)];

    public void Crash(string id) => _members[id].Crashed = true;

    public void Restart(string id)
    {
        var sim = _members[id];
        _members[id] = new Sim(sim.Options, sim.Table, new MembershipCore(sim.Options, sim.Table, Now, (ulong)Random.Shared.NextInt64(), true));
    }

    /// <summary>Cuts link <paramref name="link"/> between two members, both ways.</summary>
    public void Cut(string a, string b, int link = 0)
    {
        _cut.Add((a, b, link));
        _cut.Add((b, a, link));
    }

    public void Heal(string a, string b, int link = 0)
    {
        _cut.Remove((a, b, link));
        _cut.Remove((b, a, link));
    }

    /// <summary>Isolates a member from everyone on every link.</summary>
    public void Isolate(string id)
    {
        foreach (var other in _members.Keys.Where(k => k != id))
        {
            for (var l = 0; l < 4; l++)
            {
                Cut(id, other, l);
            }
        }
    }

    public void SetHealth(string id, HealthReport report) => _members[id].Core.SetHealth(report, Now, Wall);

    public void Leave(string id)
    {
        _members[id].Core.SetLeaving();
        Evaluate(id);
        SendFrom(id); // the handover announcement goes out at once
    }

    /// <summary>Runs the cluster for <paramref name="duration"/>: heartbeats every interval, evaluation every 5 ms.</summary>
    public void Run(TimeSpan duration)
    {
        var end = Now + duration;
        while (Now < end)
        {
            foreach (var (id, sim) in _members)
            {
                if (sim.Crashed)
                {
                    continue;
                }

                Evaluate(id);
                if (Now >= sim.NextSend)
                {
                    SendFrom(id);
                    sim.NextSend = Now + sim.Options.HeartbeatInterval;
                }
            }

            Now += TimeSpan.FromMilliseconds(5);
        }

        foreach (var id in _members.Keys.Where(k => !_members[k].Crashed))
        {
            Evaluate(id);
        }
    }

    public void RunMs(int ms) => Run(TimeSpan.FromMilliseconds(ms));

    /// <summary>Runs until <paramref name="condition"/> holds, returning the time taken; fails after <paramref name="limitMs"/>.</summary>
    public TimeSpan RunUntil(Func<bool> condition, int limitMs = 10_000)
    {
        var start = Now;
        while (!condition())
        {
            if ((Now - start).TotalMilliseconds > limitMs)
            {
                throw new TimeoutException($"condition not met within {limitMs} ms of simulated time");
            }

            RunMs(5);
        }

        return Now - start;
    }

    /// <summary>Encodes, then decodes and delivers, one heartbeat (as a replay would).</summary>
    public ReceiveOutcome Deliver(string from, string to, int link, Action<HeartbeatFrame>? tamper = null, byte[]? secret = null)
    {
        var sender = _members[from];
        var receiver = _members[to];
        sender.Core.Fill(_frame, link, Wall.ToUnixTimeMilliseconds());
        tamper?.Invoke(_frame);
        var length = HeartbeatCodec.Encode(_frame, sender.Table, secret ?? Secret, _buffer);
        return DeliverBytes(_buffer.AsSpan(0, length).ToArray(), to);
    }

    public ReceiveOutcome DeliverBytes(byte[] packet, string to)
    {
        var receiver = _members[to];
        var error = HeartbeatCodec.Decode(packet, receiver.Table, Secret, _decoded);
        if (error != HeartbeatError.None)
        {
            throw new InvalidOperationException($"dropped: {error}");
        }

        return receiver.Core.Receive(_decoded, Now, Wall);
    }

    public byte[] Encode(string from, int link)
    {
        var sender = _members[from];
        sender.Core.Fill(_frame, link, Wall.ToUnixTimeMilliseconds());
        var length = HeartbeatCodec.Encode(_frame, sender.Table, Secret, _buffer);
        return _buffer.AsSpan(0, length).ToArray();
    }

    private void Evaluate(string id)
    {
        foreach (var e in _members[id].Core.Evaluate(Now, Wall, out _))
        {
            Events.Add((id, e));
        }
    }

    private void SendFrom(string id)
    {
        var sender = _members[id];
        foreach (var (to, receiver) in _members)
        {
            if (to == id || receiver.Crashed)
            {
                continue;
            }

            var senderIsWitness = sender.Options.IsWitness;
            var receiverIsWitness = receiver.Options.IsWitness;
            var links = senderIsWitness || receiverIsWitness ? 1 : sender.Options.Listen.Count;
            for (var link = 0; link < links; link++)
            {
                if (_cut.Contains((id, to, link)))
                {
                    continue;
                }

                sender.Core.Fill(_frame, link, Wall.ToUnixTimeMilliseconds());
                var length = HeartbeatCodec.Encode(_frame, sender.Table, Secret, _buffer);
                var error = HeartbeatCodec.Decode(_buffer.AsSpan(0, length), receiver.Table, Secret, _decoded);
                if (error == HeartbeatError.None)
                {
                    receiver.Core.Receive(_decoded, Now, Wall);
                }
            }
        }
    }

    private sealed class Sim(MembershipOptions options, MemberTable table, MembershipCore core)
    {
        public MembershipOptions Options { get; } = options;

        public MemberTable Table { get; } = table;

        public MembershipCore Core { get; } = core;

        public bool Crashed { get; set; }

        public TimeSpan NextSend { get; set; }
    }
}
