using Tandem.Host;
using Tandem.Sip.Auth;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Cli;

public sealed class CliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string DataDir => _dir.Combine("data");

    private sealed record Outcome(int ExitCode, string Stdout, string Stderr);

    private async Task<Outcome> Run(params string[] args) => await RunWith(null, null, args);

    private async Task<Outcome> RunWith(string? stdin, Dictionary<string, string>? environment, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, new CliContext
        {
            Stdout = stdout,
            Stderr = stderr,
            Stdin = new StringReader(stdin ?? ""),
            Environment = environment ?? [],
            CurrentDirectory = _dir.Path,
        });
        return new Outcome(code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task No_arguments_prints_usage_and_exits_2()
    {
        var outcome = await Run();

        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains("usage: tandem COMMAND", outcome.Stderr);
        Assert.Equal("", outcome.Stdout);
    }

    [Fact]
    public async Task Version_prints_the_version()
    {
        var outcome = await Run("--version");

        Assert.Equal(0, outcome.ExitCode);
        Assert.StartsWith("tandem 0.1.0", outcome.Stdout);
    }

    [Theory]
    [InlineData(new[] { "frobnicate" }, "tandem: unknown command 'frobnicate'")]
    [InlineData(new[] { "user" }, "usage: tandem user COMMAND")]
    [InlineData(new[] { "user", "rename" }, "tandem user: unknown command 'rename'")]
    [InlineData(new[] { "user", "add" }, "tandem user add: missing AOR")]
    [InlineData(new[] { "user", "remove", "a@b", "c@d" }, "tandem user remove: unexpected argument 'c@d'")]
    [InlineData(new[] { "user", "list", "--verbose" }, "tandem user list: unknown option '--verbose'")]
    [InlineData(new[] { "user", "list", "-v" }, "tandem user list: unknown option '-v'")]
    [InlineData(new[] { "user", "list", "--data-dir" }, "tandem user list: option '--data-dir' needs a value (DIR)")]
    [InlineData(new[] { "config", "check", "--config", "a", "--config", "b" }, "option '--config' given more than once")]
    [InlineData(new[] { "user", "add", "alice@example.com" }, "a password is required")]
    [InlineData(new[] { "user", "add", "alice@example.com", "--password", "x", "--password-stdin" }, "either --password or --password-stdin")]
    [InlineData(new[] { "user", "add", "alice", "--password", "x" }, "'alice' is not user@domain")]
    [InlineData(new[] { "run", "--help=yes" }, "option '--help' takes no value")]
    public async Task Usage_errors_exit_2_with_a_message(string[] args, string message)
    {
        var outcome = await Run(args);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains(message, outcome.Stderr);
        Assert.Contains("usage:", outcome.Stderr);
    }

    [Theory]
    [InlineData("run", "--listen TRANSPORT:ADDRESS:PORT")]
    [InlineData("user add", "--password-stdin")]
    [InlineData("registrations list", "write-behind")]
    [InlineData("config check", "configuration OK")]
    public async Task Every_command_has_help(string command, string expected)
    {
        var outcome = await Run([.. command.Split(' '), "--help"]);

        Assert.Equal(0, outcome.ExitCode);
        Assert.StartsWith($"usage: tandem {command}", outcome.Stdout);
        Assert.Contains(expected, outcome.Stdout);
        Assert.Contains("--data-dir DIR", outcome.Stdout);
    }

    [Fact]
    public async Task Options_accept_the_equals_form()
    {
        var outcome = await Run("user", "add", "alice@example.com", "--password=pw", $"--data-dir={DataDir}");

        Assert.Equal(0, outcome.ExitCode);
        Assert.True(File.Exists(Path.Combine(DataDir, "tandem.db")));
    }

    [Fact]
    public async Task User_add_list_passwd_disable_remove_end_to_end()
    {
        var add = await Run("user", "add", "sip:alice@Example.COM", "--password", "s3cret", "--display-name", "Alice A", "--data-dir", DataDir);
        Assert.Equal((0, "added alice@example.com\n"), (add.ExitCode, add.Stdout));

        var stored = await Subscribers().GetAsync("alice", "example.com");
        Assert.NotNull(stored);
        Assert.Equal(DigestHash.ComputeHa1(DigestAlgorithm.Md5, "alice", "example.com", "s3cret"), stored.Ha1Md5);
        Assert.Equal(DigestHash.ComputeHa1(DigestAlgorithm.Sha256, "alice", "example.com", "s3cret"), stored.Ha1Sha256);
        Assert.Equal("Alice A", stored.DisplayName);

        var duplicate = await Run("user", "add", "alice@example.com", "--password", "other", "--data-dir", DataDir);
        Assert.Equal(1, duplicate.ExitCode);
        Assert.Contains("already exists", duplicate.Stderr);

        Assert.Equal(0, (await RunWith("from-stdin\n", null, "user", "add", "bob@example.com", "--password-stdin", "--data-dir", DataDir)).ExitCode);
        Assert.Equal(
            DigestHash.ComputeHa1(DigestAlgorithm.Sha256, "bob", "example.com", "from-stdin"),
            (await Subscribers().GetAsync("bob", "example.com"))!.Ha1Sha256);

        var list = await Run("user", "list", "--data-dir", DataDir);
        Assert.Equal(0, list.ExitCode);
        var lines = list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("USER", lines[0]);
        Assert.Matches(@"^alice@example\.com\s+Alice A\s+yes$", lines[1]);
        Assert.Matches(@"^bob@example\.com\s+yes$", lines[2]);

        Assert.Equal(0, (await Run("user", "passwd", "alice@example.com", "--password", "n3w", "--data-dir", DataDir)).ExitCode);
        Assert.Equal(
            DigestHash.ComputeHa1(DigestAlgorithm.Md5, "alice", "example.com", "n3w"),
            (await Subscribers().GetAsync("alice", "example.com"))!.Ha1Md5);

        Assert.Equal(0, (await Run("user", "disable", "alice@example.com", "--data-dir", DataDir)).ExitCode);
        Assert.False((await Subscribers().GetAsync("alice", "example.com"))!.Enabled);
        Assert.Equal(0, (await Run("user", "enable", "alice@example.com", "--data-dir", DataDir)).ExitCode);
        Assert.True((await Subscribers().GetAsync("alice", "example.com"))!.Enabled);

        var remove = await Run("user", "remove", "alice@example.com", "--data-dir", DataDir);
        Assert.Equal((0, "removed alice@example.com\n"), (remove.ExitCode, remove.Stdout));
        Assert.Null(await Subscribers().GetAsync("alice", "example.com"));

        var again = await Run("user", "remove", "alice@example.com", "--data-dir", DataDir);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("no such user alice@example.com", again.Stderr);

        var passwdMissing = await Run("user", "passwd", "carol@example.com", "--password", "x", "--data-dir", DataDir);
        Assert.Equal(1, passwdMissing.ExitCode);
    }

    [Fact]
    public async Task User_import_adds_accounts_in_bulk_and_refuses_bad_files_whole()
    {
        var bad = await RunWith("# accounts\nbob@example.com,pw1\nnot-an-aor\n", null, "user import", "-", "--data-dir", DataDir);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("-:3:", bad.Stderr);
        Assert.Contains("nothing imported", bad.Stderr);

        var good = await RunWith("# accounts\nbob@example.com,pw1\n\ncarol@example.org,pw,with,commas\n", null, "user import", "-", "--data-dir", DataDir);
        Assert.Equal(0, good.ExitCode);
        Assert.Contains("imported 2 account(s), 0 already existed", good.Stdout);

        var again = await RunWith("bob@example.com,other\n", null, "user import", "-", "--data-dir", DataDir);
        Assert.Contains("imported 0 account(s), 1 already existed", again.Stdout);

        var store = new SqliteSubscriberStore(SqliteDatabase.Open(DataDir));
        var carol = await store.GetAsync("carol", "example.org");
        Assert.Equal(DigestHash.ComputeHa1(DigestAlgorithm.Md5, "carol", "example.org", "pw,with,commas"), carol!.Ha1Md5);
        var bob = await store.GetAsync("bob", "example.com");
        Assert.Equal(DigestHash.ComputeHa1(DigestAlgorithm.Sha256, "bob", "example.com", "pw1"), bob!.Ha1Sha256);
    }

    [Fact]
    public async Task Listing_without_a_database_fails_instead_of_creating_one()
    {
        var outcome = await Run("user", "list", "--data-dir", DataDir);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("no database at", outcome.Stderr);
        Assert.False(Directory.Exists(DataDir));
    }

    [Fact]
    public async Task Data_dir_comes_from_the_config_file_and_environment()
    {
        var fromFile = _dir.Combine("from-file");
        var config = _dir.Combine("custom.yaml");
        await File.WriteAllTextAsync(config, $"data-dir: {fromFile}\n");
        Assert.Equal(0, (await Run("user", "add", "a@x.example", "--password", "p", "--config", config)).ExitCode);
        Assert.True(File.Exists(Path.Combine(fromFile, "tandem.db")));

        var fromEnvironment = _dir.Combine("from-env");
        var environment = new Dictionary<string, string> { ["TANDEM_DATA_DIR"] = fromEnvironment };
        Assert.Equal(0, (await RunWith(null, environment, "user", "add", "a@x.example", "--password", "p")).ExitCode);
        Assert.True(File.Exists(Path.Combine(fromEnvironment, "tandem.db")));
    }

    [Fact]
    public async Task Registrations_list_shows_stored_bindings()
    {
        var database = SqliteDatabase.Open(DataDir);
        var store = new SqliteBindingStore(database);
        var now = DateTimeOffset.UtcNow;
        await store.UpsertAsync(new Binding
        {
            Aor = "sip:alice@example.com",
            ContactUri = "sip:alice@192.0.2.10:5060;transport=udp",
            ExpiresAt = now.AddSeconds(120),
            CallId = "c1",
            CSeq = 1,
            SourceAddress = "192.0.2.10:5060",
            Transport = "UDP",
            UserAgent = "Phone/2.0",
            UpdatedAt = now,
        });
        await store.UpsertAsync(new Binding
        {
            Aor = "sip:bob@example.com",
            ContactUri = "sip:bob@192.0.2.11:5060",
            ExpiresAt = now.AddSeconds(-5),
            CallId = "c2",
            CSeq = 1,
            SourceAddress = "192.0.2.11:5060",
            Transport = "TCP",
            UpdatedAt = now,
        });

        var all = await RunWith(null, new() { ["TANDEM_STORAGE_MODE"] = "write-behind" }, "registrations", "list", "--data-dir", DataDir);
        Assert.Equal(0, all.ExitCode);
        var lines = all.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["AOR", "CONTACT", "SOURCE", "TRANSPORT", "EXPIRES", "(s)", "USER", "AGENT"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var alice = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["sip:alice@example.com", "sip:alice@192.0.2.10:5060;transport=udp", "192.0.2.10:5060", "UDP"], alice[..4]);
        Assert.InRange(int.Parse(alice[4], System.Globalization.CultureInfo.InvariantCulture), 110, 120);
        Assert.Equal("Phone/2.0", alice[5]);
        Assert.Contains("expired", lines[2]);
        Assert.Contains("write-behind", all.Stderr);

        var one = await Run("registrations", "list", "bob@example.com", "--data-dir", DataDir);
        Assert.Equal(2, one.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.DoesNotContain("alice", one.Stdout);

        var writeThrough = await Run("registrations", "list", "nobody@example.com", "--data-dir", DataDir);
        Assert.Equal("no registrations for sip:nobody@example.com\n", writeThrough.Stdout);
        Assert.Equal("", writeThrough.Stderr);
    }

    [Fact]
    public async Task Config_check_reports_ok_with_the_effective_settings()
    {
        await File.WriteAllTextAsync(_dir.Combine("tandem.yaml"), "registrar:\n  min-expires: 120\n");

        var outcome = await Run("config", "check");

        Assert.Equal(0, outcome.ExitCode);
        Assert.StartsWith("configuration OK (", outcome.Stdout);
        Assert.Matches(@"registrar\.min-expires\s+= 120  \(.*tandem\.yaml:2\)", outcome.Stdout);
        Assert.Matches(@"registrar\.max-expires\s+= 3600  \(default\)", outcome.Stdout);
    }

    [Fact]
    public async Task Config_check_prints_every_error_and_exits_1()
    {
        var config = _dir.Combine("bad.yaml");
        await File.WriteAllTextAsync(config, "registrar:\n  min-expires: 7200\n  bogus: 1\n");

        var outcome = await Run("config", "check", "--config", config);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Equal("", outcome.Stdout);
        Assert.Contains($"{config}:2: registrar.min-expires: must be ≤ registrar.max-expires (got 7200 > 3600)", outcome.Stderr);
        Assert.Contains($"{config}:3: registrar.bogus: unknown key", outcome.Stderr);
        Assert.Contains("2 error(s)", outcome.Stderr);
    }

    [Fact]
    public async Task Run_with_a_bad_listen_option_exits_1_without_starting()
    {
        var outcome = await Run("run", "--listen", "udp:localhost:5060", "--data-dir", DataDir);

        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains("--listen: listen: 'localhost' is not an IP address", outcome.Stderr);
        Assert.False(Directory.Exists(DataDir));
    }

    [Fact]
    public async Task Run_starts_and_stops_cleanly_on_shutdown_and_creates_the_secret()
    {
        using var shutdown = new CancellationTokenSource();
        var run = CliApp.RunAsync(
            ["run", "--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--data-dir", DataDir],
            new CliContext { Stdout = TextWriter.Null, Stderr = TextWriter.Null, CurrentDirectory = _dir.Path, Shutdown = shutdown.Token });

        var secret = Path.Combine(DataDir, "secret");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!File.Exists(secret) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.False(run.IsCompleted);
        await shutdown.CancelAsync();

        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(40)));
        Assert.True(File.Exists(secret));
    }

    private SqliteSubscriberStore Subscribers() => new(SqliteDatabase.Open(DataDir));
}
