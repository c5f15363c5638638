using System.ComponentModel;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Tandem.Cluster.Addresses;

/// <summary>
/// Creates sockets inside a named Linux network namespace (<c>ip netns add NAME</c>, i.e. /run/netns/NAME)
/// from this process. A socket belongs to the namespace it was created in for its whole life, so a
/// short-lived thread joins the namespace with setns(2), creates the socket and exits; the rest of the
/// process stays where it was. Used by the tests and the failover lab to run several "nodes" in one
/// process; production runs the node itself inside its namespace and passes no name.
/// </summary>
public static class NetworkNamespace
{
    private const int CloneNewNet = 0x40000000;

    /// <summary>The file that names a namespace created by <c>ip netns add</c>.</summary>
    public static string PathOf(string name) => Path.Combine("/run/netns", name);

    /// <summary>Runs <paramref name="action"/> on a fresh thread that has joined namespace <paramref name="name"/>
    /// (or on the caller's thread when <paramref name="name"/> is null). Only for short, synchronous work such as
    /// creating sockets: anything the action creates keeps the namespace.</summary>
    public static T Run<T>(string? name, Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (name is null)
        {
            return action();
        }

        var path = PathOf(name);
        T? result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
                if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw new Win32Exception(errno, $"setns into network namespace '{name}' failed (errno {errno}; needs root/CAP_SYS_ADMIN)");
                }
                result = action();
            }
            catch (Exception e)
            {
                failure = e;
            }
        })
        {
            IsBackground = true,
            Name = "netns " + name,
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            if (failure is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new InvalidOperationException($"network namespace '{name}' does not exist ({path})", failure);
            }
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        return result!;
    }

    /// <summary>Creates a socket in namespace <paramref name="name"/> (null: this process's own namespace).</summary>
    public static Socket CreateSocket(string? name, AddressFamily family, SocketType type, ProtocolType protocol)
        => Run(name, () => new Socket(family, type, protocol));

    // DllImport rather than LibraryImport: the generated stub would need unsafe code, and int arguments need no marshalling.
#pragma warning disable SYSLIB1054
    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int setns(int fd, int nstype);
#pragma warning restore SYSLIB1054
}
