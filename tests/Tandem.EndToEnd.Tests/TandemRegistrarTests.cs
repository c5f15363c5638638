using System.Diagnostics;
using Tandem.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests;

/// <summary>
/// The registrar scenarios against the real `tandem` program (built from src/Tandem.Host),
/// plus what only Tandem has: the `registrations list` CLI and persistence across a restart.
/// See <see cref="TandemServer"/> for the exact CLI/readiness contract these tests assume.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class TandemRegistrarTests(ITestOutputHelper output) : RegistrarScenarioTests(output)
{
    private static readonly TimeSpan ListTimeout = TimeSpan.FromSeconds(10);

    protected override async Task<ISipServer> CreateServerAsync(ServerSettings settings) =>
        await TandemServer.StartAsync(settings);

    private async Task<TandemServer> StartTandemAsync(ServerSettings settings) => (TandemServer)await StartAsync(settings);

    private static string ContactOf(SippResult result) => $"sippe2e@127.0.0.1:{result.LocalPort}";

    /// <summary>
    /// Runs `registrations list` until <paramref name="condition"/> holds or the timeout passes,
    /// so a store that writes shortly after the 200 OK (write-behind) or expires bindings on a
    /// timer is not reported as broken. Returns the last output.
    /// </summary>
    private async Task<CommandResult> ListUntilAsync(TandemServer server, Func<string, bool> condition, string expectation)
    {
        var clock = Stopwatch.StartNew();
        CommandResult last;
        while (true)
        {
            last = await server.ListRegistrationsAsync();
            Assert.True(last.ExitCode == 0, $"`tandem registrations list` failed:\n{last}");
            if (condition(last.Stdout))
            {
                TestOutput.WriteLine($"registrations list after {clock.ElapsedMilliseconds} ms:\n{last.Stdout}");
                return last;
            }
            if (clock.Elapsed > ListTimeout)
            {
                Assert.Fail($"`tandem registrations list` should show that {expectation} within {ListTimeout.TotalSeconds} s.\n" +
                    $"{last}\n--- tandem output ---\n{server.OutputTail()}");
            }
            await Task.Delay(200);
        }
    }

    [Theory]
    [InlineData(SipTransport.Udp)]
    [InlineData(SipTransport.Tcp)]
    public async Task Registrations_list_shows_a_new_binding(SipTransport transport)
    {
        var server = await StartTandemAsync(new ServerSettings([TestUser.Alice]));
        var result = await SippAsync(server, "register-auth", transport, [TestUser.Alice]);
        AssertPassed(result, server, "register");

        var contact = ContactOf(result);
        await ListUntilAsync(server,
            text => text.Contains(TestUser.Alice.Aor, StringComparison.OrdinalIgnoreCase) && text.Contains(contact, StringComparison.OrdinalIgnoreCase),
            $"{TestUser.Alice.Aor} is bound to {contact}");
    }

    [Fact]
    public async Task Registrations_list_for_one_aor_shows_its_binding()
    {
        var server = await StartTandemAsync(new ServerSettings([TestUser.Alice]));
        var result = await SippAsync(server, "register-auth", SipTransport.Udp, [TestUser.Alice]);
        AssertPassed(result, server, "register");

        var listed = await server.ListRegistrationsAsync(TestUser.Alice.Aor);
        Assert.True(listed.ExitCode == 0 && listed.Stdout.Contains(ContactOf(result), StringComparison.OrdinalIgnoreCase),
            $"`tandem registrations list {TestUser.Alice.Aor}` should list {ContactOf(result)}:\n{listed}");
    }

    [Fact]
    public async Task Expires_zero_removes_the_binding_from_registrations_list()
    {
        var server = await StartTandemAsync(new ServerSettings([TestUser.Alice]));
        var result = await SippAsync(server, "unregister", SipTransport.Udp, [TestUser.Alice]);
        AssertPassed(result, server, "register then unregister");

        await ListUntilAsync(server, text => !text.Contains("sippe2e@", StringComparison.OrdinalIgnoreCase),
            "the binding removed with Expires: 0 is gone");
    }

    [Fact]
    public async Task Expired_binding_leaves_registrations_list()
    {
        var server = await StartTandemAsync(new ServerSettings([TestUser.Alice], ShortMinExpires: true));
        var result = await SippAsync(server, "register-expiry", SipTransport.Udp, [TestUser.Alice]);
        AssertPassed(result, server, "a 2 s binding is gone 4 s later");

        await ListUntilAsync(server, text => !text.Contains("sippe2e@", StringComparison.OrdinalIgnoreCase),
            "the expired binding is gone");
    }

    [Fact]
    public async Task Registration_survives_a_graceful_restart()
    {
        var server = await StartTandemAsync(new ServerSettings([TestUser.Alice]));
        var result = await SippAsync(server, "register-auth", SipTransport.Udp, [TestUser.Alice]);
        AssertPassed(result, server, "register before the restart");
        var contact = ContactOf(result);

        var exitCode = await server.StopGracefullyAsync();
        Assert.True(exitCode == 0, $"tandem should exit 0 on SIGTERM, exited {exitCode}.\n{server.OutputTail()}");

        await server.StartAgainAsync();

        await ListUntilAsync(server, text => text.Contains(contact, StringComparison.OrdinalIgnoreCase),
            $"the binding to {contact} made before the restart is still there");
        AssertPassed(await SippAsync(server, "register-query", SipTransport.Udp, [TestUser.Alice]), server,
            "REGISTER without Contact after the restart lists the binding made before it");
    }
}
