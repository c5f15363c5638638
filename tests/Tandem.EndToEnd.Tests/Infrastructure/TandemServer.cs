using System.Globalization;
using System.Net;
using System.Text;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The built `tandem` program. A ProjectReference to src/Tandem.Host copies tandem.dll,
/// tandem.runtimeconfig.json and tandem.deps.json next to the test assembly; the tests run it
/// as `dotnet tandem.dll ...` (portable: no apphost or DOTNET_ROOT needed). TANDEM_DLL
/// overrides the location, e.g. to test a published build.
/// </summary>
public static class TandemCli
{
    public static string Dll
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("TANDEM_DLL") is { Length: > 0 } overridden
                ? overridden
                : Path.Combine(AppContext.BaseDirectory, "tandem.dll");
            if (!File.Exists(path))
            {
                throw new FileNotFoundException(
                    $"tandem.dll not found at {path}: build the solution (the test project references src/Tandem.Host) or set TANDEM_DLL.", path);
            }
            return path;
        }
    }

    public static System.Diagnostics.ProcessStartInfo StartInfo(IEnumerable<string> arguments, string workingDirectory)
    {
        // Through env(1) with default signal handling: a test run started in the background (nohup, `&` in a
        // script) hands SIGINT and SIGHUP down as ignored, and the runtime keeps an inherited "ignore", so the
        // Ctrl-C and reload tests would never reach the process. env execs, so the PID is tandem's own.
        var psi = Processes.StartInfo("env", new[] { "--default-signal=INT,HUP,TERM", Processes.DotnetHost, Dll }.Concat(arguments), workingDirectory);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return psi;
    }

    /// <summary>Runs one CLI command (user add, registrations list, ...) to completion.</summary>
    public static Task<CommandResult> RunAsync(string workingDirectory, params string[] arguments) =>
        Processes.RunAsync(StartInfo(arguments, workingDirectory), TimeSpan.FromSeconds(60));
}

/// <summary>
/// `tandem run` as a child process on a free port, in a private temp data dir. Assumptions
/// about the program (the integrator makes the server match them):
/// <list type="bullet">
/// <item>`tandem user add USER@DOMAIN --password SECRET --data-dir DIR` provisions a user and
/// exits 0; it is run before the server starts.</item>
/// <item>`tandem run --data-dir DIR [--config FILE] --listen udp:127.0.0.1:PORT --listen
/// tcp:127.0.0.1:PORT` stays in the foreground, logs to stdout/stderr, answers OPTIONS with
/// 200 over UDP when ready, and exits 0 soon after SIGTERM.</item>
/// <item>`tandem registrations list [AOR] --data-dir DIR` exits 0 and prints one line (at
/// least) per binding containing the AOR (user@domain) and the Contact URI as registered; it
/// works while the server runs.</item>
/// </list>
/// </summary>
public sealed class TandemServer : ISipServer
{
    /// <summary>
    /// Config given with --config when a test needs 2 s registrations (register-expiry).
    /// The key names are the harness's guess at the config file; adjust here if the real
    /// schema differs.
    /// </summary>
    public const string ShortMinExpiresConfig =
        "# Written by the end-to-end tests: accept the 2 s registrations of register-expiry.xml.\n" +
        "registrar:\n" +
        "  min-expires: 1\n";

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private readonly StringBuilder _previousRuns = new();
    private readonly string? _configPath;
    private BackgroundProcess _process;

    private TandemServer(DirectoryInfo work, IPEndPoint endpoint, string? configPath, BackgroundProcess process)
    {
        Work = work;
        Endpoint = endpoint;
        _configPath = configPath;
        _process = process;
    }

    public string Name => "tandem";

    public IPEndPoint Endpoint { get; }

    /// <summary>Temp directory holding the data dir (data/) and the config file.</summary>
    public DirectoryInfo Work { get; }

    public string DataDir => Path.Combine(Work.FullName, "data");

    public string OutputTail() => _process.Output.Tail();

    public string Output() => _previousRuns + _process.Output.ToString();

    public static async Task<TandemServer> StartAsync(ServerSettings settings)
    {
        var work = Directory.CreateTempSubdirectory("tandem-e2e-");
        var dataDir = Directory.CreateDirectory(Path.Combine(work.FullName, "data")).FullName;
        foreach (var user in settings.Users)
        {
            var added = await TandemCli.RunAsync(work.FullName, "user", "add", user.Aor, "--password", user.Password, "--data-dir", dataDir);
            if (added.ExitCode != 0)
            {
                throw new InvalidOperationException($"`tandem user add` failed:\n{added}");
            }
        }
        string? configPath = null;
        var config = (settings.ShortMinExpires ? ShortMinExpiresConfig : "")
            + (settings.Routing is { } routing ? TandemCallConfig.ToYaml(routing) : "");
        if (config.Length > 0)
        {
            configPath = Path.Combine(work.FullName, "tandem.yaml");
            await File.WriteAllTextAsync(configPath, config);
        }
        var endpoint = new IPEndPoint(IPAddress.Loopback, FreePorts.Next());
        var process = Launch(work, dataDir, configPath, endpoint);
        var server = new TandemServer(work, endpoint, configPath, process);
        try
        {
            await SipProbe.WaitUntilReadyAsync(endpoint, process, ReadyTimeout, "tandem run");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    private static BackgroundProcess Launch(DirectoryInfo work, string dataDir, string? configPath, IPEndPoint endpoint)
    {
        var port = endpoint.Port.ToString(CultureInfo.InvariantCulture);
        var args = new List<string> { "run", "--data-dir", dataDir };
        if (configPath is not null)
        {
            args.AddRange(["--config", configPath]);
        }
        args.AddRange(["--listen", $"udp:127.0.0.1:{port}", "--listen", $"tcp:127.0.0.1:{port}"]);
        return BackgroundProcess.Start(TandemCli.StartInfo(args, work.FullName));
    }

    /// <summary>SIGTERM; the server must exit with code 0 within 15 s. Returns the exit code.</summary>
    public async Task<int> StopGracefullyAsync()
    {
        var exit = await _process.StopGracefullyAsync(TimeSpan.FromSeconds(15));
        if (exit is null)
        {
            throw new TimeoutException($"tandem did not exit within 15 s of SIGTERM.\n--- its output ---\n{OutputTail()}");
        }
        return exit.Value;
    }

    /// <summary>Starts `tandem run` again on the same data dir, config and port, and waits until ready.</summary>
    public async Task StartAgainAsync()
    {
        if (!_process.HasExited)
        {
            throw new InvalidOperationException("tandem is still running; stop it first");
        }
        _previousRuns.Append(_process.Output).Append("===== restarted =====\n");
        await _process.DisposeAsync();
        _process = Launch(Work, DataDir, _configPath, Endpoint);
        await SipProbe.WaitUntilReadyAsync(Endpoint, _process, ReadyTimeout, "tandem run (after restart)");
    }

    /// <summary>The config file given with --config, or null when none was needed.</summary>
    public string? ConfigPath => _configPath;

    /// <summary>`tandem cdr list --format csv` (see <see cref="TandemCallConfig"/>), parsed.</summary>
    public async Task<(CommandResult Command, IReadOnlyList<CdrRow> Rows)> ListCdrsAsync()
    {
        var result = await TandemCli.RunAsync(Work.FullName, [.. TandemCallConfig.CdrListArguments, "--data-dir", DataDir]);
        return (result, result.ExitCode == 0 ? CdrCsv.Parse(result.Stdout) : []);
    }

    public Task<CommandResult> ListRegistrationsAsync(string? aor = null) =>
        aor is null
            ? TandemCli.RunAsync(Work.FullName, "registrations", "list", "--data-dir", DataDir)
            : TandemCli.RunAsync(Work.FullName, "registrations", "list", aor, "--data-dir", DataDir);

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        try
        {
            Work.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
