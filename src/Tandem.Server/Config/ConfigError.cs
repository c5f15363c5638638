namespace Tandem.Server.Config;

/// <summary>
/// One configuration problem: where the value came from (file name with line, environment
/// variable, or command-line option), the key path, and the reason.
/// Printed as <c>tandem.yaml:12: registrar.min-expires: must be ≤ registrar.max-expires (got 7200 > 3600)</c>.
/// </summary>
public sealed record ConfigError(ConfigOrigin Origin, string? KeyPath, string Reason)
{
    public override string ToString() => KeyPath is null ? $"{Origin}: {Reason}" : $"{Origin}: {KeyPath}: {Reason}";
}

/// <summary>Where a setting's value came from.</summary>
public sealed record ConfigOrigin(string Source, int? Line = null)
{
    public static readonly ConfigOrigin Default = new("default");

    public bool IsDefault => ReferenceEquals(this, Default);

    public override string ToString() => Line is { } line ? $"{Source}:{line}" : Source;
}

/// <summary>A value given on the command line, e.g. <c>new("listen", "udp:127.0.0.1:5060", "--listen")</c>.</summary>
public sealed record ConfigOverride(string KeyPath, string Value, string Source);
