namespace Tandem.Sip.Timers;

/// <summary>
/// Cancellable reference to one scheduled entry of a <see cref="TimerWheel"/>. A slot index plus the
/// slot's generation at scheduling time, so a stale handle (fired, cancelled, slot reused) is harmless.
/// </summary>
public readonly struct TimerHandle : IEquatable<TimerHandle>
{
    private readonly TimerWheel? _wheel;

    internal TimerHandle(TimerWheel wheel, int slot, int generation)
    {
        _wheel = wheel;
        Slot = slot;
        Generation = generation;
    }

    internal TimerWheel? Wheel => _wheel;

    internal int Slot { get; }

    internal int Generation { get; }

    /// <summary>True for a default handle, which refers to no timer.</summary>
    public bool IsNone => _wheel is null;

    /// <summary>True while the timer is scheduled and has neither fired nor been cancelled.</summary>
    public bool IsPending => _wheel is not null && _wheel.IsPending(this);

    /// <summary>Cancels the timer in O(1). False if it already fired, was cancelled, or the handle is default.</summary>
    public bool Cancel() => _wheel is not null && _wheel.Cancel(this);

    public bool Equals(TimerHandle other)
        => ReferenceEquals(_wheel, other._wheel) && Slot == other.Slot && Generation == other.Generation;

    public override bool Equals(object? obj) => obj is TimerHandle other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_wheel, Slot, Generation);

    public static bool operator ==(TimerHandle left, TimerHandle right) => left.Equals(right);

    public static bool operator !=(TimerHandle left, TimerHandle right) => !left.Equals(right);
}
