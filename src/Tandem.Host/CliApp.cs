using System.Reflection;
using Tandem.Host.Commands;
using Tandem.Server.Config;

namespace Tandem.Host;

/// <summary>
/// The <c>tandem</c> command line. Exit codes: 0 success, 1 the command failed (bad configuration,
/// no such user...), 2 usage error (unknown command or option, missing argument).
/// </summary>
public static class CliApp
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int UsageError = 2;

    internal static readonly IReadOnlyList<CommandSpec> Commands =
    [
        RunCommand.Spec,
        WitnessCommand.Spec,
        .. UserCommands.Specs,
        RegistrationsCommands.List,
        CdrCommands.List,
        ConfigCommands.Check,
        LabCommands.Failover,
        ClusterCommands.Status,
    ];

    private static readonly Dictionary<string, string> Groups = new Dictionary<string, string>
    {
        ["user"] = "manage SIP accounts",
        ["registrations"] = "inspect registrar bindings",
        ["cdr"] = "list call detail records",
        ["config"] = "check the configuration",
        ["lab"] = "measure the cluster in a network-namespace lab",
        ["cluster"] = "inspect the running node's cluster",
    };

    public static string Version =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Runs one command with the process environment; what `tandem` itself calls.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var process = CliContext.ForProcess();
        return RunAsync(args, new CliContext
        {
            Stdout = stdout,
            Stderr = stderr,
            Stdin = process.Stdin,
            Environment = process.Environment,
            HandleSignals = true,
        });
    }

    public static async Task<int> RunAsync(IReadOnlyList<string> args, CliContext context)
    {
        if (args.Count == 0)
        {
            await context.Stderr.WriteAsync(TopLevelHelp());
            return UsageError;
        }

        switch (args[0])
        {
            case "--version":
            case "version":
                await context.Stdout.WriteLineAsync($"tandem {Version}");
                return Ok;
            case "--help":
            case "-h":
            case "help":
                await context.Stdout.WriteAsync(TopLevelHelp());
                return Ok;
        }

        CommandSpec? command = null;
        var consumed = 0;
        if (Groups.ContainsKey(args[0]))
        {
            var group = args[0];
            if (args.Count < 2 || args[1] is "--help" or "-h")
            {
                var help = GroupHelp(group);
                await (args.Count < 2 ? context.Stderr : context.Stdout).WriteAsync(help);
                return args.Count < 2 ? UsageError : Ok;
            }

            command = Commands.FirstOrDefault(c => c.Name == $"{group} {args[1]}");
            if (command is null)
            {
                return await UsageFailure(context, $"tandem {group}: unknown command '{args[1]}'", GroupHelp(group));
            }

            consumed = 2;
        }
        else
        {
            command = Commands.FirstOrDefault(c => c.Name == args[0]);
            if (command is null)
            {
                return await UsageFailure(context, $"tandem: unknown command '{args[0]}'", TopLevelHelp());
            }

            consumed = 1;
        }

        if (!ParsedArgs.TryParse(command, args.Skip(consumed).ToList(), out var parsed, out var error))
        {
            return await UsageFailure(context, $"tandem {command.Name}: {error}", $"usage: {command.Usage}\nRun 'tandem {command.Name} --help' for details.\n");
        }

        if (parsed.Has("help"))
        {
            await context.Stdout.WriteAsync(command.Help());
            return Ok;
        }

        return await command.Handler(parsed, context);
    }

    /// <summary>Prints a usage error and returns exit code 2.</summary>
    internal static async Task<int> UsageFailure(CliContext context, string message, string usage)
    {
        await context.Stderr.WriteLineAsync(message);
        await context.Stderr.WriteAsync(usage);
        return UsageError;
    }

    /// <summary>
    /// Loads the configuration for a command: --config, else $TANDEM_CONFIG, else ./tandem.yaml if
    /// present, else defaults; then TANDEM_* variables; then --data-dir and <paramref name="extra"/>.
    /// Prints every error and returns null when it is not valid.
    /// </summary>
    internal static async Task<ConfigResult?> LoadConfigAsync(ParsedArgs args, CliContext context, IEnumerable<ConfigOverride>? extra = null)
    {
        var overrides = new List<ConfigOverride>();
        if (args.Get("data-dir") is { } dataDir)
        {
            overrides.Add(new ConfigOverride("data-dir", dataDir, "--data-dir"));
        }

        overrides.AddRange(extra ?? []);
        var result = ConfigLoader.Load(ResolveConfigPath(args, context), context.Environment, overrides);
        if (result.Succeeded)
        {
            return result;
        }

        foreach (var error in result.Errors)
        {
            await context.Stderr.WriteLineAsync(error.ToString());
        }

        await context.Stderr.WriteLineAsync($"tandem: the configuration has {result.Errors.Count} error(s)");
        return null;
    }

    private static string? ResolveConfigPath(ParsedArgs args, CliContext context)
    {
        if (args.Get("config") is { } explicitPath)
        {
            return explicitPath;
        }

        if (context.Environment.TryGetValue("TANDEM_CONFIG", out var fromEnvironment) && fromEnvironment.Length > 0)
        {
            return fromEnvironment;
        }

        var local = Path.Combine(context.CurrentDirectory, ConfigLoader.DefaultFileName);
        // Shown in error messages: keep it short when it is the usual ./tandem.yaml.
        return File.Exists(local) ? Path.GetRelativePath(Directory.GetCurrentDirectory(), local) : null;
    }

    private static string TopLevelHelp()
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine("usage: tandem COMMAND [ARGS...] [--config FILE] [--data-dir DIR]").AppendLine();
        text.AppendLine("Tandem: a highly available SIP server and registrar.").AppendLine().AppendLine("commands:");
        var width = Commands.Max(c => c.Name.Length);
        foreach (var command in Commands)
        {
            text.Append("  ").Append(command.Name.PadRight(width)).Append("  ").AppendLine(command.Summary);
        }

        text.AppendLine().AppendLine("Run 'tandem COMMAND --help' for a command's options; 'tandem --version' for the version.");
        return text.ToString();
    }

    private static string GroupHelp(string group)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine($"usage: tandem {group} COMMAND [ARGS...]").AppendLine().AppendLine($"tandem {group}: {Groups[group]}").AppendLine().AppendLine("commands:");
        var commands = Commands.Where(c => c.Name.StartsWith(group + " ", StringComparison.Ordinal)).ToList();
        foreach (var command in commands)
        {
            text.Append("  ").AppendLine(command.Usage);
            text.Append("      ").AppendLine(command.Summary);
        }

        return text.ToString();
    }
}
