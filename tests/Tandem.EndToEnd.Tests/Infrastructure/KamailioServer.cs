using System.Globalization;
using System.Net;
using System.Text;

namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Kamailio (Debian package) started as a reference registrar from tests/kamailio/registrar.cfg.in
/// on a free port, with the test users in a db_text table that htable loads into memory. It
/// proves the SIPp scenarios and this harness against a real registrar before Tandem exists.
/// </summary>
public sealed class KamailioServer : ISipServer
{
    public const string MissingMessage =
        "kamailio is not installed (Debian package 'kamailio'). The Kamailio reference tests need it: " +
        "run ./scripts/test.sh, which installs it, or apt-get install kamailio.";

    private readonly BackgroundProcess _process;
    private readonly DirectoryInfo _work;

    private KamailioServer(BackgroundProcess process, DirectoryInfo work, IPEndPoint endpoint)
    {
        _process = process;
        _work = work;
        Endpoint = endpoint;
    }

    public string Name => "kamailio";

    public IPEndPoint Endpoint { get; }

    public string OutputTail() => _process.Output.Tail();

    public string Output() => _process.Output.ToString();

    public static async Task<KamailioServer> StartAsync(ServerSettings settings)
    {
        var binary = Processes.FindOnPath("kamailio") ?? throw new InvalidOperationException(MissingMessage);
        var work = Directory.CreateTempSubdirectory("tandem-kamailio-");
        var port = FreePorts.Next();
        var db = work.CreateSubdirectory("db");
        var run = work.CreateSubdirectory("run");
        WritePasswordTable(db.FullName, settings.Users);

        // A registrar for the registrar tests; registrar + record-routing proxy for the call tests.
        var template = settings.Routing is null ? RepoPaths.KamailioConfigTemplate : RepoPaths.KamailioProxyConfigTemplate;
        var config = (await File.ReadAllTextAsync(template))
            .Replace("@@UDP_PORT@@", port.ToString(CultureInfo.InvariantCulture))
            .Replace("@@TCP_PORT@@", port.ToString(CultureInfo.InvariantCulture))
            .Replace("@@CHILDREN@@", "2")
            .Replace("@@MIN_EXPIRES@@", settings.ShortMinExpires ? "1" : "60")
            .Replace("@@DB_DIR@@", db.FullName)
            .Replace("@@HT_BITS@@", "8")
            .Replace("@@TRUSTED_PEER@@", TrustedPeer(settings.Routing));
        var configPath = Path.Combine(work.FullName, "kamailio.cfg");
        await File.WriteAllTextAsync(configPath, config);

        // -DD: stay in the foreground (so the test owns the PID) while still forking workers;
        // -E: log to stderr (captured); -Y: runtime files in our temp dir, not /run/kamailio;
        // small -m/-M: a test server needs little shared/private memory.
        var psi = Processes.StartInfo(binary,
            ["-f", configPath, "-DD", "-E", "-Y", run.FullName, "-m", "64", "-M", "8"], work.FullName);
        var process = BackgroundProcess.Start(psi);
        var server = new KamailioServer(process, work, new IPEndPoint(IPAddress.Loopback, port));
        try
        {
            await SipProbe.WaitUntilReadyAsync(server.Endpoint, process, TimeSpan.FromSeconds(20), "kamailio");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>The one trusted peer proxy.cfg.in supports; "0.0.0.0" (no real source) for none.</summary>
    private static string TrustedPeer(CallRouting? routing)
    {
        if (routing is null)
        {
            return "0.0.0.0";
        }
        if (!routing.IsPlainProxy || routing.TrustedPeers.Count > 1)
        {
            throw new NotSupportedException(
                "The Kamailio reference config (tests/kamailio/proxy.cfg.in) has no forwarding, gateways or " +
                "outbound routes and at most one trusted peer; those cases are Tandem-only tests.");
        }
        return routing.TrustedPeers.Count == 1 ? routing.TrustedPeers[0] : "0.0.0.0";
    }

    /// <summary>db_text table read by htable: key "user@domain" -> plaintext password.</summary>
    private static void WritePasswordTable(string dbDir, IEnumerable<TestUser> users)
    {
        var table = new StringBuilder("id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n");
        var id = 1;
        foreach (var u in users)
        {
            if (u.Password.Contains(':') || u.Aor.Contains(':'))
            {
                throw new ArgumentException("db_text separates columns with ':'; keep it out of test users", nameof(users));
            }
            table.Append(id++).Append(':').Append(u.Aor).Append(":0:0:").Append(u.Password).Append(":0\n");
        }
        File.WriteAllText(Path.Combine(dbDir, "passwords"), table.ToString());
        File.WriteAllText(Path.Combine(dbDir, "version"), "table_name(string) table_version(int)\npasswords:2\n");
    }

    public async ValueTask DisposeAsync()
    {
        // Ask politely first (the main process then stops its workers), then kill by PID.
        if (!_process.HasExited)
        {
            await _process.StopGracefullyAsync(TimeSpan.FromSeconds(5));
        }
        await _process.DisposeAsync();
        try
        {
            _work.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
