using System.Globalization;

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

    public ConfigKey(string path, string kind, Func<TandemOptions, ConfigValue, ParseResult> apply, Func<TandemOptions, string> format)
    {
        Path = path;
        Kind = kind;
        _apply = apply;
        _format = format;
        EnvironmentVariable = "TANDEM_" + path.Replace('.', '_').Replace('-', '_').ToUpperInvariant();
    }

    public string Path { get; }

    /// <summary>Value kind, as shown in errors: "integer", "list of listen endpoints"...</summary>
    public string Kind { get; }

    public string EnvironmentVariable { get; }

    public ParseResult Apply(TandemOptions options, ConfigValue value) => _apply(options, value);

    public string Format(TandemOptions options) => _format(options);

    public static string FormatInt(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A raw value: a scalar (null for YAML null / empty) or, from a YAML sequence, a list of scalars.
/// Environment variables and command-line values are scalars; list keys split them at commas.
/// </summary>
internal readonly record struct ConfigValue(string? Scalar, IReadOnlyList<string>? Items)
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

internal readonly record struct ParseResult(TandemOptions? Options, string? Error)
{
    public static ParseResult Ok(TandemOptions options) => new(options, null);

    public static ParseResult Fail(string error) => new(null, error);
}
