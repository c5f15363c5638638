namespace Tandem.Server;

/// <summary>Random tokens for To tags and branches (RFC 3261 §19.3: at least 32 bits of randomness).</summary>
public static class Tags
{
    public static string New() => Random.Shared.NextInt64().ToString("x", System.Globalization.CultureInfo.InvariantCulture);
}
