namespace Tandem.Server.Registrar;

/// <summary>Registrar policy (RFC 3261 §10.3 steps 6–7). Times in seconds.</summary>
public sealed record RegistrarSettings
{
    public int MinExpires { get; init; } = 60;

    public int MaxExpires { get; init; } = 3600;

    public int DefaultExpires { get; init; } = 3600;

    public int MaxContactsPerAor { get; init; } = 10;

    /// <summary>
    /// REGISTERs waiting for a write-through commit at most; past it new REGISTERs get 503 with
    /// Retry-After instead of queueing (about a quarter second of work at this machine's capacity).
    /// </summary>
    public int MaxWaitingForCommit { get; init; } = 2000;

    /// <summary>Domains served; empty means any domain that has subscribers.</summary>
    public IReadOnlyList<string> Domains { get; init; } = [];
}
