namespace Tandem.Server.Tests;

/// <summary>Files of the repository (docs, example config), found from the test binary's location.</summary>
public static class RepoFiles
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Tandem.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("repository root (Tandem.sln) not found");
        }
    }

    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);
}
