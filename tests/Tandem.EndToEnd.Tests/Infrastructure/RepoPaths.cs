namespace Tandem.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Files of the repository that the tests use at run time (SIPp scenarios, the Kamailio
/// config template). Found by walking up from the test assembly to the directory holding
/// Tandem.sln, so the tests work from any build output directory.
/// </summary>
public static class RepoPaths
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    public static string Root => LazyRoot.Value;

    public static string SippScenarios => Path.Combine(Root, "tests", "sipp");

    public static string KamailioConfigTemplate => Path.Combine(Root, "tests", "kamailio", "registrar.cfg.in");

    public static string KamailioProxyConfigTemplate => Path.Combine(Root, "tests", "kamailio", "proxy.cfg.in");

    public static string Scenario(string name)
    {
        var path = Path.Combine(SippScenarios, name + ".xml");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"SIPp scenario '{name}' not found at {path}", path);
        }
        return path;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tandem.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException(
            $"Cannot find the repository root (a directory with Tandem.sln) above {AppContext.BaseDirectory}");
    }
}
