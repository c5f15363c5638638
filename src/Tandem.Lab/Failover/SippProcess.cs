using System.Globalization;
using Tandem.Lab.Netns;

namespace Tandem.Lab.Failover;

/// <summary>A SIPp run in a lab host with one of the lab's scenarios (lab/sipp, embedded) and its milestone log.</summary>
public sealed class SippProcess : IAsyncDisposable
{
    public const int SigUsr1 = 10;

    private SippProcess(NetnsProcess process, string logFile)
    {
        Process = process;
        LogFile = logFile;
    }

    public NetnsProcess Process { get; }

    /// <summary>The scenario's <c>-trace_logs</c> output (milestones with timestamps).</summary>
    public string LogFile { get; }

    /// <summary>Writes the embedded scenarios (lab/sipp/*.xml) into <paramref name="directory"/>.</summary>
    public static void WriteScenarios(string directory)
    {
        Directory.CreateDirectory(directory);
        var assembly = typeof(SippProcess).Assembly;
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("sipp/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var file = File.Create(Path.Combine(directory, name["sipp/".Length..]));
            stream.CopyTo(file);
        }
    }

    /// <summary>Writes a SIPp injection file: SEQUENTIAL, "user;domain;[authentication username=U password=P]" per user.</summary>
    public static string WriteUsers(string path, IEnumerable<(string User, string Password)> users, string domain)
    {
        var lines = users.Select(u => $"{u.User};{domain};[authentication username={u.User} password={u.Password}]");
        File.WriteAllText(path, "SEQUENTIAL\n" + string.Join('\n', lines) + "\n");
        return path;
    }

    /// <summary>Starts <c>sipp</c> in <paramref name="host"/> with scenario <paramref name="scenario"/> from <paramref name="scenarioDirectory"/>.</summary>
    public static SippProcess Start(NetnsHost host, string scenarioDirectory, string scenario, string runDirectory, string tag, IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(host);
        Directory.CreateDirectory(runDirectory);
        var log = Path.Combine(runDirectory, $"{tag}.log");
        string[] args =
        [
            .. arguments,
            "-sf", Path.Combine(scenarioDirectory, scenario),
            "-i", host.Address!.ToString(),
            "-t", "u1",
            "-nostdin",
            "-trace_logs", "-log_file", log,
            "-trace_err", "-error_file", Path.Combine(runDirectory, $"{tag}-errors.log"),
            "-trace_msg", "-message_file", Path.Combine(runDirectory, $"{tag}-messages.log"),
        ];
        return new SippProcess(host.Start("sipp", args), log);
    }

    /// <summary>Asks SIPp to stop starting new iterations and finish the current ones (SIGUSR1), then waits;
    /// kills it after <paramref name="timeout"/>.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (!Process.HasExited)
        {
            Process.Signal(SigUsr1);
            try
            {
                await Process.WaitForExitAsync(timeout);
            }
            catch (TimeoutException)
            {
                Process.Kill();
                await Process.WaitForExitAsync(TimeSpan.FromSeconds(5));
            }
        }
    }

    public List<SippEvent> Events() => File.Exists(LogFile) ? SippLog.Parse(File.ReadAllLines(LogFile)) : [];

    public static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    public ValueTask DisposeAsync() => Process.DisposeAsync();

}
