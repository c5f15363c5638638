using System.Globalization;
using System.Runtime.InteropServices;

namespace Tandem.Lab.Failover.Kamailio;

/// <summary>
/// A process and all its descendants, found through /proc, signalled by PID. Kamailio forks a dozen workers and
/// keepalived a VRRP child; a node "crash" must hit every one of them, not just the PID the lab started.
/// </summary>
internal static partial class ProcessTree
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigCont = 18;
    public const int SigStop = 19;

    /// <summary><paramref name="root"/> (if alive) and every live descendant, parents before children.</summary>
    public static List<int> Collect(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            var parent = ParentOf(pid);
            if (parent is { } ppid)
            {
                if (!children.TryGetValue(ppid, out var list))
                {
                    children[ppid] = list = [];
                }
                list.Add(pid);
            }
        }
        var result = new List<int>();
        if (IsAlive(root))
        {
            result.Add(root);
        }
        var queue = new Queue<int>([root]);
        while (queue.Count > 0)
        {
            if (children.TryGetValue(queue.Dequeue(), out var list))
            {
                foreach (var child in list)
                {
                    if (IsAlive(child))
                    {
                        result.Add(child);
                    }
                    queue.Enqueue(child);
                }
            }
        }
        return result;
    }

    /// <summary>Sends <paramref name="signal"/> to each PID; those already gone are skipped.</summary>
    public static void Signal(IEnumerable<int> pids, int signal)
    {
        foreach (var pid in pids)
        {
            _ = kill(pid, signal);
        }
    }

    /// <summary>The process's start time (clock ticks after boot, /proc/PID/stat field 22): with the PID it names one
    /// process for good, so a remembered PID is not signalled after the kernel reused it.</summary>
    public static long? StartTimeOf(int pid)
    {
        var stat = ReadStat(pid);
        if (stat is null)
        {
            return null;
        }
        // Fields after "(comm)": state is field 3, starttime field 22.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields.Length > 19 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    /// <summary>Whether the PID exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        var state = StateOf(pid);
        return state is not null and not 'Z' and not 'X';
    }

    /// <summary>Waits until none of <paramref name="pids"/> is alive; false on timeout.</summary>
    public static async Task<bool> WaitGoneAsync(IReadOnlyCollection<int> pids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (pids.Any(IsAlive))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(10);
        }
        return true;
    }

    private static char? StateOf(int pid)
    {
        var stat = ReadStat(pid);
        if (stat is null)
        {
            return null;
        }
        var close = stat.LastIndexOf(')');
        return close + 2 < stat.Length ? stat[close + 2] : null;
    }

    private static int? ParentOf(int pid)
    {
        var stat = ReadStat(pid);
        if (stat is null)
        {
            return null;
        }
        // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ', 3);
        return fields.Length >= 2 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid) ? ppid : null;
    }

    private static string? ReadStat(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int kill(int pid, int sig);
}
