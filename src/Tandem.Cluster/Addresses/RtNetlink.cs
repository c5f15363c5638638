using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Tandem.Cluster.Addresses;

/// <summary>
/// Adds and removes interface addresses with one rtnetlink request each (RTM_NEWADDR / RTM_DELADDR on a
/// NETLINK_ROUTE socket, rtnetlink(7)), instead of forking <c>ip</c>: a takeover then costs tens of
/// microseconds here, not the 10–30 ms of starting a process. The socket is opened in the target
/// namespace (<see cref="NetworkNamespace.Run{T}"/>) and closed after the kernel's acknowledgement.
/// </summary>
internal static class RtNetlink
{
    public const int EEXIST = 17;
    public const int EADDRNOTAVAIL = 99;

    private const int AfNetlink = 16;
    private const int SockRaw = 3;
    private const int SockCloexec = 0x80000;
    private const int NetlinkRoute = 0;
    private const int SolSocket = 1;
    private const int SoRcvtimeo = 20;

    private const ushort RtmNewAddr = 20;
    private const ushort RtmDelAddr = 21;
    private const ushort NlmsgError = 2;
    private const ushort NlmFRequest = 0x1;
    private const ushort NlmFAck = 0x4;
    private const ushort NlmFExcl = 0x200;
    private const ushort NlmFCreate = 0x400;
    private const ushort IfaAddress = 1;
    private const ushort IfaLocal = 2;
    private const byte IfaFNodad = 0x02;
    private const byte AfInet = 2;
    private const byte AfInet6 = 10;

    private static int s_sequence;

    /// <summary>
    /// Adds (<paramref name="add"/>) or removes <paramref name="address"/> on interface <paramref name="interfaceIndex"/>;
    /// returns 0 or the errno the kernel answered (<see cref="EEXIST"/>: already there; <see cref="EADDRNOTAVAIL"/>:
    /// not there). Throws <see cref="SocketException"/> when no netlink socket can be used at all.
    /// </summary>
    public static int ChangeAddress(string? networkNamespace, bool add, ServiceAddress address, int interfaceIndex)
    {
        int fd = NetworkNamespace.Run(networkNamespace, () => socket(AfNetlink, SockRaw | SockCloexec, NetlinkRoute));
        if (fd < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }

        try
        {
            // One second is plenty: the kernel answers address changes synchronously.
            var timeout = new byte[16];
            BinaryPrimitives.WriteInt64LittleEndian(timeout, 1);
            _ = setsockopt(fd, SolSocket, SoRcvtimeo, timeout, timeout.Length);

            int sequence = Interlocked.Increment(ref s_sequence);
            byte[] request = Build(add, address, interfaceIndex, sequence);
            if (send(fd, request, request.Length, 0) != request.Length)
            {
                throw new SocketException(Marshal.GetLastPInvokeError());
            }

            var reply = new byte[1024];
            while (true)
            {
                nint received = recv(fd, reply, reply.Length, 0);
                if (received < 0)
                {
                    throw new SocketException(Marshal.GetLastPInvokeError());
                }

                // nlmsghdr: length, type, flags, seq, pid; an NLMSG_ERROR carries -errno (0 = acknowledged).
                if (received >= 20
                    && BinaryPrimitives.ReadUInt16LittleEndian(reply.AsSpan(4)) == NlmsgError
                    && BinaryPrimitives.ReadInt32LittleEndian(reply.AsSpan(8)) == sequence)
                {
                    return -BinaryPrimitives.ReadInt32LittleEndian(reply.AsSpan(16));
                }
            }
        }
        finally
        {
            _ = close(fd);
        }
    }

    /// <summary>nlmsghdr + ifaddrmsg + IFA_LOCAL + IFA_ADDRESS, as <c>ip addr add|del ADDR/PREFIX dev IF</c> sends.</summary>
    internal static byte[] Build(bool add, ServiceAddress address, int interfaceIndex, int sequence)
    {
        byte[] ip = address.Address.GetAddressBytes();
        int attribute = Align(4 + ip.Length);
        int length = 16 + 8 + (2 * attribute);
        var message = new byte[length];
        Span<byte> m = message;
        BinaryPrimitives.WriteUInt32LittleEndian(m, (uint)length);
        BinaryPrimitives.WriteUInt16LittleEndian(m[4..], add ? RtmNewAddr : RtmDelAddr);
        BinaryPrimitives.WriteUInt16LittleEndian(m[6..], (ushort)(NlmFRequest | NlmFAck | (add ? NlmFCreate | NlmFExcl : 0)));
        BinaryPrimitives.WriteInt32LittleEndian(m[8..], sequence);
        // ifaddrmsg: family, prefix length, flags (IPv6: no duplicate address detection, usable at once), scope, index.
        m[16] = address.IsIPv6 ? AfInet6 : AfInet;
        m[17] = (byte)address.PrefixLength;
        m[18] = address.IsIPv6 ? IfaFNodad : (byte)0;
        m[19] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(m[20..], interfaceIndex);
        int offset = 24;
        foreach (ushort type in (ReadOnlySpan<ushort>)[IfaLocal, IfaAddress])
        {
            BinaryPrimitives.WriteUInt16LittleEndian(m[offset..], (ushort)(4 + ip.Length));
            BinaryPrimitives.WriteUInt16LittleEndian(m[(offset + 2)..], type);
            ip.CopyTo(m[(offset + 4)..]);
            offset += attribute;
        }

        return message;
    }

    private static int Align(int length) => (length + 3) & ~3;

    // DllImport rather than LibraryImport: the generated stubs would need unsafe code; byte[] is pinned as is.
#pragma warning disable SYSLIB1054
    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int socket(int domain, int type, int protocol);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int setsockopt(int fd, int level, int name, byte[] value, int length);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint send(int fd, byte[] buffer, nint length, int flags);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint recv(int fd, byte[] buffer, nint length, int flags);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int close(int fd);
#pragma warning restore SYSLIB1054
}
