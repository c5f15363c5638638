using Tandem.Host;
using Tandem.Lab.Failover;

namespace Tandem.Server.Tests.Cli;

/// <summary><c>tandem lab failover</c>'s argument checks (the lab itself runs in tests/Tandem.EndToEnd.Tests/Lab).</summary>
public sealed class LabCliTests
{
    private static async Task<(int ExitCode, string Stdout, string Stderr)> Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, new CliContext { Stdout = stdout, Stderr = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData(new[] { "lab", "failover" }, "--out DIR is required")]
    [InlineData(new[] { "lab", "failover", "--out", "x", "--runs", "0" }, "--runs must be a whole number from 1 to 1000, not '0'")]
    [InlineData(new[] { "lab", "failover", "--out", "x", "--failure", "reboot" }, "--failure must be kill, linkdown, stop, freeze, partition or all, not 'reboot'")]
    [InlineData(new[] { "lab", "failover", "--out", "x", "--system", "asterisk" }, "--system must be tandem, kamailio or all, not 'asterisk'")]
    [InlineData(new[] { "lab", "failover", "--out", "x", "--seed", "abc" }, "--seed must be an integer")]
    [InlineData(new[] { "lab", "frobnicate" }, "tandem lab: unknown command 'frobnicate'")]
    public async Task Usage_errors_exit_2_with_a_message(string[] args, string message)
    {
        var (exitCode, _, stderr) = await Run(args);
        Assert.Equal(2, exitCode);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public async Task Help_lists_the_options_and_the_prerequisites()
    {
        var (exitCode, stdout, _) = await Run("lab", "failover", "--help");
        Assert.Equal(0, exitCode);
        Assert.StartsWith("usage: tandem lab failover", stdout);
        foreach (var option in new[] { "--runs N", "--failure KIND", "--system NAME", "--out DIR", "--seed S", "sip-tester", "nftables" })
        {
            Assert.Contains(option, stdout);
        }
    }

    [Fact]
    public async Task Kamailio_fails_with_a_clear_message_until_its_system_is_built_in()
    {
        var available = LabSystems.Expand("kamailio").Count > 0;
        Assert.Equal(available, LabSystems.Unavailable("kamailio") is null);
        Assert.Equal(["tandem"], LabSystems.Expand("tandem"));
        Assert.Contains("unknown system 'asterisk'", LabSystems.Unavailable("asterisk"));
        if (!available)
        {
            var (exitCode, _, stderr) = await Run("lab", "failover", "--system", "kamailio", "--out", Path.GetTempPath());
            Assert.Equal(1, exitCode);
            Assert.Contains("'kamailio' (Kamailio + keepalived) is not available in this build", stderr);
        }
    }
}
