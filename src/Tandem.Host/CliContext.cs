using Tandem.Server.Config;

namespace Tandem.Host;

/// <summary>What a command may touch of the outside world; tests substitute each part.</summary>
public sealed class CliContext
{
    public required TextWriter Stdout { get; init; }

    public required TextWriter Stderr { get; init; }

    public TextReader Stdin { get; init; } = TextReader.Null;

    /// <summary>TANDEM_* variables (settings overrides and TANDEM_CONFIG).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Where the default ./tandem.yaml is looked for.</summary>
    public string CurrentDirectory { get; init; } = Directory.GetCurrentDirectory();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Ends <c>tandem run</c> like SIGTERM does (tests).</summary>
    public CancellationToken Shutdown { get; init; }

    /// <summary>Whether <c>tandem run</c> installs SIGINT/SIGTERM handlers (off in tests).</summary>
    public bool HandleSignals { get; init; }

    public static CliContext ForProcess() => new()
    {
        Stdout = Console.Out,
        Stderr = Console.Error,
        Stdin = Console.In,
        Environment = ConfigLoader.ProcessEnvironment(),
        HandleSignals = true,
    };
}
