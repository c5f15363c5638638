using Tandem.Host;
using Tandem.Host.Commands;
using Tandem.Server.Tests.Storage;
using Tandem.Sip.Tests;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Server.Tests.Cli;

public sealed class CdrCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _clock = new();

    public CdrCliTests()
    {
        // The CLI's "now": 2025-01-01T12:00:00Z.
        _clock.Advance(TimeSpan.FromHours(12));
    }

    public void Dispose() => _dir.Dispose();

    private string DataDir => _dir.Combine("data");

    private DateTimeOffset Now => _clock.GetUtcNow();

    private async Task<(int ExitCode, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, new CliContext
        {
            Stdout = stdout,
            Stderr = stderr,
            Environment = new Dictionary<string, string>(),
            CurrentDirectory = _dir.Path,
            Time = _clock,
        });
        return (code, stdout.ToString(), stderr.ToString());
    }

    private async Task SeedAsync()
    {
        var store = new SqliteCdrStore(SqliteDatabase.Open(DataDir));
        await store.AppendBatchAsync(
        [
            CdrStoreTests.MakeCdr("old", Now.AddHours(-3), caller: "sip:alice@example.com", callee: "sip:100@pbx.example"),
            CdrStoreTests.MakeCdr("busy", Now.AddMinutes(-50), caller: "sip:bob@example.com", callee: "sip:200@pbx.example", disposition: CdrDisposition.Busy),
            CdrStoreTests.MakeCdr("new", Now.AddMinutes(-10), caller: "sip:alice@example.com", callee: "sip:200@pbx.example") with
            {
                TimedOut = true,
                Callee = "\"Sales, 2nd floor\" <sip:200@pbx.example>",
            },
        ]);
    }

    private static string[] DataLines(string stdout) => stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[1..];

    [Fact]
    public async Task Lists_every_record_newest_first_as_a_table()
    {
        await SeedAsync();

        var (code, stdout, stderr) = await Run("cdr", "list", "--data-dir", DataDir);

        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("START (UTC)", lines[0]);
        Assert.Equal(4, lines.Length);
        Assert.Contains("call-new", lines[1]);
        Assert.Contains("answered (timed out)", lines[1]);
        Assert.Contains("0:01:00", lines[1]);
        Assert.Matches(@"^2025-01-01 11:10:00\s+sip:bob@example\.com\s+sip:200@pbx\.example\s+busy\s+486\s+0:00:00\s+call-busy$", lines[2]);
        Assert.StartsWith("2025-01-01 09:00:00", lines[3]);
    }

    [Theory]
    [InlineData(new[] { "--since", "-1h" }, new[] { "call-new", "call-busy" })]
    [InlineData(new[] { "--since=-30m" }, new[] { "call-new" })]
    [InlineData(new[] { "--until", "2025-01-01T11:00:00Z" }, new[] { "call-old" })]
    [InlineData(new[] { "--since", "2025-01-01T09:00:00+00:00", "--until", "-20m" }, new[] { "call-busy", "call-old" })]
    [InlineData(new[] { "--caller", "ALICE" }, new[] { "call-new", "call-old" })]
    [InlineData(new[] { "--callee", "200@", "--caller", "bob" }, new[] { "call-busy" })]
    [InlineData(new[] { "--limit", "2" }, new[] { "call-new", "call-busy" })]
    [InlineData(new[] { "--limit", "0" }, new[] { "call-new", "call-busy", "call-old" })]
    public async Task Filters_select_the_records(string[] options, string[] expectedCallIds)
    {
        await SeedAsync();

        var (code, stdout, _) = await Run(["cdr", "list", "--data-dir", DataDir, .. options]);

        Assert.Equal(0, code);
        var callIds = DataLines(stdout).Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]);
        Assert.Equal(expectedCallIds, callIds);
    }

    [Fact]
    public async Task Csv_has_every_field_and_quotes_what_needs_it()
    {
        await SeedAsync();

        var (code, stdout, _) = await Run("cdr", "list", "--format", "csv", "--since", "-15m", "--data-dir", DataDir);

        Assert.Equal(0, code);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("id,call_id,from_tag,to_tag,caller,callee,start,answer,end,duration_s,final_status,disposition,timed_out,node", lines[0]);
        Assert.Equal(
            "new,call-new,ft-new,tt-new,sip:alice@example.com,\"\"\"Sales, 2nd floor\"\" <sip:200@pbx.example>\"," +
            "2025-01-01T11:50:00.000Z,2025-01-01T11:50:03.000Z,2025-01-01T11:51:03.000Z,60.000,200,answered,true,node-1",
            lines[1]);
        Assert.Equal(2, lines.Length);
    }

    [Fact]
    public async Task An_empty_result_says_so()
    {
        await SeedAsync();

        var table = await Run("cdr", "list", "--caller", "nobody", "--data-dir", DataDir);
        var csv = await Run("cdr", "list", "--caller", "nobody", "--format", "csv", "--data-dir", DataDir);

        Assert.Equal((0, "no call records\n"), (table.ExitCode, table.Stdout));
        Assert.Single(csv.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData(new[] { "--since", "yesterday" }, "--since: 'yesterday' is not an ISO 8601 time")]
    [InlineData(new[] { "--until", "-5y" }, "--until: '-5y' is not")]
    [InlineData(new[] { "--limit", "ten" }, "--limit: 'ten' is not a number")]
    [InlineData(new[] { "--limit", "-1" }, "--limit: '-1' is not a number")]
    [InlineData(new[] { "--format", "json" }, "--format: 'json' is not table or csv")]
    [InlineData(new[] { "--since", "-1h", "--until", "-2h" }, "--since must be before --until")]
    [InlineData(new[] { "--node", "a" }, "unknown option '--node'")]
    public async Task Bad_options_are_usage_errors(string[] options, string message)
    {
        var (code, stdout, stderr) = await Run(["cdr", "list", "--data-dir", DataDir, .. options]);

        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains(message, stderr);
        Assert.Contains("usage: tandem cdr list", stderr);
    }

    [Fact]
    public async Task Without_a_database_it_fails_and_creates_nothing()
    {
        var (code, _, stderr) = await Run("cdr", "list", "--data-dir", DataDir);

        Assert.Equal(1, code);
        Assert.Contains("tandem cdr list: no database at", stderr);
        Assert.False(Directory.Exists(DataDir));
    }

    [Fact]
    public async Task Help_explains_the_options_and_the_group_lists_the_command()
    {
        var help = await Run("cdr", "list", "--help");
        var group = await Run("cdr", "--help");
        var top = await Run("--help");

        Assert.Equal(0, help.ExitCode);
        Assert.StartsWith("usage: tandem cdr list [--since TIME] [--until TIME] [--caller TEXT] [--callee TEXT] [--limit N] [--format FORMAT]", help.Stdout);
        Assert.Contains("-1h, -30m", help.Stdout);
        Assert.Contains("cdr list", group.Stdout);
        Assert.Contains("cdr list", top.Stdout);
    }

    [Theory]
    [InlineData("-90s", -90)]
    [InlineData("-30m", -1800)]
    [InlineData("-1h", -3600)]
    [InlineData("-2d", -172800)]
    [InlineData("2025-01-01T11:00:00Z", -3600)]
    [InlineData("2025-01-01T13:00:00+02:00", -3600)]
    [InlineData("2025-01-01T11:00:00", -3600)] // no offset: UTC
    public void Times_parse_absolute_and_relative(string text, int secondsFromNow)
    {
        Assert.True(CdrCommands.TryParseTime(text, Now, out var value));
        Assert.Equal(Now.AddSeconds(secondsFromNow), value);
    }
}
