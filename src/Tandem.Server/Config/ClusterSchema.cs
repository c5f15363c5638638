using System.Globalization;
using System.Net;
using Tandem.Cluster.Membership;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Tandem.Server.Config;

/// <summary>
/// The keys of the <c>cluster:</c> section (docs/cluster.md). <c>peers</c>, <c>witness</c>,
/// <c>service-addresses</c>, <c>failback</c> and <c>replication</c> are structured and report errors at
/// the line of the offending part, e.g. <c>tandem.yaml:40: cluster.service-addresses[0].preference: unknown node 'c' (nodes: a, b)</c>.
/// </summary>
internal static class ClusterSchema
{
    private static readonly string[] PeerKeys = ["id", "addresses", "replication"];
    private static readonly string[] WitnessKeys = ["id", "address"];
    private static readonly string[] AddressKeys = ["address", "interface", "preference"];
    private static readonly string[] FailbackKeys = ["policy", "delay-ms"];
    private static readonly string[] ReplicationKeys = ["mode", "listen", "sync-timeout-ms"];

    public static IEnumerable<ConfigKey> Keys =>
    [
        new("cluster.node-id", "node id", ApplyNodeId, o => o.Cluster.NodeId ?? "(standalone)"),
        new("cluster.secret", "string of at least 16 characters", ApplySecret, o => o.Cluster.Secret is null ? "(unset)" : "(set)"),
        ConfigSchema.Text("cluster.secret-file", required: false, o => o.Cluster.SecretFile ?? "",
            (o, v) => o with { Cluster = o.Cluster with { SecretFile = string.IsNullOrWhiteSpace(v) ? null : v } }),
        new("cluster.listen", "list of address:port", ApplyListen, o => o.Cluster.Listen.Count == 0 ? "[]" : string.Join(", ", o.Cluster.Listen)),
        new("cluster.peers", "list of peers", (o, v) => Structured(o, v, ReadPeers), o => Show(o.Cluster.Peers), structured: true),
        new("cluster.witness", "mapping with id and address", (o, v) => Structured(o, v, ReadWitness),
            o => o.Cluster.Witness?.ToString() ?? "(none)", structured: true),
        ConfigSchema.Int("cluster.heartbeat-interval-ms", 1, 10_000, o => o.Cluster.HeartbeatIntervalMs,
            (o, v) => o with { Cluster = o.Cluster with { HeartbeatIntervalMs = v } }),
        ConfigSchema.Int("cluster.heartbeat-misses", 2, 100, o => o.Cluster.HeartbeatMisses,
            (o, v) => o with { Cluster = o.Cluster with { HeartbeatMisses = v } }),
        ConfigSchema.Bool("cluster.allow-two-node-without-witness", o => o.Cluster.AllowTwoNodeWithoutWitness,
            (o, v) => o with { Cluster = o.Cluster with { AllowTwoNodeWithoutWitness = v } }),
        new("cluster.service-addresses", "list of service addresses", (o, v) => Structured(o, v, ReadServiceAddresses),
            o => o.Cluster.ServiceAddresses.Count == 0 ? "[]"
                : string.Join(", ", o.Cluster.ServiceAddresses.Select(a => $"{a} on {a.Interface} ({string.Join(" > ", a.Preference)})")), structured: true),
        new("cluster.failback", "mapping with policy and delay-ms", (o, v) => Structured(o, v, ReadFailback),
            o => o.Cluster.FailbackPolicy == FailbackPolicy.Sticky ? "sticky" : $"preempt after {o.Cluster.FailbackDelayMs} ms", structured: true),
        ConfigSchema.Text("cluster.fencing-command", required: false, o => o.Cluster.FencingCommand ?? "",
            (o, v) => o with { Cluster = o.Cluster with { FencingCommand = string.IsNullOrWhiteSpace(v) ? null : v } }),
        ConfigSchema.Int("cluster.fencing-timeout-ms", 100, 600_000, o => o.Cluster.FencingTimeoutMs,
            (o, v) => o with { Cluster = o.Cluster with { FencingTimeoutMs = v } }),
        ConfigSchema.Int("cluster.health-interval-ms", 10, 60_000, o => o.Cluster.HealthIntervalMs,
            (o, v) => o with { Cluster = o.Cluster with { HealthIntervalMs = v } }),
        ConfigSchema.Int("cluster.health-timeout-ms", 10, 60_000, o => o.Cluster.HealthTimeoutMs,
            (o, v) => o with { Cluster = o.Cluster with { HealthTimeoutMs = v } }),
        new("cluster.replication", "mapping with mode, listen and sync-timeout-ms", (o, v) => Structured(o, v, ReadReplication),
            o => $"{(o.Cluster.ReplicationMode == ReplicationMode.Sync ? "sync" : "async")}, listen {o.Cluster.ReplicationListen?.ToString() ?? "(unset)"}, sync timeout {o.Cluster.ReplicationSyncTimeoutMs} ms", structured: true),
    ];

    /// <summary>Rules between cluster keys, checked on the merged options.</summary>
    public static void Validate(TandemOptions options, Func<string, bool> isSet, Action<string, string, string[]> fail)
    {
        var c = options.Cluster;
        var all = Keys.Select(k => k.Path).ToArray();
        if (!c.Enabled)
        {
            if (all.FirstOrDefault(isSet) is { } set)
            {
                fail("cluster.node-id", $"is required when the cluster section is used ({set} is set); without it this is a standalone node", [set]);
            }

            return;
        }

        if (c.Secret is null && c.SecretFile is null)
        {
            fail("cluster.secret", "is required: set cluster.secret (≥ 16 characters) or cluster.secret-file", ["cluster.node-id"]);
        }
        else if (c.Secret is not null && c.SecretFile is not null)
        {
            fail("cluster.secret", "set either cluster.secret or cluster.secret-file, not both", ["cluster.secret-file"]);
        }
        else if (c.SecretFile is { } file)
        {
            try
            {
                var length = File.ReadAllText(file).Trim().Length;
                if (length < SharedSecretFile.MinimumLength)
                {
                    fail("cluster.secret-file", $"the secret in '{file}' must be at least {SharedSecretFile.MinimumLength} characters (got {length})", []);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                fail("cluster.secret-file", $"cannot read '{file}': {e.Message}", []);
            }
        }

        if (c.Peers.Count == 0)
        {
            fail("cluster.peers", "must list the other nodes (at least one)", ["cluster.node-id"]);
        }

        var nodes = c.Peers.Select(p => p.Id).ToList();
        if (!c.IsWitness)
        {
            nodes.Insert(0, c.NodeId!);
            if (c.Listen.Count == 0)
            {
                fail("cluster.listen", "must list this node's heartbeat address(es), one per link, e.g. [198.18.0.1:7946, 198.18.1.1:7946]", ["cluster.node-id"]);
            }
        }

        for (var i = 0; i < c.Peers.Count; i++)
        {
            var peer = c.Peers[i];
            if (peer.Id == c.NodeId)
            {
                fail($"cluster.peers[{i}].id", $"'{peer.Id}' is this node (cluster.node-id); peers are the other nodes", ["cluster.peers"]);
            }
            else if (c.Peers.Take(i).Any(p => p.Id == peer.Id))
            {
                fail($"cluster.peers[{i}].id", $"'{peer.Id}' is listed twice", ["cluster.peers"]);
            }

            if (!c.IsWitness && c.Listen.Count > 1 && peer.Addresses.Count > c.Listen.Count)
            {
                fail($"cluster.peers[{i}].addresses", $"{peer.Addresses.Count} addresses but only {c.Listen.Count} links in cluster.listen (link i pairs listen[i] with addresses[i])", ["cluster.peers"]);
            }

            if (c.ReplicationEnabled && peer.Replication is null)
            {
                fail($"cluster.peers[{i}].replication", $"peer '{peer.Id}' needs its replication endpoint (address:port) because cluster.replication.listen is set", ["cluster.replication"]);
            }
        }

        if (c.Witness is { } witness && !c.IsWitness && nodes.Contains(witness.Id))
        {
            fail("cluster.witness.id", $"'{witness.Id}' is also a node id", ["cluster.witness"]);
        }

        var members = nodes.Count + (c.Witness is null ? 0 : 1);
        if (members > MembershipOptions.MaxMembers)
        {
            fail("cluster.peers", $"at most {MembershipOptions.MaxMembers} members (nodes and witness), got {members}", []);
        }

        if (!c.IsWitness && c.Witness is null && nodes.Count == 2 && !c.AllowTwoNodeWithoutWitness)
        {
            fail("cluster.witness", "a two-node cluster needs a witness for split-brain safety; or set cluster.allow-two-node-without-witness: true " +
                "and accept that cutting the link between the nodes makes both hold the service addresses (docs/cluster.md)", ["cluster.peers"]);
        }

        for (var i = 0; i < c.ServiceAddresses.Count; i++)
        {
            var address = c.ServiceAddresses[i];
            var path = $"cluster.service-addresses[{i}]";
            if (c.ServiceAddresses.Take(i).Any(a => a.Address.Equals(address.Address)))
            {
                fail($"{path}.address", $"{address.Address} is listed twice", ["cluster.service-addresses"]);
            }

            foreach (var name in address.Preference)
            {
                if (!nodes.Contains(name))
                {
                    fail($"{path}.preference", $"unknown node '{name}' (nodes: {string.Join(", ", nodes)})", ["cluster.service-addresses"]);
                }
            }
        }

        if (c.ServiceAddresses.Count > MembershipOptions.MaxServiceAddresses)
        {
            fail("cluster.service-addresses", $"at most {MembershipOptions.MaxServiceAddresses} service addresses", []);
        }

        if (c.HealthTimeoutMs > c.HealthIntervalMs * 10)
        {
            fail("cluster.health-timeout-ms", $"must be ≤ 10 × cluster.health-interval-ms (got {c.HealthTimeoutMs} > {c.HealthIntervalMs * 10})", ["cluster.health-interval-ms"]);
        }
    }

    private static ParseResult ApplyNodeId(TandemOptions options, ConfigValue value)
    {
        var text = value.Items is null ? value.Scalar?.Trim() : null;
        if (value.Items is not null)
        {
            return ParseResult.Fail("must be a single value, not a list");
        }

        if (string.IsNullOrEmpty(text))
        {
            return ParseResult.Ok(options with { Cluster = options.Cluster with { NodeId = null } });
        }

        return NodeIdError(text) is { } error ? ParseResult.Fail(error) : ParseResult.Ok(options with { Cluster = options.Cluster with { NodeId = text } });
    }

    private static string? NodeIdError(string text) =>
        text.Length > MembershipOptions.MaxNodeIdLength || !text.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.')
            ? $"'{text}' is not a node id (1..{MembershipOptions.MaxNodeIdLength} letters, digits, '-', '_', '.')"
            : null;

    private static ParseResult ApplySecret(TandemOptions options, ConfigValue value)
    {
        if (value.Items is not null)
        {
            return ParseResult.Fail("must be a single value, not a list");
        }

        if (string.IsNullOrEmpty(value.Scalar))
        {
            return ParseResult.Ok(options with { Cluster = options.Cluster with { Secret = null } });
        }

        return value.Scalar.Length < SharedSecretFile.MinimumLength
            ? ParseResult.Fail($"must be at least {SharedSecretFile.MinimumLength} characters (got {value.Scalar.Length})")
            : ParseResult.Ok(options with { Cluster = options.Cluster with { Secret = value.Scalar } });
    }

    private static ParseResult ApplyListen(TandemOptions options, ConfigValue value)
    {
        var endpoints = new List<IPEndPoint>();
        foreach (var item in value.AsList())
        {
            if (!TryParseEndPoint(item, out var endpoint, out var error))
            {
                return ParseResult.Fail(error);
            }

            if (endpoints.Contains(endpoint))
            {
                return ParseResult.Fail($"{endpoint} is listed twice");
            }

            endpoints.Add(endpoint);
        }

        return ParseResult.Ok(options with { Cluster = options.Cluster with { Listen = endpoints } });
    }

    /// <summary><c>198.18.0.2:7946</c>, <c>[2001:db8::2]:7946</c>; without a port, 7946. No host names.</summary>
    internal static bool TryParseEndPoint(string text, out IPEndPoint endpoint, out string error)
    {
        endpoint = null!;
        error = "";
        var trimmed = text.Trim();
        string host;
        var port = ClusterOptions.DefaultPort;
        string? portText = null;
        if (trimmed.StartsWith('['))
        {
            var close = trimmed.IndexOf(']', StringComparison.Ordinal);
            host = close < 0 ? trimmed : trimmed[1..close];
            if (close >= 0 && close + 1 < trimmed.Length)
            {
                portText = trimmed[(close + 1)..].StartsWith(':') ? trimmed[(close + 2)..] : null;
                if (portText is null)
                {
                    error = $"'{text}' is not address:port";
                    return false;
                }
            }
        }
        else
        {
            var colon = trimmed.LastIndexOf(':');
            if (colon >= 0 && trimmed.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = $"'{text}': write IPv6 addresses in brackets, e.g. [2001:db8::1]:{ClusterOptions.DefaultPort}";
                return false;
            }

            host = colon < 0 ? trimmed : trimmed[..colon];
            portText = colon < 0 ? null : trimmed[(colon + 1)..];
        }

        if (!IPAddress.TryParse(host, out var address) || !host.Any(ch => ch is '.' or ':'))
        {
            error = $"'{text}' is not an IP address with a port, e.g. 198.18.0.2:{ClusterOptions.DefaultPort} (host names are not accepted)";
            return false;
        }

        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            error = $"'{text}': the port must be 0..65535";
            return false;
        }

        endpoint = new IPEndPoint(address, port);
        return true;
    }

    private static ParseResult Structured(TandemOptions options, ConfigValue value, Func<TandemOptions, YamlNode?, Reader, TandemOptions> read)
    {
        var node = value.Node;
        if (node is null && !string.IsNullOrWhiteSpace(value.Scalar))
        {
            // From an environment variable: the same value in YAML flow style.
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(value.Scalar));
            }
            catch (YamlException e)
            {
                return ParseResult.Fail($"invalid YAML: {e.Message}");
            }

            node = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
        }

        var reader = new Reader();
        var result = read(options, node, reader);
        return reader.Problems.Count > 0 ? ParseResult.Fail(reader.Problems) : ParseResult.Ok(result, reader.Locations);
    }

    private static TandemOptions ReadPeers(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "cluster.peers";
        var peers = new List<ClusterPeer>();
        foreach (var (item, itemPath) in reader.Items(node, path, "a list of peers, e.g. - { id: b, addresses: [198.18.0.2:7946] }"))
        {
            string? id = null;
            List<IPEndPoint>? addresses = null;
            IPEndPoint? replication = null;
            foreach (var (key, value) in reader.Entries(item, itemPath, "a mapping with id, addresses and replication", PeerKeys))
            {
                if (key == "id")
                {
                    id = reader.Id(value, $"{itemPath}.id");
                }
                else if (key == "replication")
                {
                    if (reader.Scalar(value, $"{itemPath}.replication") is { } text)
                    {
                        if (TryParseEndPoint(text, out var endpoint, out var error))
                        {
                            replication = endpoint;
                        }
                        else
                        {
                            reader.Problem($"{itemPath}.replication", value, error);
                        }
                    }
                }
                else
                {
                    addresses = reader.EndPoints(value, $"{itemPath}.addresses");
                }
            }

            if (reader.Required(item, itemPath, ("id", id), ("addresses", addresses)))
            {
                peers.Add(new ClusterPeer(id!, addresses!) { Replication = replication });
            }
        }

        return options with { Cluster = options.Cluster with { Peers = peers } };
    }

    private static TandemOptions ReadWitness(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "cluster.witness";
        if (Reader.IsEmpty(node))
        {
            return options with { Cluster = options.Cluster with { Witness = null } };
        }

        string? id = null;
        IPEndPoint? address = null;
        foreach (var (key, value) in reader.Entries(node, path, "a mapping with id and address", WitnessKeys))
        {
            if (key == "id")
            {
                id = reader.Id(value, $"{path}.id");
            }
            else if (reader.Scalar(value, $"{path}.address") is { } text)
            {
                if (TryParseEndPoint(text, out var endpoint, out var error))
                {
                    address = endpoint;
                }
                else
                {
                    reader.Problem($"{path}.address", value, error);
                }
            }
        }

        return reader.Required(node!, path, ("id", id), ("address", address))
            ? options with { Cluster = options.Cluster with { Witness = new ClusterWitness(id!, address!) } }
            : options;
    }

    private static TandemOptions ReadServiceAddresses(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "cluster.service-addresses";
        var addresses = new List<ClusterServiceAddress>();
        foreach (var (item, itemPath) in reader.Items(node, path, "a list of service addresses, e.g. - { address: 198.18.0.100/24, interface: br-svc, preference: [a, b] }"))
        {
            (IPAddress Address, int Prefix)? cidr = null;
            string? device = null;
            List<string>? preference = null;
            foreach (var (key, value) in reader.Entries(item, itemPath, "a mapping with address, interface and preference", AddressKeys))
            {
                var keyPath = $"{itemPath}.{key}";
                switch (key)
                {
                    case "address":
                        if (reader.Scalar(value, keyPath) is { } text)
                        {
                            cidr = ParseCidr(text);
                            if (cidr is null)
                            {
                                reader.Problem(keyPath, value, $"'{text}' is not address/prefix, e.g. 198.18.0.100/24 or 2001:db8::100/64");
                            }
                        }

                        break;
                    case "interface":
                        device = reader.Scalar(value, keyPath)?.Trim();
                        if (device is not null && (device.Length is 0 or > 15 || device.Any(ch => ch is '/' or ':' || char.IsWhiteSpace(ch) || char.IsControl(ch))))
                        {
                            reader.Problem(keyPath, value, $"'{device}' is not a network interface name (1..15 characters, no '/', ':' or spaces)");
                            device = null;
                        }

                        break;
                    default:
                        if (reader.List(value, keyPath) is { } items)
                        {
                            preference = [.. items.Select(x => x.Text.Trim())];
                            if (preference.Count == 0)
                            {
                                reader.Problem(keyPath, value, "must list at least one node");
                            }
                            else if (preference.GroupBy(p => p).FirstOrDefault(g => g.Count() > 1) is { } twice)
                            {
                                reader.Problem(keyPath, value, $"'{twice.Key}' is listed twice");
                            }
                        }

                        break;
                }
            }

            if (reader.Required(item, itemPath, ("address", cidr), ("interface", device), ("preference", preference)))
            {
                addresses.Add(new ClusterServiceAddress(cidr!.Value.Address, cidr.Value.Prefix, device!, preference!));
            }
        }

        return options with { Cluster = options.Cluster with { ServiceAddresses = addresses } };
    }

    private static (IPAddress, int)? ParseCidr(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(text[..slash].Trim(), out var address) || !text[..slash].Any(ch => ch is '.' or ':')
            || !int.TryParse(text[(slash + 1)..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var prefix)
            || prefix > (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128))
        {
            return null;
        }

        return (address, prefix);
    }

    private static TandemOptions ReadFailback(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "cluster.failback";
        var cluster = options.Cluster with { FailbackPolicy = FailbackPolicy.Preempt, FailbackDelayMs = 30_000 };
        foreach (var (key, value) in reader.Entries(node, path, "a mapping with policy and delay-ms", FailbackKeys))
        {
            if (key == "policy")
            {
                switch (reader.Scalar(value, $"{path}.policy")?.Trim().ToLowerInvariant())
                {
                    case null:
                        break;
                    case "preempt":
                        cluster = cluster with { FailbackPolicy = FailbackPolicy.Preempt };
                        break;
                    case "sticky":
                        cluster = cluster with { FailbackPolicy = FailbackPolicy.Sticky };
                        break;
                    case var other:
                        reader.Problem($"{path}.policy", value, $"must be one of preempt, sticky (got '{other}')");
                        break;
                }
            }
            else
            {
                cluster = cluster with { FailbackDelayMs = reader.Int(value, $"{path}.delay-ms", 0, 86_400_000) ?? cluster.FailbackDelayMs };
            }
        }

        return options with { Cluster = cluster };
    }

    private static TandemOptions ReadReplication(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "cluster.replication";
        var cluster = options.Cluster with { ReplicationMode = ReplicationMode.Sync, ReplicationListen = null, ReplicationSyncTimeoutMs = ClusterOptions.DefaultReplicationSyncTimeoutMs };
        foreach (var (key, value) in reader.Entries(node, path, "a mapping with mode, listen and sync-timeout-ms", ReplicationKeys))
        {
            if (key == "mode")
            {
                switch (reader.Scalar(value, $"{path}.mode")?.Trim().ToLowerInvariant())
                {
                    case null:
                        break;
                    case "sync":
                        cluster = cluster with { ReplicationMode = ReplicationMode.Sync };
                        break;
                    case "async":
                        cluster = cluster with { ReplicationMode = ReplicationMode.Async };
                        break;
                    case var other:
                        reader.Problem($"{path}.mode", value, $"must be one of sync, async (got '{other}')");
                        break;
                }
            }
            else if (key == "sync-timeout-ms")
            {
                if (reader.Scalar(value, $"{path}.sync-timeout-ms") is { } ms)
                {
                    if (int.TryParse(ms, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var timeout) && timeout is >= 10 and <= 60_000)
                    {
                        cluster = cluster with { ReplicationSyncTimeoutMs = timeout };
                    }
                    else
                    {
                        reader.Problem($"{path}.sync-timeout-ms", value, $"must be a whole number of milliseconds, 10..60000 (got '{ms}')");
                    }
                }
            }
            else if (reader.Scalar(value, $"{path}.listen") is { } text)
            {
                if (TryParseEndPoint(text, out var endpoint, out var error))
                {
                    cluster = cluster with { ReplicationListen = endpoint };
                }
                else
                {
                    reader.Problem($"{path}.listen", value, error);
                }
            }
        }

        return options with { Cluster = cluster };
    }

    private static string Show<T>(IReadOnlyList<T> items) => items.Count == 0 ? "[]" : string.Join("; ", items);

    /// <summary>Walks YAML nodes, collecting problems and the line of every part it visits.</summary>
    private sealed class Reader
    {
        public List<ConfigProblem> Problems { get; } = [];

        public Dictionary<string, int> Locations { get; } = new(StringComparer.Ordinal);

        public static bool IsEmpty(YamlNode? node) =>
            node is null || node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" };

        public void Problem(string path, YamlNode node, string reason) => Problems.Add(new ConfigProblem(path, Line(node), reason));

        public IEnumerable<(YamlNode Item, string Path)> Items(YamlNode? node, string path, string what)
        {
            if (IsEmpty(node))
            {
                yield break;
            }

            if (node is not YamlSequenceNode sequence)
            {
                Problem(path, node!, $"must be {what}");
                yield break;
            }

            for (var i = 0; i < sequence.Children.Count; i++)
            {
                var itemPath = $"{path}[{i}]";
                Locations[itemPath] = Line(sequence.Children[i]);
                yield return (sequence.Children[i], itemPath);
            }
        }

        public IEnumerable<(string Name, YamlNode Value)> Entries(YamlNode? node, string path, string what, string[] known)
        {
            if (IsEmpty(node))
            {
                yield break;
            }

            if (node is not YamlMappingNode mapping)
            {
                Problem(path, node!, $"must be {what}");
                yield break;
            }

            foreach (var (keyNode, valueNode) in mapping.Children)
            {
                var name = (keyNode as YamlScalarNode)?.Value ?? "";
                if (!known.Contains(name))
                {
                    var hint = ConfigSchema.Suggest(name, known);
                    Problem($"{path}.{name}", keyNode, "unknown key" + (hint is null ? "" : $" (did you mean '{hint}'?)"));
                    continue;
                }

                Locations[$"{path}.{name}"] = Line(keyNode);
                yield return (name, valueNode);
            }
        }

        /// <summary>Reports the missing ones (unless the item already has problems); true when all are present.</summary>
        public bool Required(YamlNode item, string path, params (string Name, object? Value)[] parts)
        {
            if (Problems.Any(p => p.KeyPath == path || p.KeyPath.StartsWith(path + ".", StringComparison.Ordinal)))
            {
                return false;
            }

            var ok = true;
            foreach (var (name, value) in parts.Where(p => p.Value is null))
            {
                Problem($"{path}.{name}", item, "is required");
                ok = false;
            }

            return ok;
        }

        public string? Scalar(YamlNode node, string path)
        {
            if (node is YamlScalarNode scalar)
            {
                return IsEmpty(scalar) ? "" : scalar.Value ?? "";
            }

            Problem(path, node, "must be a single value");
            return null;
        }

        public string? Id(YamlNode node, string path)
        {
            var text = Scalar(node, path)?.Trim();
            if (text is null)
            {
                return null;
            }

            if (text.Length == 0 || NodeIdError(text) is not null)
            {
                Problem(path, node, NodeIdError(text) ?? "must not be empty");
                return null;
            }

            return text;
        }

        public int? Int(YamlNode node, string path, int min, int max)
        {
            var text = Scalar(node, path)?.Trim();
            if (text is null)
            {
                return null;
            }

            if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            {
                Problem(path, node, $"must be an integer (got '{text}')");
                return null;
            }

            if (n < min || n > max)
            {
                Problem(path, node, $"must be between {min} and {max} (got {n})");
                return null;
            }

            return n;
        }

        public List<(string Text, YamlNode Node)>? List(YamlNode node, string path)
        {
            if (node is not YamlSequenceNode sequence)
            {
                Problem(path, node, "must be a list, e.g. [a, b]");
                return null;
            }

            var items = new List<(string, YamlNode)>();
            foreach (var item in sequence.Children)
            {
                if (item is not YamlScalarNode { Value: { } text })
                {
                    Problem(path, item, "list items must be plain values");
                    return null;
                }

                items.Add((text, item));
            }

            return items;
        }

        public List<IPEndPoint>? EndPoints(YamlNode node, string path)
        {
            if (List(node, path) is not { } items)
            {
                return null;
            }

            if (items.Count == 0)
            {
                Problem(path, node, "must list at least one address");
                return null;
            }

            var result = new List<IPEndPoint>();
            foreach (var (text, itemNode) in items)
            {
                if (!TryParseEndPoint(text, out var endpoint, out var error))
                {
                    Problem(path, itemNode, error);
                    return null;
                }

                if (result.Contains(endpoint))
                {
                    Problem(path, itemNode, $"{endpoint} is listed twice");
                    return null;
                }

                result.Add(endpoint);
            }

            return result;
        }

        private static int Line(YamlNode node) => (int)node.Start.Line;
    }
}
