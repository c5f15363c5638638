using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Tandem.Server.Config;

/// <summary>
/// One configuration key: its path (<c>section.kebab-name</c>), how to parse a value into
/// <see cref="TandemOptions"/>, and how to print the effective value. The YAML reader, the
/// environment overrides and <c>tandem config check</c> all go through this table, so a key cannot
/// be readable from one source and not another.
/// </summary>
internal sealed class ConfigKey
{
    private readonly Func<TandemOptions, ConfigValue, ParseResult> _apply;
    private readonly Func<TandemOptions, string> _format;

    public ConfigKey(
        string path, string kind, Func<TandemOptions, ConfigValue, ParseResult> apply, Func<TandemOptions, string> format, bool structured = false)
    {
        Path = path;
        Structured = structured;
        Kind = kind;
        _apply = apply;
        _format = format;
        EnvironmentVariable = "TANDEM_" + path.Replace('.', '_').Replace('-', '_').ToUpperInvariant();
    }

    public string Path { get; }

    /// <summary>Value kind, as shown in errors: "integer", "list of listen endpoints"...</summary>
    public string Kind { get; }

    public string EnvironmentVariable { get; }

    /// <summary>
    /// The value is a YAML mapping or a list of mappings (the routing tables): the file's node is
    /// passed as it is (<see cref="ConfigValue.Node"/>), and an environment variable holds the same
    /// value in YAML flow style.
    /// </summary>
    public bool Structured { get; }

    public ParseResult Apply(TandemOptions options, ConfigValue value) => _apply(options, value);

    public string Format(TandemOptions options) => _format(options);

    public static string FormatInt(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A raw value: a scalar (null for YAML null / empty) or, from a YAML sequence, a list of scalars.
/// Environment variables and command-line values are scalars; list keys split them at commas.
/// For a structured key read from the file, <see cref="Node"/> is the YAML node itself.
/// </summary>
internal readonly record struct ConfigValue(string? Scalar, IReadOnlyList<string>? Items, YamlNode? Node = null)
{
    public static ConfigValue Of(string? scalar) => new(scalar, null);

    public IReadOnlyList<string> AsList()
    {
        if (Items is not null)
        {
            return Items;
        }

        return string.IsNullOrWhiteSpace(Scalar)
            ? []
            : Scalar.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}

/// <summary>
/// The outcome of applying one value. Structured keys may report several <see cref="Problems"/>,
/// each at its own key path and line, and on success the lines of their parts
/// (<see cref="Locations"/>, e.g. <c>routing.gateways.carrier-a.uri</c> → 14) so that later
/// cross-key checks can point at the right line.
/// </summary>
internal readonly record struct ParseResult(
    TandemOptions? Options,
    string? Error,
    IReadOnlyList<ConfigProblem>? Problems = null,
    IReadOnlyDictionary<string, int>? Locations = null)
{
    public static ParseResult Ok(TandemOptions options) => new(options, null);

    public static ParseResult Ok(TandemOptions options, IReadOnlyDictionary<string, int> locations) => new(options, null, null, locations);

    public static ParseResult Fail(string error) => new(null, error);

    public static ParseResult Fail(IReadOnlyList<ConfigProblem> problems) => new(null, problems[0].Reason, problems);
}

/// <summary>One error inside a structured value: full key path, line in the file (null: the key's own line) and reason.</summary>
internal readonly record struct ConfigProblem(string KeyPath, int? Line, string Reason);
