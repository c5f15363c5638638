using Tandem.Cluster.Addresses;
using Tandem.Lab.Netns;
using Xunit.Abstractions;

namespace Tandem.Cluster.Tests.LabFailover;

/// <summary>The leftover sweep must not delete the namespaces of a lab that is still running, however old (a failover
/// lab runs for hours); it knows a live run by the lock file the run holds.</summary>
public sealed class LeftoverLockTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_old_run_that_still_holds_its_lock_is_kept_and_removed_once_released()
    {
        await NetnsLab.RequireNetnsAsync();
        var runId = $"tdl-{DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 7200}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3))}";
        var ns = runId + "-client";
        Directory.CreateDirectory(NetnsLab.LockDirectory);
        var lockPath = Path.Combine(NetnsLab.LockDirectory, runId + ".lock");
        try
        {
            await CommandRunner.Instance.RunCheckedAsync("ip", ["netns", "add", ns], TimeSpan.FromSeconds(5));
            using (new FileStream(lockPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
            {
                await NetnsLab.CleanupLeftoversAsync(NetnsLab.LeftoverAge, output.WriteLine);
                Assert.Contains(ns, (await NetnsLab.ListLabNamespacesAsync()).Select(n => n.Name));
            }

            await NetnsLab.CleanupLeftoversAsync(NetnsLab.LeftoverAge, output.WriteLine);
            Assert.DoesNotContain(ns, (await NetnsLab.ListLabNamespacesAsync()).Select(n => n.Name));
        }
        finally
        {
            await CommandRunner.Instance.RunAsync("ip", ["netns", "del", ns], TimeSpan.FromSeconds(5));
            File.Delete(lockPath);
        }
    }
}
