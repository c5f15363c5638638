using System.Diagnostics;
using System.Text;

namespace Tandem.Cluster.Addresses;

/// <summary>What a finished command printed and returned.</summary>
public sealed record CommandResult(string CommandLine, int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>A command that could not be started, timed out, or (from <see cref="CommandRunnerExtensions.RunCheckedAsync"/>) exited non-zero.</summary>
public sealed class CommandFailedException : Exception
{
    public CommandFailedException(string message, CommandResult? result = null, Exception? inner = null)
        : base(message, inner) => Result = result;

    /// <summary>The command's output, when it ran to completion.</summary>
    public CommandResult? Result { get; }
}

/// <summary>Runs external commands (here: iproute2's <c>ip</c>). An interface so tests can record the calls.</summary>
public interface ICommandRunner
{
    /// <summary>
    /// Runs <paramref name="fileName"/> with <paramref name="arguments"/> (no shell) and returns its exit code and output.
    /// Throws <see cref="CommandFailedException"/> if it cannot be started or does not finish within
    /// <paramref name="timeout"/> (it is then killed with its children).
    /// </summary>
    Task<CommandResult> RunAsync(string fileName, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken = default);
}

public static class CommandRunnerExtensions
{
    /// <summary>Like <see cref="ICommandRunner.RunAsync"/>, but a non-zero exit is a <see cref="CommandFailedException"/> quoting stderr.</summary>
    public static async Task<CommandResult> RunCheckedAsync(this ICommandRunner runner, string fileName, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runner);
        var result = await runner.RunAsync(fileName, arguments, timeout, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new CommandFailedException($"`{result.CommandLine}` exited with {result.ExitCode}: {FirstLines(result.StandardError)}", result);
        }
        return result;
    }

    internal static string FirstLines(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            return "(no error output)";
        }
        return trimmed.Length <= 500 ? trimmed : trimmed[..500] + "…";
    }
}

/// <summary>Runs commands as child processes, with the C locale so error messages are the English ones.</summary>
public sealed class CommandRunner : ICommandRunner
{
    public static CommandRunner Instance { get; } = new();

    public async Task<CommandResult> RunAsync(string fileName, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var commandLine = FormatCommandLine(fileName, arguments);
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }
        startInfo.Environment["LC_ALL"] = "C";

        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new CommandFailedException($"cannot start `{commandLine}`: {e.Message}", null, e);
        }

        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited in the meantime.
            }
            cancellationToken.ThrowIfCancellationRequested();
            throw new CommandFailedException($"`{commandLine}` did not finish within {timeout.TotalMilliseconds:0} ms and was killed");
        }
        return new CommandResult(commandLine, process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    internal static string FormatCommandLine(string fileName, IReadOnlyList<string> arguments)
    {
        var builder = new StringBuilder(fileName);
        foreach (var argument in arguments)
        {
            builder.Append(' ');
            builder.Append(argument.Length == 0 || argument.Any(char.IsWhiteSpace) ? $"'{argument}'" : argument);
        }
        return builder.ToString();
    }
}
