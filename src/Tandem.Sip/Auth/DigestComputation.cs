using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Tandem.Sip.Auth;

/// <summary>
/// Span-based digest arithmetic for the REGISTER hot path: no intermediate strings, one stack
/// (or pooled, for very long URIs) scratch buffer per call.
/// </summary>
internal static class DigestComputation
{
    public const int MaxHashBytes = 32;
    private const int StackLimit = 512;

    public static int HashBytes(DigestAlgorithm algorithm) => algorithm == DigestAlgorithm.Md5 ? 16 : 32;

    public static int Hash(DigestAlgorithm algorithm, ReadOnlySpan<byte> data, Span<byte> destination)
        // MD5 is required for interoperability (RFC 3261 §22.4); RFC 8760 keeps it for older UAs.
#pragma warning disable CA5351
        => algorithm == DigestAlgorithm.Md5 ? MD5.HashData(data, destination) : SHA256.HashData(data, destination);
#pragma warning restore CA5351

    /// <summary>
    /// Writes the raw request-digest into <paramref name="destination"/> and returns its length.
    /// qop=auth: H(HA1:nonce:nc:cnonce:qop:HA2) (RFC 7616 §3.4.1); no qop: H(HA1:nonce:HA2), the
    /// RFC 2069 form RFC 2617 §3.2.2.1 keeps for old clients. HA2 = H(method:digest-uri) (§3.4.3).
    /// </summary>
    public static int ComputeResponse(
        DigestAlgorithm algorithm,
        ReadOnlySpan<char> ha1Hex,
        ReadOnlySpan<char> method,
        ReadOnlySpan<char> digestUri,
        ReadOnlySpan<char> nonce,
        DigestQop qop,
        ReadOnlySpan<char> nonceCount,
        ReadOnlySpan<char> cnonce,
        Span<byte> destination)
    {
        int a2Chars = method.Length + 1 + digestUri.Length;
        int a1Chars = ha1Hex.Length + nonce.Length + nonceCount.Length + cnonce.Length + 16;
        int needed = Encoding.UTF8.GetMaxByteCount(Math.Max(a2Chars, a1Chars)) + 2 * MaxHashBytes;

        byte[]? rented = null;
        Span<byte> scratch = needed <= StackLimit
            ? stackalloc byte[StackLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(needed));
        try
        {
            Span<byte> ha2 = stackalloc byte[MaxHashBytes];
            var writer = new ByteWriter(scratch);
            writer.Append(method);
            writer.Append(':');
            writer.Append(digestUri);
            int ha2Length = Hash(algorithm, writer.Written, ha2);

            writer = new ByteWriter(scratch);
            // HA1 is hex of a hash; hex in the digest input is lower case (RFC 7616 §3.4.1).
            writer.AppendLowerAscii(ha1Hex);
            writer.Append(':');
            writer.Append(nonce);
            writer.Append(':');
            if (qop == DigestQop.Auth)
            {
                writer.Append(nonceCount);
                writer.Append(':');
                writer.Append(cnonce);
                writer.Append(":auth:");
            }
            writer.AppendHexLower(ha2[..ha2Length]);
            return Hash(algorithm, writer.Written, destination);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private ref struct ByteWriter(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _length;

        public readonly ReadOnlySpan<byte> Written => _buffer[.._length];

        public void Append(char c) => _buffer[_length++] = (byte)c;

        public void Append(ReadOnlySpan<char> text) => _length += Encoding.UTF8.GetBytes(text, _buffer[_length..]);

        public void AppendLowerAscii(ReadOnlySpan<char> text)
        {
            int start = _length;
            Append(text);
            foreach (ref byte b in _buffer[start.._length])
            {
                if (b is >= (byte)'A' and <= (byte)'Z')
                {
                    b += 'a' - 'A';
                }
            }
        }

        public void AppendHexLower(ReadOnlySpan<byte> bytes)
        {
            foreach (byte b in bytes)
            {
                _buffer[_length++] = (byte)"0123456789abcdef"[b >> 4];
                _buffer[_length++] = (byte)"0123456789abcdef"[b & 0xF];
            }
        }
    }
}
