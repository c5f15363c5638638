using System.Diagnostics;
using System.Globalization;
using System.Text;
using Tandem.EndToEnd.Tests.Infrastructure;
using Tandem.Lab.Netns;
using Xunit.Abstractions;

namespace Tandem.EndToEnd.Tests.Lab;

/// <summary>
/// The short CI version of the failover lab: the real <c>tandem lab failover</c> command (same binary as the nodes it
/// starts), two runs of every failure against Tandem, then checks of runs.csv, report.md and gaps.svg; and the teardown
/// on SIGINT. Needs root, SIPp and nftables (scripts/test.sh installs them). The measured gaps are printed, not asserted
/// tightly: the bound below only catches a lab that measures nothing or a cluster that never fails over.
/// </summary>
[Trait("Category", "Lab")]
public sealed class FailoverLabTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TwoRunsOfEveryFailureWriteTenSaneRowsAReportAndABoxPlot()
    {
        var dir = Directory.CreateTempSubdirectory("tandem-lab-ci-");
        var passed = false;
        try
        {
            var (exitCode, stdout, stderr) = await RunLabAsync(["--runs", "2", "--failure", "all", "--system", "tandem", "--out", dir.FullName, "--seed", "7"], TimeSpan.FromMinutes(6));
            output.WriteLine(stdout);
            output.WriteLine(stderr);
            Assert.True(exitCode == 0, $"tandem lab failover exited with {exitCode}\n{stderr}");

            var lines = File.ReadAllLines(Path.Combine(dir.FullName, "runs.csv"));
            var header = lines[0].Split(',');
            Assert.Equal(["system", "failure", "run", "gap_ms", "requests_lost", "registrations_lost", "calls_dropped", "holder_after"], header[..8]);
            var rows = lines[1..].Select(l => header.Zip(l.Split(',')).ToDictionary(p => p.First, p => p.Second)).ToList();
            Assert.Equal(10, rows.Count);
            Assert.Equal(["freeze", "kill", "linkdown", "partition", "stop"], rows.Select(r => r["failure"]).Distinct().Order());
            foreach (var row in rows)
            {
                var gap = double.Parse(row["gap_ms"], CultureInfo.InvariantCulture);
                Assert.True(gap is > 0 and < 10_000, $"{row["failure"]} run {row["run"]}: gap {gap} ms");
                Assert.True(int.Parse(row["requests_lost"], CultureInfo.InvariantCulture) >= 0);
                Assert.InRange(int.Parse(row["registrations_lost"], CultureInfo.InvariantCulture), 0, 10);
                Assert.InRange(int.Parse(row["calls_dropped"], CultureInfo.InvariantCulture), 0, int.Parse(row["calls_in_progress"], CultureInfo.InvariantCulture));
                Assert.Equal("true", row["recovered"]);
                Assert.Contains(row["holder_after"], new[] { "a", "b", "a+b" });
                Assert.True(int.Parse(row["register_iterations"], CultureInfo.InvariantCulture) > 0, "the REGISTER loop ran");
                Assert.True(int.Parse(row["call_iterations"], CultureInfo.InvariantCulture) > 0, "the call loop ran");
            }
            // A failure of the holder that is not a partition moves the address to the other node.
            foreach (var row in rows.Where(r => r["failure"] is "kill" or "stop" or "linkdown"))
            {
                Assert.Contains(row["holder_after"].Split('+'), h => h != row["holder_before"]);
            }

            var report = File.ReadAllText(Path.Combine(dir.FullName, "report.md"));
            Assert.Contains("| tandem | kill | 2 |", report);
            Assert.Contains("--seed 7", report);
            var svg = File.ReadAllText(Path.Combine(dir.FullName, "gaps.svg"));
            Assert.Equal(5, CountOf(svg, "class=\"case\""));
            passed = true;
        }
        finally
        {
            // A failed run keeps its work files (node logs, SIPp message traces) for the post-mortem.
            if (passed)
            {
                dir.Delete(recursive: true);
            }
            else
            {
                output.WriteLine($"lab output kept in {dir.FullName}");
            }
        }
    }

    [Fact]
    public async Task SigintTearsTheLabDown()
    {
        var dir = Directory.CreateTempSubdirectory("tandem-lab-sigint-");
        try
        {
            var psi = TandemCli.StartInfo(["lab", "failover", "--runs", "1", "--failure", "kill", "--out", dir.FullName], dir.FullName);
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            using var process = new Process { StartInfo = psi };
            var text = new StringBuilder();
            var runId = "";
            var up = new TaskCompletionSource();
            process.OutputDataReceived += (_, e) =>
            {
                lock (text)
                {
                    text.AppendLine(e.Data);
                }
                if (e.Data?.Contains(": switch ", StringComparison.Ordinal) == true)
                {
                    runId = e.Data.Split("netns lab ")[1].Split(':')[0];
                }
                if (e.Data?.Contains("tandem: up", StringComparison.Ordinal) == true)
                {
                    up.TrySetResult();
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                lock (text)
                {
                    text.AppendLine(e.Data);
                }
            };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await up.Task.WaitAsync(TimeSpan.FromSeconds(90));
            Assert.NotEqual("", runId);
            Assert.Contains(await NetnsLab.ListLabNamespacesAsync(), n => n.Name.StartsWith(runId, StringComparison.Ordinal));

            // Ctrl-C: SIGINT to the lab command only (its nodes and SIPp runs must be ended by the lab itself).
            using (var interrupt = Process.Start("kill", ["-INT", process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await interrupt.WaitForExitAsync();
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(cts.Token);
            output.WriteLine(text.ToString());
            Assert.Equal(1, process.ExitCode);
            Assert.DoesNotContain(await NetnsLab.ListLabNamespacesAsync(), n => n.Name.StartsWith(runId, StringComparison.Ordinal));
            Assert.Contains("interrupted", text.ToString());
            Assert.True(File.Exists(Path.Combine(dir.FullName, "report.md")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + 1, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    /// <summary>Runs the command; on timeout it gets SIGTERM first (so it tears its lab down), then SIGKILL.</summary>
    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunLabAsync(IEnumerable<string> arguments, TimeSpan timeout)
    {
        var psi = TandemCli.StartInfo(["lab", "failover", .. arguments], Path.GetTempPath());
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var process = new Process { StartInfo = psi };
        var stdout = new OutputBuffer();
        var stderr = new OutputBuffer();
        process.OutputDataReceived += (_, e) => stdout.Append("", e.Data);
        process.ErrorDataReceived += (_, e) => stderr.Append("", e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Processes.Terminate(process.Id);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
            }
            return (-1, stdout.ToString(), $"timed out after {timeout.TotalMinutes} min\n{stderr}");
        }
        return (process.ExitCode, stdout.ToString(), stderr.ToString());
    }
}
