using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Tandem.Sip.Auth;

public enum NonceStatus
{
    Valid,

    /// <summary>Issued by a holder of the secret for this realm, but too old: answer with stale=true.</summary>
    Stale,

    /// <summary>Not ours: forged, garbled, another secret or another realm.</summary>
    Invalid,
}

/// <summary>
/// Stateless nonces (RFC 7616 §3.3 suggests time-stamp + private-key hashing): any node holding the
/// same secret verifies a nonce another node issued, so a REGISTER answered after a failover needs
/// no replicated nonce table.
/// Layout, base64url without padding (48 chars, all token characters):
/// timestamp (8 bytes, Unix seconds, big-endian) | random (12) | HMAC-SHA256(secret, timestamp|random|realm)[..16].
/// A 128-bit truncated HMAC is well within NIST SP 800-107 guidance.
/// </summary>
public sealed class NonceService
{
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromSeconds(300);

    /// <summary>
    /// A nonce stamped up to this far in the future is still accepted: another node's clock may run
    /// slightly ahead. Replay tracking must therefore retain entries for Lifetime + MaxClockSkew.
    /// </summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(10);

    public const int NonceLength = 48;
    private const int TimestampBytes = 8;
    private const int RandomBytes = 12;
    private const int MacBytes = 16;
    private const int SignedBytes = TimestampBytes + RandomBytes;
    private const int TotalBytes = SignedBytes + MacBytes;
    private const int StackRealmBytes = 256;

    // Random bytes are drawn in batches: one RandomNumberGenerator call costs about 2 µs
    // whatever its size (OpenSSL locks and state checks), the largest single cost of a challenge.
    private const int RandomBatchBytes = RandomBytes * 128;

    [ThreadStatic]
    private static byte[]? t_random;

    [ThreadStatic]
    private static int t_randomUsed;

    // A keyed HMAC context per thread, reused: the one-shot HMACSHA256.HashData sets the key up
    // again on every call, which doubles the cost of signing and checking a nonce.
    [ThreadStatic]
    private static NonceService? t_hmacOwner;

    [ThreadStatic]
    private static IncrementalHash? t_hmac;

    private readonly byte[] _secret;
    private readonly long _lifetimeSeconds;

    public NonceService(ReadOnlySpan<byte> secret, TimeProvider? timeProvider = null, TimeSpan? lifetime = null)
    {
        if (secret.Length < 16)
        {
            throw new ArgumentException("The nonce secret must be at least 16 bytes.", nameof(secret));
        }
        var span = lifetime ?? DefaultLifetime;
        if (span < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), "Nonce lifetime must be at least one second.");
        }
        _secret = secret.ToArray();
        TimeProvider = timeProvider ?? TimeProvider.System;
        Lifetime = span;
        _lifetimeSeconds = (long)span.TotalSeconds;
    }

    public TimeSpan Lifetime { get; }

    public TimeProvider TimeProvider { get; }

    public string Issue(ReadOnlySpan<char> realm)
    {
        Span<byte> nonce = stackalloc byte[TotalBytes];
        BinaryPrimitives.WriteInt64BigEndian(nonce, TimeProvider.GetUtcNow().ToUnixTimeSeconds());
        FillRandom(nonce[TimestampBytes..SignedBytes]);
        Sign(nonce[..SignedBytes], realm, nonce[SignedBytes..]);
        return Base64Url.EncodeToString(nonce);
    }

    public NonceStatus Validate(ReadOnlySpan<char> nonce, ReadOnlySpan<char> realm)
    {
        Span<byte> decoded = stackalloc byte[TotalBytes];
        // Exact length first: base64 decoders skip whitespace, and 48 chars map to 36 bytes with
        // no spare bits, so each nonce has exactly one accepted spelling (the replay key).
        // (TryDecodeFromChars throws on characters outside the alphabet; this overload reports them.)
        if (nonce.Length != NonceLength
            || Base64Url.DecodeFromChars(nonce, decoded, out _, out int written) != OperationStatus.Done
            || written != TotalBytes)
        {
            return NonceStatus.Invalid;
        }

        Span<byte> expected = stackalloc byte[MacBytes];
        Sign(decoded[..SignedBytes], realm, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, decoded[SignedBytes..]))
        {
            return NonceStatus.Invalid;
        }

        // Authentic from here on, so the time stamp can be trusted.
        long issued = BinaryPrimitives.ReadInt64BigEndian(decoded);
        long age = TimeProvider.GetUtcNow().ToUnixTimeSeconds() - issued;
        return age > _lifetimeSeconds || age < -(long)MaxClockSkew.TotalSeconds
            ? NonceStatus.Stale
            : NonceStatus.Valid;
    }

    private void Sign(ReadOnlySpan<byte> signed, ReadOnlySpan<char> realm, Span<byte> mac)
    {
        // The realm is bound in so a nonce issued for one domain is not accepted for another.
        int max = SignedBytes + Encoding.UTF8.GetMaxByteCount(realm.Length);
        Span<byte> input = max <= SignedBytes + StackRealmBytes
            ? stackalloc byte[SignedBytes + StackRealmBytes]
            : new byte[max];
        signed.CopyTo(input);
        int length = SignedBytes + Encoding.UTF8.GetBytes(realm, input[SignedBytes..]);

        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        var hmac = t_hmac;
        if (hmac is null || !ReferenceEquals(t_hmacOwner, this))
        {
            hmac?.Dispose();
            t_hmac = hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _secret);
            t_hmacOwner = this;
        }

        hmac.AppendData(input[..length]);
        hmac.GetHashAndReset(full);
        full[..MacBytes].CopyTo(mac);
    }

    private static void FillRandom(Span<byte> destination)
    {
        var batch = t_random ??= new byte[RandomBatchBytes];
        if (t_randomUsed == 0 || t_randomUsed + destination.Length > batch.Length)
        {
            RandomNumberGenerator.Fill(batch);
            t_randomUsed = 0;
        }

        // Each byte is handed out once and then wiped, so no two nonces share random bytes.
        var slice = batch.AsSpan(t_randomUsed, destination.Length);
        slice.CopyTo(destination);
        slice.Clear();
        t_randomUsed += destination.Length;
    }
}
