using System.Diagnostics.CodeAnalysis;

namespace Tandem.Host;

/// <summary>An option a command accepts: <c>--name VALUE</c> (or <c>--name=VALUE</c>), or a flag when <see cref="ValueName"/> is null.</summary>
internal sealed record OptionSpec(string Name, string? ValueName, string Help, bool Repeatable = false);

/// <summary>
/// A command: its words (<c>user add</c>), positional arguments (<c>AOR</c>, optional as <c>[AOR]</c>),
/// options and handler. <c>--config</c>, <c>--data-dir</c> and <c>--help</c> are added to every command.
/// </summary>
internal sealed record CommandSpec(
    string Name,
    string Summary,
    IReadOnlyList<string> Positionals,
    IReadOnlyList<OptionSpec> Options,
    Func<ParsedArgs, CliContext, Task<int>> Handler,
    string? Details = null)
{
    public static readonly IReadOnlyList<OptionSpec> CommonOptions =
    [
        new("config", "FILE", "configuration file (default: ./tandem.yaml if present, else built-in defaults; or $TANDEM_CONFIG)"),
        new("data-dir", "DIR", "data directory, overriding data-dir from the configuration"),
        new("help", null, "show this help"),
    ];

    public IEnumerable<OptionSpec> AllOptions => Options.Concat(CommonOptions);

    public string Usage
    {
        get
        {
            var parts = new List<string> { "tandem " + Name };
            parts.AddRange(Positionals);
            parts.AddRange(Options.Select(o => o.ValueName is null ? $"[--{o.Name}]" : $"[--{o.Name} {o.ValueName}]" + (o.Repeatable ? "..." : "")));
            parts.Add("[--config FILE] [--data-dir DIR]");
            return string.Join(' ', parts);
        }
    }

    public string Help()
    {
        var text = new System.Text.StringBuilder();
        text.Append("usage: ").AppendLine(Usage).AppendLine().AppendLine(Summary);
        if (Details is not null)
        {
            text.AppendLine().AppendLine(Details);
        }

        text.AppendLine().AppendLine("options:");
        var all = AllOptions.ToList();
        var labels = all.Select(o => o.ValueName is null ? $"--{o.Name}" : $"--{o.Name} {o.ValueName}").ToList();
        var width = labels.Max(l => l.Length);
        for (var i = 0; i < all.Count; i++)
        {
            text.Append("  ").Append(labels[i].PadRight(width)).Append("  ").AppendLine(all[i].Help);
        }

        return text.ToString();
    }
}

/// <summary>Arguments after the command words, checked against the command's spec.</summary>
internal sealed class ParsedArgs
{
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    public bool Has(string name) => _options.ContainsKey(name);

    public string? Get(string name) => _options.TryGetValue(name, out var values) ? values[^1] : null;

    public IReadOnlyList<string> GetAll(string name) => _options.TryGetValue(name, out var values) ? values : [];

    public string? Positional(int index) => index < Positionals.Count ? Positionals[index] : null;

    /// <summary>Parses <paramref name="args"/> for <paramref name="command"/>; on failure <paramref name="error"/> says why.</summary>
    public static bool TryParse(CommandSpec command, IReadOnlyList<string> args, [NotNullWhen(true)] out ParsedArgs? parsed, [NotNullWhen(false)] out string? error)
    {
        parsed = new ParsedArgs();
        var specs = command.AllOptions.ToDictionary(o => o.Name, StringComparer.Ordinal);
        var optionsEnded = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (optionsEnded || !arg.StartsWith('-') || arg == "-")
            {
                parsed.Positionals.Add(arg);
                continue;
            }

            if (arg == "--")
            {
                optionsEnded = true;
                continue;
            }

            if (arg == "-h")
            {
                arg = "--help";
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                error = $"unknown option '{arg}'";
                return false;
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? arg[2..] : arg[2..equals];
            if (!specs.TryGetValue(name, out var spec))
            {
                error = $"unknown option '--{name}'";
                return false;
            }

            string value;
            if (spec.ValueName is null)
            {
                if (equals >= 0)
                {
                    error = $"option '--{name}' takes no value";
                    return false;
                }

                value = "";
            }
            else if (equals >= 0)
            {
                value = arg[(equals + 1)..];
            }
            else if (i + 1 < args.Count && !(args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
            {
                value = args[++i];
            }
            else
            {
                error = $"option '--{name}' needs a value ({spec.ValueName})";
                return false;
            }

            if (!parsed._options.TryGetValue(name, out var values))
            {
                parsed._options[name] = values = [];
            }
            else if (!spec.Repeatable && spec.ValueName is not null)
            {
                error = $"option '--{name}' given more than once";
                return false;
            }

            values.Add(value);
        }

        if (parsed.Has("help"))
        {
            error = null;
            return true; // help wins over any other mistake
        }

        var required = command.Positionals.Count(p => !p.StartsWith('['));
        if (parsed.Positionals.Count < required)
        {
            error = $"missing {command.Positionals[parsed.Positionals.Count]}";
            return false;
        }

        if (parsed.Positionals.Count > command.Positionals.Count)
        {
            error = $"unexpected argument '{parsed.Positionals[command.Positionals.Count]}'";
            return false;
        }

        error = null;
        return true;
    }
}
