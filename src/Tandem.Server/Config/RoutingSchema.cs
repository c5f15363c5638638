using System.Globalization;
using Tandem.Server.Routing;
using Tandem.Sip.Uris;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Tandem.Server.Config;

/// <summary>
/// The keys of the <c>routing:</c> section. <c>trusted-peers</c> is an ordinary list; the others are
/// structured (mappings, or a list of mappings) and report errors at the line of the offending
/// part, e.g. <c>tandem.yaml:31: routing.outbound-routes[0].gateways: unknown gateway 'carrier-c'</c>.
/// </summary>
internal static class RoutingSchema
{
    public const int MaxStrip = 100;

    private static readonly string[] UserKeys = ["forward-always", "forward-busy", "forward-no-answer", "no-answer-timeout-s"];
    private static readonly string[] GroupKeys = ["strategy", "members", "ring-timeout-s"];
    private static readonly string[] GatewayKeys = ["uri", "response-timeout-ms"];
    private static readonly string[] RouteKeys = ["name", "pattern", "gateways", "strip", "prepend", "allow-trusted-peers"];

    public static IEnumerable<ConfigKey> Keys =>
    [
        new("routing.trusted-peers", "list of IP addresses or CIDR blocks", ApplyTrustedPeers,
            o => o.Routing.TrustedPeers.Count == 0 ? "[]" : string.Join(", ", o.Routing.TrustedPeers)),
        new("routing.users", "mapping of user@domain to call forwarding", (o, v) => Structured(o, v, "routing.users", ReadUsers),
            o => Show(o.Routing.Users, "{}", FormatUser), structured: true),
        new("routing.ring-groups", "mapping of user@domain to ring groups", (o, v) => Structured(o, v, "routing.ring-groups", ReadGroups),
            o => Show(o.Routing.RingGroups, "{}", g => $"{g.Aor} ({Name(g.Strategy)}, {g.RingTimeoutS} s: {string.Join(", ", g.Members)})"), structured: true),
        new("routing.gateways", "mapping of names to gateways", (o, v) => Structured(o, v, "routing.gateways", ReadGateways),
            o => Show(o.Routing.Gateways, "{}", g => $"{g.Name} ({g.Uri}, {g.ResponseTimeoutMs} ms)"), structured: true),
        new("routing.outbound-routes", "list of outbound routes", (o, v) => Structured(o, v, "routing.outbound-routes", ReadRoutes),
            o => Show(o.Routing.OutboundRoutes, "[]", FormatRoute), structured: true),
    ];

    /// <summary>Rules between routing keys (and sip.domains), checked on the merged options.</summary>
    public static void Validate(TandemOptions options, Action<string, string, string[]> fail)
    {
        var r = options.Routing;
        var domains = options.Sip.Domains;
        var groups = r.RingGroups.ToDictionary(g => (g.User, g.Domain));
        var users = r.Users.ToDictionary(u => (u.User, u.Domain));

        bool Served(string domain) => domains.Count == 0 || domains.Contains(domain, StringComparer.OrdinalIgnoreCase);

        void CheckDestination(string path, RouteDestination target, string related)
        {
            if (target.Kind == DestinationKind.Local && !Served(target.Domain!))
            {
                fail(path, $"'{target}' is not in a domain this server serves (sip.domains); use a sip: URI for other domains", [related]);
            }
            else if (target.Kind == DestinationKind.Number && !r.OutboundRoutes.Any(route => route.Pattern.Matches(target.User)))
            {
                fail(path, $"no outbound route matches the number '{target.User}'", [related, "routing.outbound-routes"]);
            }
        }

        foreach (var group in r.RingGroups)
        {
            var path = $"routing.ring-groups.{group.Aor}";
            if (!Served(group.Domain))
            {
                fail(path, $"domain '{group.Domain}' is not in sip.domains", ["routing.ring-groups"]);
            }

            foreach (var member in group.Members)
            {
                if (member.Kind == DestinationKind.Local && groups.ContainsKey((member.User, member.Domain!)))
                {
                    fail(path + ".members", $"member '{member}' is itself a ring group (ring groups cannot be nested)", ["routing.ring-groups"]);
                }
                else
                {
                    CheckDestination(path + ".members", member, "routing.ring-groups");
                }
            }
        }

        foreach (var user in r.Users)
        {
            var path = $"routing.users.{user.Aor}";
            if (!Served(user.Domain))
            {
                fail(path, $"domain '{user.Domain}' is not in sip.domains", ["routing.users"]);
            }

            if (groups.ContainsKey((user.User, user.Domain)))
            {
                fail(path, $"'{user.Aor}' is also a ring group; calls to it ring the group, so forwarding here would never apply", ["routing.users"]);
            }

            foreach (var (key, target) in Forwards(user))
            {
                CheckDestination($"{path}.{key}", target, "routing.users");
            }

            if (ForwardAlwaysLoop(user, users) is { } loop)
            {
                fail($"{path}.forward-always", $"forwarding loop: {string.Join(" → ", loop)}", ["routing.users"]);
            }
        }

        var gatewayNames = r.Gateways.Select(g => g.Name).ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < r.OutboundRoutes.Count; i++)
        {
            foreach (var name in r.OutboundRoutes[i].Gateways.Where(n => !gatewayNames.Contains(n)))
            {
                var known = gatewayNames.Count == 0 ? "none are defined in routing.gateways" : "defined: " + string.Join(", ", gatewayNames.Order(StringComparer.Ordinal));
                fail($"routing.outbound-routes[{i}].gateways", $"unknown gateway '{name}' ({known})", ["routing.outbound-routes"]);
            }
        }
    }

    internal static IEnumerable<(string Key, RouteDestination Target)> Forwards(UserRouting user)
    {
        if (user.ForwardAlways is { } always)
        {
            yield return ("forward-always", always);
        }

        if (user.ForwardBusy is { } busy)
        {
            yield return ("forward-busy", busy);
        }

        if (user.ForwardNoAnswer is { } noAnswer)
        {
            yield return ("forward-no-answer", noAnswer);
        }
    }

    /// <summary>The chain of forward-always hops from <paramref name="start"/> when it comes back to <paramref name="start"/>; such a call could never ring anyone.</summary>
    private static List<string>? ForwardAlwaysLoop(UserRouting start, Dictionary<(string, string), UserRouting> users)
    {
        var chain = new List<string> { start.Aor };
        var current = start;
        while (current.ForwardAlways is { Kind: not DestinationKind.Number, Domain: { } domain } next
            && users.TryGetValue((next.User, domain), out var target) && target.ForwardAlways is not null)
        {
            chain.Add(target.Aor);
            if (target == start)
            {
                return chain;
            }

            if (chain.Count > users.Count + 1)
            {
                return null; // a loop that does not pass through start; reported from one of its own members
            }

            current = target;
        }

        return null;
    }

    private static ParseResult ApplyTrustedPeers(TandemOptions options, ConfigValue value)
    {
        var blocks = new List<CidrBlock>();
        foreach (var item in value.AsList())
        {
            if (!CidrBlock.TryParse(item, out var block, out var error))
            {
                return ParseResult.Fail(error!);
            }

            if (blocks.Contains(block))
            {
                return ParseResult.Fail($"{block} is listed twice");
            }

            blocks.Add(block);
        }

        return ParseResult.Ok(options with { Routing = options.Routing with { TrustedPeers = blocks } });
    }

    private static ParseResult Structured(TandemOptions options, ConfigValue value, string path, Func<TandemOptions, YamlNode?, Reader, TandemOptions> read)
    {
        var node = value.Node;
        if (node is null && !string.IsNullOrWhiteSpace(value.Scalar))
        {
            // From an environment variable: the same value written in YAML flow style.
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

    private static TandemOptions ReadUsers(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "routing.users";
        var users = new List<UserRouting>();
        foreach (var (name, keyNode, valueNode) in reader.Entries(node, path, "a mapping of user@domain to forwarding settings"))
        {
            if (reader.Aor(name, path, keyNode) is not { } aor)
            {
                continue;
            }

            var (user, domain) = aor;
            var entryPath = $"{path}.{user}@{domain}";
            if (users.Any(u => u.User == user && u.Domain == domain))
            {
                reader.Problem(entryPath, keyNode, $"'{user}@{domain}' is listed twice");
                continue;
            }

            var entry = new UserRouting(user, domain);
            foreach (var (key, subKey, subValue) in reader.Entries(valueNode, entryPath, "a mapping of forwarding settings", UserKeys))
            {
                var keyPath = $"{entryPath}.{key}";
                if (key == "no-answer-timeout-s")
                {
                    entry = entry with { NoAnswerTimeoutS = reader.Int(subValue, keyPath, 1, 3600) ?? entry.NoAnswerTimeoutS };
                    continue;
                }

                if (reader.Destination(subValue, keyPath, domain) is not { } target)
                {
                    continue;
                }

                if (target.Is(user, domain))
                {
                    reader.Problem(keyPath, subValue, $"'{user}@{domain}' forwards to itself");
                    continue;
                }

                entry = key switch
                {
                    "forward-always" => entry with { ForwardAlways = target },
                    "forward-busy" => entry with { ForwardBusy = target },
                    _ => entry with { ForwardNoAnswer = target },
                };
            }

            if (entry.ForwardAlways is null && entry.ForwardBusy is null && entry.ForwardNoAnswer is null && !reader.HasProblemsUnder(entryPath))
            {
                reader.Problem(entryPath, keyNode, "sets no forwarding (forward-always, forward-busy or forward-no-answer)");
            }

            users.Add(entry);
        }

        return options with { Routing = options.Routing with { Users = users } };
    }

    private static TandemOptions ReadGroups(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "routing.ring-groups";
        var groups = new List<RingGroup>();
        foreach (var (name, keyNode, valueNode) in reader.Entries(node, path, "a mapping of user@domain to ring groups"))
        {
            if (reader.Aor(name, path, keyNode) is not { } aor)
            {
                continue;
            }

            var (user, domain) = aor;
            var entryPath = $"{path}.{user}@{domain}";
            if (groups.Any(g => g.User == user && g.Domain == domain))
            {
                reader.Problem(entryPath, keyNode, $"'{user}@{domain}' is listed twice");
                continue;
            }

            var strategy = RingStrategy.Simultaneous;
            var timeout = RingGroup.DefaultRingTimeoutS;
            List<RouteDestination>? members = null;
            foreach (var (key, _, subValue) in reader.Entries(valueNode, entryPath, "a mapping of ring group settings", GroupKeys))
            {
                var keyPath = $"{entryPath}.{key}";
                switch (key)
                {
                    case "strategy":
                        var text = reader.Scalar(subValue, keyPath)?.Trim();
                        if (text is not null)
                        {
                            if (text.Equals("simultaneous", StringComparison.OrdinalIgnoreCase))
                            {
                                strategy = RingStrategy.Simultaneous;
                            }
                            else if (text.Equals("sequential", StringComparison.OrdinalIgnoreCase))
                            {
                                strategy = RingStrategy.Sequential;
                            }
                            else
                            {
                                reader.Problem(keyPath, subValue, $"must be one of simultaneous, sequential (got '{text}')");
                            }
                        }

                        break;
                    case "ring-timeout-s":
                        timeout = reader.Int(subValue, keyPath, 1, 3600) ?? timeout;
                        break;
                    default:
                        members = ReadMembers(reader, subValue, keyPath, user, domain);
                        break;
                }
            }

            if (members is null && !reader.HasProblemsUnder(entryPath))
            {
                reader.Problem($"{entryPath}.members", keyNode, "is required: list the members to ring");
            }

            groups.Add(new RingGroup(user, domain, strategy, members ?? []) { RingTimeoutS = timeout });
        }

        return options with { Routing = options.Routing with { RingGroups = groups } };
    }

    private static List<RouteDestination>? ReadMembers(Reader reader, YamlNode node, string path, string user, string domain)
    {
        if (reader.List(node, path) is not { } items)
        {
            return null;
        }

        if (items.Count == 0)
        {
            reader.Problem(path, node, "must list at least one member");
            return null;
        }

        var members = new List<RouteDestination>();
        foreach (var (text, itemNode) in items)
        {
            if (!RouteDestination.TryParse(text, domain, out var member, out var error))
            {
                reader.Problem(path, itemNode, error!);
            }
            else if (member!.Kind == DestinationKind.Number)
            {
                reader.Problem(path, itemNode, $"'{text}': tel: members are not supported (members are local users or sip: URIs)");
            }
            else if (member.Is(user, domain))
            {
                reader.Problem(path, itemNode, $"'{text}' is the ring group itself");
            }
            else if (members.Any(m => m.Kind == member.Kind && m.User == member.User && m.Domain == member.Domain))
            {
                reader.Problem(path, itemNode, $"'{text}' is listed twice");
            }
            else
            {
                members.Add(member);
            }
        }

        return members;
    }

    private static TandemOptions ReadGateways(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "routing.gateways";
        var gateways = new List<Gateway>();
        foreach (var (name, keyNode, valueNode) in reader.Entries(node, path, "a mapping of names to gateways"))
        {
            var entryPath = $"{path}.{name}";
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                reader.Problem(entryPath, keyNode, $"'{name}' is not a valid gateway name (letters, digits, '-', '_', '.')");
                continue;
            }

            string? uri = null;
            var timeout = Gateway.DefaultResponseTimeoutMs;
            foreach (var (key, _, subValue) in reader.Entries(valueNode, entryPath, "a mapping of gateway settings", GatewayKeys))
            {
                var keyPath = $"{entryPath}.{key}";
                if (key == "response-timeout-ms")
                {
                    timeout = reader.Int(subValue, keyPath, 100, 60_000) ?? timeout;
                }
                else if (reader.Scalar(subValue, keyPath)?.Trim() is { } text)
                {
                    var parsed = SipUri.TryParse(text, out var error);
                    if (parsed is null || !parsed.IsSip)
                    {
                        reader.Problem(keyPath, subValue, $"'{text}' is not a sip: or sips: URI" + (error is null ? "" : $" ({error})"));
                    }
                    else if (parsed.User is not null || parsed.Headers is not null)
                    {
                        reader.Problem(keyPath, subValue, $"'{text}' must not have a user part or headers: the dialled number becomes the user part");
                    }
                    else
                    {
                        uri = text;
                    }
                }
            }

            if (uri is null)
            {
                if (!reader.HasProblemsUnder(entryPath))
                {
                    reader.Problem($"{entryPath}.uri", keyNode, "is required, e.g. sip:gw1.example.net;transport=udp");
                }

                continue;
            }

            gateways.Add(new Gateway(name, uri) { ResponseTimeoutMs = timeout });
        }

        return options with { Routing = options.Routing with { Gateways = gateways } };
    }

    private static TandemOptions ReadRoutes(TandemOptions options, YamlNode? node, Reader reader)
    {
        const string path = "routing.outbound-routes";
        var routes = new List<OutboundRoute>();
        if (Reader.IsEmpty(node))
        {
            return options with { Routing = options.Routing with { OutboundRoutes = routes } };
        }

        if (node is not YamlSequenceNode sequence)
        {
            reader.Problem(path, node!, "must be a list of routes, e.g. - { name: pstn, pattern: \"_+X.\", gateways: [carrier-a] }");
            return options;
        }

        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var entryPath = $"{path}[{i}]";
            reader.Locate(entryPath, item);
            string? name = null;
            DialPattern? pattern = null;
            List<string>? gateways = null;
            int strip = 0;
            var prepend = "";
            var allowTrusted = false;
            foreach (var (key, _, value) in reader.Entries(item, entryPath, "a mapping of route settings", RouteKeys))
            {
                var keyPath = $"{entryPath}.{key}";
                switch (key)
                {
                    case "name":
                        name = reader.Scalar(value, keyPath)?.Trim();
                        if (name is { Length: 0 })
                        {
                            reader.Problem(keyPath, value, "must not be empty");
                        }
                        else if (name is not null && routes.Any(r => r.Name == name))
                        {
                            reader.Problem(keyPath, value, $"route name '{name}' is used twice");
                        }

                        break;
                    case "pattern":
                        if (reader.Scalar(value, keyPath)?.Trim() is { } text)
                        {
                            if (DialPattern.TryParse(text, out pattern, out var error))
                            {
                                break;
                            }

                            reader.Problem(keyPath, value, error!);
                        }

                        break;
                    case "gateways":
                        if (reader.List(value, keyPath) is { } items)
                        {
                            gateways = [.. items.Select(x => x.Text.Trim())];
                            if (gateways.Count == 0)
                            {
                                reader.Problem(keyPath, value, "must list at least one gateway");
                            }
                            else if (gateways.GroupBy(g => g).FirstOrDefault(g => g.Count() > 1) is { } twice)
                            {
                                reader.Problem(keyPath, value, $"'{twice.Key}' is listed twice");
                            }
                        }

                        break;
                    case "strip":
                        strip = reader.Int(value, keyPath, 0, MaxStrip) ?? 0;
                        break;
                    case "prepend":
                        prepend = reader.Scalar(value, keyPath) ?? "";
                        if (!prepend.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '*' or '#' or '-' or '.'))
                        {
                            reader.Problem(keyPath, value, $"'{prepend}' may only contain letters, digits, '+', '*', '#', '-' and '.'");
                        }

                        break;
                    default:
                        allowTrusted = reader.Bool(value, keyPath) ?? false;
                        break;
                }
            }

            if (reader.HasProblemsUnder(entryPath))
            {
                continue;
            }

            foreach (var (missing, present) in new[] { ("name", name is not null), ("pattern", pattern is not null), ("gateways", gateways is not null) })
            {
                if (!present)
                {
                    reader.Problem($"{entryPath}.{missing}", item, "is required");
                }
            }

            if (pattern is not null && strip > pattern.MinLength)
            {
                reader.Problem($"{entryPath}.strip", item, $"strips {strip} characters but pattern '{pattern}' matches numbers as short as {pattern.MinLength}");
            }

            if (!reader.HasProblemsUnder(entryPath))
            {
                routes.Add(new OutboundRoute(name!, pattern!, gateways!) { Strip = strip, Prepend = prepend, AllowTrustedPeers = allowTrusted });
            }
        }

        return options with { Routing = options.Routing with { OutboundRoutes = routes } };
    }

    private static string FormatUser(UserRouting u)
    {
        var parts = new List<string>();
        if (u.ForwardAlways is { } always)
        {
            parts.Add($"always: {always}");
        }

        if (u.ForwardBusy is { } busy)
        {
            parts.Add($"busy: {busy}");
        }

        if (u.ForwardNoAnswer is { } noAnswer)
        {
            parts.Add($"no answer after {u.NoAnswerTimeoutS} s: {noAnswer}");
        }

        return $"{u.Aor} ({string.Join("; ", parts)})";
    }

    private static string FormatRoute(OutboundRoute r) =>
        $"{r.Name}: {r.Pattern} → {string.Join(", ", r.Gateways)} (strip {r.Strip}, prepend \"{r.Prepend}\"{(r.AllowTrustedPeers ? ", trusted peers too" : "")})";

    private static string Show<T>(IReadOnlyList<T> items, string empty, Func<T, string> format) =>
        items.Count == 0 ? empty : string.Join(", ", items.Select(format));

    private static string Name(RingStrategy strategy) => strategy == RingStrategy.Simultaneous ? "simultaneous" : "sequential";

    /// <summary>Walks YAML nodes, collecting problems and the line of every part it visits.</summary>
    private sealed class Reader
    {
        public List<ConfigProblem> Problems { get; } = [];

        public Dictionary<string, int> Locations { get; } = new(StringComparer.Ordinal);

        public void Problem(string path, YamlNode node, string reason) => Problems.Add(new ConfigProblem(path, Line(node), reason));

        public bool HasProblemsUnder(string path) =>
            Problems.Any(p => p.KeyPath == path || (p.KeyPath.StartsWith(path, StringComparison.Ordinal) && p.KeyPath[path.Length] is '.' or '['));

        public void Locate(string path, YamlNode node) => Locations[path] = Line(node);

        public static bool IsEmpty(YamlNode? node) =>
            node is null || node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" };

        /// <summary>The entries of a mapping; unknown names (when <paramref name="known"/> is given) are reported and skipped.</summary>
        public IEnumerable<(string Name, YamlNode Key, YamlNode Value)> Entries(YamlNode? node, string path, string what, string[]? known = null)
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
                var keyPath = $"{path}.{name}";
                if (known is not null && !known.Contains(name))
                {
                    var hint = ConfigSchema.Suggest(name, known);
                    Problem(keyPath, keyNode, "unknown key" + (hint is null ? "" : $" (did you mean '{hint}'?)"));
                    continue;
                }

                Locate(keyPath, keyNode);
                yield return (name, keyNode, valueNode);
            }
        }

        public (string User, string Domain)? Aor(string name, string prefix, YamlNode keyNode)
        {
            if (!name.Contains('@', StringComparison.Ordinal) || !RouteDestination.TryParse(name, null, out var parsed, out _)
                || parsed!.Kind != DestinationKind.Local)
            {
                Problem($"{prefix}.{name}", keyNode, $"'{name}' must be user@domain");
                return null;
            }

            Locate($"{prefix}.{parsed.User}@{parsed.Domain}", keyNode);
            return (parsed.User, parsed.Domain!);
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

        public RouteDestination? Destination(YamlNode node, string path, string domain)
        {
            if (Scalar(node, path) is not { } text)
            {
                return null;
            }

            if (!RouteDestination.TryParse(text, domain, out var target, out var error))
            {
                Problem(path, node, error!);
                return null;
            }

            return target;
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

        public bool? Bool(YamlNode node, string path)
        {
            var text = Scalar(node, path)?.Trim();
            if (text is null)
            {
                return null;
            }

            if (bool.TryParse(text, out var value))
            {
                return value;
            }

            Problem(path, node, $"must be true or false (got '{text}')");
            return null;
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

        private static int Line(YamlNode node) => (int)node.Start.Line;
    }
}
