using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Tandem.Cluster.Membership;

/// <summary><c>cluster.fencing-command</c>: run through <c>/bin/sh -c</c> before taking over a dead node's addresses.</summary>
public sealed record FencingOptions(string Command, TimeSpan Timeout)
{
    public const int DefaultTimeoutMs = 5000;
}

/// <summary>Fence <see cref="Node"/>, which died holding <see cref="Addresses"/>; <see cref="HeartbeatAddresses"/> are its configured links.</summary>
public sealed record FenceRequest(NodeId Node, int Attempt, IReadOnlyList<ServiceAddress> Addresses, IReadOnlyList<IPEndPoint> HeartbeatAddresses);

/// <summary>Whether the fence succeeded (only then may the addresses be taken), with a line for the log and status.</summary>
public readonly record struct FenceResult(bool Succeeded, string Detail);

/// <summary>Makes sure a node that was declared dead really is (power it off, cut its switch port…).</summary>
public interface IFencer
{
    /// <summary>Never throws for a failing fence: it returns a failed result. Throws only when <paramref name="cancellationToken"/> is cancelled.</summary>
    Task<FenceResult> FenceAsync(FenceRequest request, CancellationToken cancellationToken);
}

/// <summary>
/// Runs the configured fencing command with <c>/bin/sh -c</c> and these environment variables:
/// <c>TANDEM_FENCE_NODE</c> (the node to fence), <c>TANDEM_FENCE_NODE_ADDRESSES</c> (its heartbeat
/// addresses, comma-separated, no port), <c>TANDEM_FENCE_ADDRESS</c> (the first service address it
/// held, <c>IP/prefix</c>), <c>TANDEM_FENCE_ADDRESSES</c> (all of them, comma-separated),
/// <c>TANDEM_FENCE_SELF</c> (this node) and <c>TANDEM_FENCE_ATTEMPT</c> (1, 2, …). Exit status 0
/// within the timeout is success; otherwise the command is killed with its children.
/// </summary>
public sealed class ShellFencer(FencingOptions options, NodeId self) : IFencer
{
    public async Task<FenceResult> FenceAsync(FenceRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var startInfo = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add(options.Command);
        startInfo.Environment["TANDEM_FENCE_NODE"] = request.Node.Value;
        startInfo.Environment["TANDEM_FENCE_NODE_ADDRESSES"] = string.Join(',', request.HeartbeatAddresses.Select(e => e.Address.ToString()).Distinct());
        startInfo.Environment["TANDEM_FENCE_ADDRESS"] = request.Addresses.Count > 0 ? request.Addresses[0].Address : "";
        startInfo.Environment["TANDEM_FENCE_ADDRESSES"] = string.Join(',', request.Addresses.Select(a => a.Address));
        startInfo.Environment["TANDEM_FENCE_SELF"] = self.Value;
        startInfo.Environment["TANDEM_FENCE_ATTEMPT"] = request.Attempt.ToString(CultureInfo.InvariantCulture);

        using var process = new Process { StartInfo = startInfo };
        var started = Stopwatch.GetTimestamp();
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new FenceResult(false, $"cannot start /bin/sh: {e.Message}");
        }

        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        // Drained so that a chatty command cannot block on a full pipe; only stderr goes into the detail.
        _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited in the meantime.
            }

            cancellationToken.ThrowIfCancellationRequested();
            return new FenceResult(false, $"timed out after {options.Timeout.TotalMilliseconds:0} ms (killed)");
        }

        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        // A child left in the background may hold the pipes open: do not wait for them for long.
        var output = await Task.WhenAny(stderr, Task.Delay(200, CancellationToken.None)).ConfigureAwait(false) == stderr ? (await stderr.ConfigureAwait(false)).Trim() : "";
        if (output.Length > 300)
        {
            output = output[..300] + "…";
        }

        var detail = $"exit status {process.ExitCode} after {ms:0} ms" + (output.Length > 0 ? $": {output}" : "");
        return new FenceResult(process.ExitCode == 0, detail);
    }
}
