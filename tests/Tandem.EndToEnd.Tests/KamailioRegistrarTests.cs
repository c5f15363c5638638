using Tandem.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests;

/// <summary>
/// The registrar scenarios against Kamailio 5.6 from Debian: a known-good registrar, so these
/// pass today and keep proving that the scenarios and the harness are right (a Tandem failure
/// is then Tandem's). Needs the `kamailio` package, which scripts/test.sh installs.
/// </summary>
[Trait("Category", "Kamailio")]
public sealed class KamailioRegistrarTests(ITestOutputHelper output) : RegistrarScenarioTests(output)
{
    protected override async Task<ISipServer> CreateServerAsync(ServerSettings settings) =>
        await KamailioServer.StartAsync(settings);
}
