using System.Collections;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Tandem.Server.Config;

/// <summary>The outcome of loading: options when there were no errors, else every error found.</summary>
public sealed class ConfigResult
{
    internal ConfigResult(TandemOptions? options, IReadOnlyList<ConfigError> errors, string? file, IReadOnlyDictionary<string, ConfigOrigin> origins)
    {
        Options = options;
        Errors = errors;
        File = file;
        Origins = origins;
    }

    /// <summary>Merged and validated options; null when <see cref="Errors"/> is not empty.</summary>
    public TandemOptions? Options { get; }

    public IReadOnlyList<ConfigError> Errors { get; }

    /// <summary>The YAML file read, or null when only defaults (and overrides) were used.</summary>
    public string? File { get; }

    /// <summary>Where each key's effective value came from (keys absent here are defaults).</summary>
    public IReadOnlyDictionary<string, ConfigOrigin> Origins { get; }

    public bool Succeeded => Options is not null;

    /// <summary>One line per key: <c>registrar.min-expires = 60  (tandem.yaml:12)</c>.</summary>
    public IEnumerable<string> Describe()
    {
        if (Options is null)
        {
            yield break;
        }

        var width = ConfigSchema.Keys.Max(k => k.Path.Length);
        foreach (var key in ConfigSchema.Keys)
        {
            var origin = Origins.TryGetValue(key.Path, out var o) ? o : ConfigOrigin.Default;
            yield return $"{key.Path.PadRight(width)} = {key.Format(Options)}  ({origin})";
        }
    }
}

/// <summary>
/// Builds <see cref="TandemOptions"/> from, in increasing precedence: built-in defaults, one YAML
/// file, <c>TANDEM_*</c> environment variables, and command-line overrides; then validates the
/// result. All problems are collected and returned together.
/// </summary>
/// <remarks>
/// Keys are kebab-case (<c>min-expires</c>), grouped in sections (<c>registrar:</c>); unknown keys
/// and unknown <c>TANDEM_*</c> variables are errors, so a typo never silently falls back to a default.
/// The environment variable of <c>registrar.min-expires</c> is <c>TANDEM_REGISTRAR_MIN_EXPIRES</c>;
/// list values there are comma-separated.
/// </remarks>
public static class ConfigLoader
{
    /// <summary>Default file looked for in the working directory when none is given.</summary>
    public const string DefaultFileName = "tandem.yaml";

    /// <summary>Environment variables with the TANDEM_ prefix that are not settings (read by the CLI).</summary>
    public static readonly IReadOnlySet<string> ReservedEnvironmentVariables = new HashSet<string>(StringComparer.Ordinal)
    {
        "TANDEM_CONFIG",
    };

    /// <summary>Loads using the process environment.</summary>
    public static ConfigResult Load(string? path, IEnumerable<ConfigOverride>? overrides = null)
        => Load(path, ProcessEnvironment(), overrides);

    /// <param name="path">YAML file, or null for defaults only.</param>
    /// <param name="environment">Variables to consider; only names starting with TANDEM_ are read.</param>
    /// <param name="overrides">Command-line values, applied last.</param>
    public static ConfigResult Load(
        string? path,
        IReadOnlyDictionary<string, string> environment,
        IEnumerable<ConfigOverride>? overrides = null)
    {
        var state = new LoadState();
        if (path is not null)
        {
            ReadFile(path, state);
        }

        ReadEnvironment(environment, state);
        foreach (var item in overrides ?? [])
        {
            var key = ConfigSchema.Find(item.KeyPath)
                ?? throw new ArgumentException($"unknown key '{item.KeyPath}'", nameof(overrides));
            state.Apply(key, ConfigValue.Of(item.Value), new ConfigOrigin(item.Source));
        }

        Validate(state);
        if (state.Errors.Count == 0)
        {
            var fromFile = path is not null && state.RoutingValues.Values.Any(v => v.Origin.Source == path);
            state.SetRoutingDocument(fromFile ? path : null, fromFile ? File.GetLastWriteTimeUtc(path!) : null);
        }

        return new ConfigResult(state.Errors.Count == 0 ? state.Options : null, state.Errors, path, state.Origins);
    }

    /// <summary>
    /// Reads a routing document (<see cref="RoutingOptions.Document"/>, e.g. one replicated from
    /// another node) on top of <paramref name="baseOptions"/>: the result is <paramref name="baseOptions"/>
    /// with its routing replaced, validated exactly like a file (including against <c>sip.domains</c>).
    /// Any top-level key other than <c>routing</c> is an error.
    /// </summary>
    /// <param name="source">Names the document in errors, e.g. "routing replicated from node a".</param>
    public static ConfigResult LoadRouting(string document, string source, TandemOptions baseOptions)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(baseOptions);
        var state = new LoadState(baseOptions with { Routing = new RoutingOptions() });
        ReadText(document, source, state, routingOnly: true);
        if (state.Errors.Count == 0)
        {
            RoutingSchema.Validate(state.Options, state.Fail);
        }

        if (state.Errors.Count == 0)
        {
            state.SetRoutingDocument(null, null);
        }

        return new ConfigResult(state.Errors.Count == 0 ? state.Options : null, state.Errors, null, state.Origins);
    }

    public static IReadOnlyDictionary<string, string> ProcessEnvironment()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string name && entry.Value is string value && name.StartsWith("TANDEM_", StringComparison.Ordinal))
            {
                result[name] = value;
            }
        }

        return result;
    }

    private static void ReadFile(string path, LoadState state)
    {
        var fileName = path;
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            state.Errors.Add(new ConfigError(new ConfigOrigin(fileName), null, $"cannot read the file: {e.Message}"));
            return;
        }

        ReadText(text, fileName, state, routingOnly: false);
    }

    private static void ReadText(string text, string fileName, LoadState state, bool routingOnly)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            // YamlDotNet's messages repeat the position; the origin already carries the line.
            state.Errors.Add(new ConfigError(new ConfigOrigin(fileName, (int)e.Start.Line), null, $"invalid YAML: {Unwrap(e).Message}"));
            return;
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return; // an empty file means "all defaults"
        }

        if (stream.Documents.Count > 1)
        {
            state.Errors.Add(new ConfigError(new ConfigOrigin(fileName, Line(stream.Documents[1].RootNode)), null, "only one YAML document is allowed"));
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            state.Errors.Add(new ConfigError(new ConfigOrigin(fileName, Line(stream.Documents[0].RootNode)), null, "the top level must be a mapping of keys"));
            return;
        }

        var topLevelNames = ConfigSchema.Keys.Where(k => !k.Path.Contains('.', StringComparison.Ordinal)).Select(k => k.Path)
            .Concat(ConfigSchema.Sections).ToList();
        foreach (var (keyNode, valueNode) in root.Children)
        {
            var name = ((keyNode as YamlScalarNode)?.Value) ?? "";
            var origin = new ConfigOrigin(fileName, Line(keyNode));
            if (routingOnly && name != "routing")
            {
                state.Errors.Add(new ConfigError(origin, name, "a routing document holds only the routing section"));
            }
            else if (ConfigSchema.Sections.Contains(name))
            {
                ReadSection(name, valueNode, fileName, state);
            }
            else if (ConfigSchema.Find(name) is { } key)
            {
                ReadValue(key, valueNode, origin, state);
            }
            else
            {
                state.Errors.Add(new ConfigError(origin, name, UnknownKey(name, topLevelNames)));
            }
        }
    }

    private static void ReadSection(string section, YamlNode node, string fileName, LoadState state)
    {
        if (node is YamlScalarNode { Value: null or "" } or YamlScalarNode { Value: "~" })
        {
            return; // "registrar:" with nothing under it
        }

        if (node is not YamlMappingNode mapping)
        {
            state.Errors.Add(new ConfigError(new ConfigOrigin(fileName, Line(node)), section, "must be a mapping of keys"));
            return;
        }

        var prefix = section + ".";
        var names = ConfigSchema.Keys.Where(k => k.Path.StartsWith(prefix, StringComparison.Ordinal)).Select(k => k.Path[prefix.Length..]).ToList();
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            var name = ((keyNode as YamlScalarNode)?.Value) ?? "";
            var origin = new ConfigOrigin(fileName, Line(keyNode));
            if (ConfigSchema.Find(prefix + name) is { } key)
            {
                ReadValue(key, valueNode, origin, state);
            }
            else
            {
                state.Errors.Add(new ConfigError(origin, prefix + name, UnknownKey(name, names)));
            }
        }
    }

    private static void ReadValue(ConfigKey key, YamlNode node, ConfigOrigin origin, LoadState state)
    {
        if (key.Structured)
        {
            state.Apply(key, new ConfigValue(null, null, node), origin);
            return;
        }

        switch (node)
        {
            case YamlScalarNode scalar:
                var isNull = scalar.Style == YamlDotNet.Core.ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null";
                state.Apply(key, ConfigValue.Of(isNull ? null : scalar.Value), origin);
                break;
            case YamlSequenceNode sequence:
                var items = new List<string>();
                foreach (var item in sequence.Children)
                {
                    if (item is not YamlScalarNode { Value: { } text })
                    {
                        state.Errors.Add(new ConfigError(new ConfigOrigin(origin.Source, Line(item)), key.Path, "list items must be plain values"));
                        return;
                    }

                    items.Add(text);
                }

                state.Apply(key, new ConfigValue(null, items), origin);
                break;
            default:
                state.Errors.Add(new ConfigError(origin, key.Path, $"must be a {key.Kind}, not a mapping"));
                break;
        }
    }

    private static void ReadEnvironment(IReadOnlyDictionary<string, string> environment, LoadState state)
    {
        var byVariable = ConfigSchema.Keys.ToDictionary(k => k.EnvironmentVariable, StringComparer.Ordinal);
        foreach (var (name, value) in environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (!name.StartsWith("TANDEM_", StringComparison.Ordinal) || ReservedEnvironmentVariables.Contains(name))
            {
                continue;
            }

            var origin = new ConfigOrigin(name);
            if (byVariable.TryGetValue(name, out var key))
            {
                state.Apply(key, ConfigValue.Of(value), origin);
            }
            else
            {
                var hint = ConfigSchema.Suggest(name, byVariable.Keys);
                state.Errors.Add(new ConfigError(origin, null,
                    "unknown environment variable" + (hint is null ? "" : $" (did you mean {hint}?)")));
            }
        }
    }

    /// <summary>Rules that involve more than one key, checked on the merged result.</summary>
    private static void Validate(LoadState state)
    {
        var o = state.Options;
        if (o.Sip.T2Ms < o.Sip.T1Ms)
        {
            state.Fail("sip.t2-ms", $"must be ≥ sip.t1-ms (got {o.Sip.T2Ms} < {o.Sip.T1Ms})", "sip.t1-ms");
        }

        var r = o.Registrar;
        if (r.MinExpires > r.MaxExpires)
        {
            state.Fail("registrar.min-expires", $"must be ≤ registrar.max-expires (got {r.MinExpires} > {r.MaxExpires})", "registrar.max-expires");
        }
        else if (r.DefaultExpires < r.MinExpires || r.DefaultExpires > r.MaxExpires)
        {
            state.Fail(
                "registrar.default-expires",
                $"must be between registrar.min-expires and registrar.max-expires (got {r.DefaultExpires}, allowed {r.MinExpires}..{r.MaxExpires})",
                "registrar.min-expires",
                "registrar.max-expires");
        }

        RoutingSchema.Validate(o, state.Fail);
        ClusterSchema.Validate(o, state.IsSet, state.Fail);
    }

    private static string UnknownKey(string name, IEnumerable<string> known)
    {
        var hint = ConfigSchema.Suggest(name, known);
        return "unknown key" + (hint is null ? "" : $" (did you mean '{hint}'?)");
    }

    private static int Line(YamlNode node) => (int)node.Start.Line;

    private static Exception Unwrap(YamlException e) => e.InnerException is YamlException inner ? Unwrap(inner) : e;

    private sealed class LoadState
    {
        public LoadState(TandemOptions? initial = null)
        {
            Options = initial ?? new TandemOptions();
        }

        public TandemOptions Options { get; private set; }

        /// <summary>The raw value applied last to each routing key, for <see cref="RoutingOptions.Document"/>.</summary>
        public Dictionary<string, (ConfigValue Value, ConfigOrigin Origin)> RoutingValues { get; } = new(StringComparer.Ordinal);

        /// <summary>Stores the effective routing section as one YAML document (keys in schema order).</summary>
        public void SetRoutingDocument(string? file, DateTimeOffset? modifiedAt)
        {
            var section = new YamlMappingNode();
            foreach (var key in ConfigSchema.Keys)
            {
                if (RoutingValues.TryGetValue(key.Path, out var applied))
                {
                    section.Add(key.Path[(key.Path.IndexOf('.', StringComparison.Ordinal) + 1)..], ToNode(key, applied.Value));
                }
            }

            var document = "";
            if (section.Children.Count > 0)
            {
                var writer = new StringWriter { NewLine = "\n" };
                new YamlStream(new YamlDocument(new YamlMappingNode { { "routing", section } })).Save(writer, assignAnchors: false);
                document = writer.ToString();
            }

            Options = Options with { Routing = Options.Routing with { Document = document, File = file, ModifiedAt = modifiedAt } };
        }

        private static YamlNode ToNode(ConfigKey key, ConfigValue value)
        {
            if (value.Node is { } node)
            {
                return node;
            }

            if (key.Structured && !string.IsNullOrWhiteSpace(value.Scalar))
            {
                // An environment variable holds the value in YAML flow style (it parsed, or it would not be here).
                var stream = new YamlStream();
                stream.Load(new StringReader(value.Scalar));
                return stream.Documents.Count == 0 ? new YamlScalarNode("") : stream.Documents[0].RootNode;
            }

            return new YamlSequenceNode(value.AsList().Select(item => (YamlNode)new YamlScalarNode(item)));
        }

        public List<ConfigError> Errors { get; } = [];

        public Dictionary<string, ConfigOrigin> Origins { get; } = new(StringComparer.Ordinal);

        /// <summary>Where the parts of structured values are (<c>routing.outbound-routes[0].gateways</c>).</summary>
        private Dictionary<string, ConfigOrigin> Locations { get; } = new(StringComparer.Ordinal);

        public bool IsSet(string path) => Origins.ContainsKey(path);

        public void Apply(ConfigKey key, ConfigValue value, ConfigOrigin origin)
        {
            var result = key.Apply(Options, value);
            if (result.Options is { } options)
            {
                Options = options;
                Origins[key.Path] = origin;
                if (key.Path.StartsWith("routing.", StringComparison.Ordinal))
                {
                    RoutingValues[key.Path] = (value, origin);
                }

                foreach (var stale in Locations.Keys.Where(p => IsPartOf(p, key.Path)).ToList())
                {
                    Locations.Remove(stale);
                }

                foreach (var (path, line) in result.Locations ?? new Dictionary<string, int>())
                {
                    Locations[path] = At(origin, line);
                }
            }
            else if (result.Problems is { } problems)
            {
                Errors.AddRange(problems.Select(p => new ConfigError(p.Line is { } line ? At(origin, line) : origin, p.KeyPath, p.Reason)));
            }
            else
            {
                Errors.Add(new ConfigError(origin, key.Path, result.Error!));
            }
        }

        /// <summary>
        /// Reports a cross-key error at <paramref name="path"/>'s origin; when that key kept its
        /// default, at the first related key that was set, so the message points at a line to edit.
        /// </summary>
        public void Fail(string path, string reason, params string[] related)
        {
            var origin = Locations.GetValueOrDefault(path)
                ?? Origins.GetValueOrDefault(path)
                ?? related.Select(r => Locations.GetValueOrDefault(r)).FirstOrDefault(x => x is not null)
                ?? related.Select(r => Origins.GetValueOrDefault(r)).FirstOrDefault(x => x is not null)
                ?? ConfigOrigin.Default;
            Errors.Add(new ConfigError(origin, path, reason));
        }

        // Lines only mean something in the file; an environment variable's YAML is one line anyway.
        private static ConfigOrigin At(ConfigOrigin origin, int line) => origin.Line is null ? origin : origin with { Line = line };

        private static bool IsPartOf(string path, string keyPath) =>
            path.Length > keyPath.Length && path.StartsWith(keyPath, StringComparison.Ordinal) && path[keyPath.Length] is '.' or '[';
    }
}
