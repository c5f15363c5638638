using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Tandem.Server.Routing;

/// <summary>An IPv4 or IPv6 network in CIDR notation (<c>198.18.0.0/15</c>, <c>2001:db8::/32</c>); a bare address is a /32 or /128.</summary>
public readonly record struct CidrBlock
{
    private CidrBlock(IPAddress network, int prefixLength)
    {
        Network = network;
        PrefixLength = prefixLength;
    }

    /// <summary>The network address (host bits zero). IPv4-mapped IPv6 networks are stored as IPv4.</summary>
    public IPAddress Network { get; }

    public int PrefixLength { get; }

    public bool IsIPv4 => Network.AddressFamily == AddressFamily.InterNetwork;

    public override string ToString() => $"{Network}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Parses <c>address[/prefix]</c>. Host names, scope ids and set host bits are errors.</summary>
    public static bool TryParse(string text, out CidrBlock block, out string? error)
    {
        block = default;
        error = null;
        var trimmed = text.Trim();
        var slash = trimmed.IndexOf('/');
        var addressText = slash >= 0 ? trimmed[..slash] : trimmed;
        if (addressText.Contains('%') || !IPAddress.TryParse(addressText, out var address) || !LooksLikeAddress(addressText))
        {
            error = $"'{text}' is not an IP address or CIDR block (host names are not accepted)";
            return false;
        }

        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = max;
        if (slash >= 0 && (!int.TryParse(trimmed.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > max))
        {
            error = $"'{text}' has a bad prefix length (0..{max.ToString(CultureInfo.InvariantCulture)})";
            return false;
        }

        if (address.IsIPv4MappedToIPv6 && prefix >= 96)
        {
            address = address.MapToIPv4();
            prefix -= 96;
            max = 32;
        }

        var masked = Mask(address, prefix);
        if (!masked.Equals(address))
        {
            error = $"'{text}' has host bits set (did you mean {masked}/{prefix.ToString(CultureInfo.InvariantCulture)}?)";
            return false;
        }

        block = new CidrBlock(address, prefix);
        return true;
    }

    internal uint V4Value => BinaryPrimitives.ReadUInt32BigEndian(Network.GetAddressBytes());

    internal uint V4Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);

    internal UInt128 V6Value => BinaryPrimitives.ReadUInt128BigEndian(Network.GetAddressBytes());

    internal UInt128 V6Mask => PrefixLength == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - PrefixLength);

    // IPAddress.TryParse also accepts "10" or "10.1" (inet_aton forms): require a dotted quad or a colon.
    private static bool LooksLikeAddress(string text) => text.Contains(':') || text.Count(c => c == '.') == 3;

    private static IPAddress Mask(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var bitsHere = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF00 >> bitsHere);
        }

        return new IPAddress(bytes);
    }
}

/// <summary>
/// The configured trusted peers (trunks, gateways, other PBXs): requests from these addresses are
/// routed without a digest challenge. <see cref="Contains"/> is a linear scan over masks with no
/// allocation; an IPv4-mapped IPv6 source (a dual-stack socket) is checked as IPv4.
/// </summary>
public sealed class TrustedPeers
{
    private readonly (uint Value, uint Mask)[] _v4;
    private readonly (UInt128 Value, UInt128 Mask)[] _v6;

    public TrustedPeers(IEnumerable<CidrBlock> blocks)
    {
        Blocks = [.. blocks];
        _v4 = [.. Blocks.Where(b => b.IsIPv4).Select(b => (b.V4Value, b.V4Mask))];
        _v6 = [.. Blocks.Where(b => !b.IsIPv4).Select(b => (b.V6Value, b.V6Mask))];
    }

    public static TrustedPeers None { get; } = new([]);

    public IReadOnlyList<CidrBlock> Blocks { get; }

    public bool IsEmpty => Blocks.Count == 0;

    public bool Contains(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            return false;
        }

        if (written == 4)
        {
            return ContainsV4(BinaryPrimitives.ReadUInt32BigEndian(bytes));
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return ContainsV4(BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]));
        }

        var value = BinaryPrimitives.ReadUInt128BigEndian(bytes);
        foreach (var (network, mask) in _v6)
        {
            if ((value & mask) == network)
            {
                return true;
            }
        }

        return false;
    }

    private bool ContainsV4(uint value)
    {
        foreach (var (network, mask) in _v4)
        {
            if ((value & mask) == network)
            {
                return true;
            }
        }

        return false;
    }
}
