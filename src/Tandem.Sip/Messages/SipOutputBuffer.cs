using System.Buffers;
using System.Globalization;

namespace Tandem.Sip.Messages;

/// <summary>
/// A growable output buffer on pooled arrays for writing SIP messages. Strings are written as
/// Latin-1, the same one-char-per-octet convention as <see cref="SipMessage.Head"/>, so text that
/// came off the wire goes back out byte for byte.
/// </summary>
public sealed class SipOutputBuffer : IDisposable
{
    private byte[] _buffer;
    private int _length;

    public SipOutputBuffer(int initialCapacity = 1024)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);
    }

    public int Length => _length;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

    public void Clear() => _length = 0;

    public SipOutputBuffer Append(ReadOnlySpan<char> text)
    {
        Ensure(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];

            // Only chars from our own Latin-1 decoding or ASCII literals reach here; anything
            // wider cannot be put on the wire faithfully, so it becomes '?'.
            _buffer[_length++] = c <= 0xFF ? (byte)c : (byte)'?';
        }

        return this;
    }

    public SipOutputBuffer Append(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
        return this;
    }

    public SipOutputBuffer Append(char c)
    {
        Ensure(1);
        _buffer[_length++] = (byte)c;
        return this;
    }

    public SipOutputBuffer Append(long value)
    {
        Ensure(20);
        value.TryFormat(_buffer.AsSpan(_length), out var written, default, CultureInfo.InvariantCulture);
        _length += written;
        return this;
    }

    public SipOutputBuffer AppendCrlf() => Append("\r\n"u8);

    /// <summary>Writes "Name: value\r\n".</summary>
    public SipOutputBuffer AppendHeader(string name, ReadOnlySpan<char> value)
        => Append(name).Append(": "u8).Append(value).AppendCrlf();

    public byte[] ToArray() => WrittenSpan.ToArray();

    private void Ensure(int extra)
    {
        if (_length + extra <= _buffer.Length)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + extra));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        _length = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
