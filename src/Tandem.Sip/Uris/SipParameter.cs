namespace Tandem.Sip.Uris;

/// <summary>A ";name[=value]" parameter of a URI or header. Value is null for a flag parameter.</summary>
public readonly record struct SipParameter(string Name, string? Value);

/// <summary>Lookup helpers over a parameter list (names are case-insensitive, RFC 3261 §7.3.1).</summary>
public static class SipParameters
{
    public static bool TryGet(IReadOnlyList<SipParameter> parameters, string name, out string? value)
    {
        for (var i = 0; i < parameters.Count; i++)
        {
            if (parameters[i].Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                value = parameters[i].Value;
                return true;
            }
        }

        value = null;
        return false;
    }

    public static bool Has(IReadOnlyList<SipParameter> parameters, string name) => TryGet(parameters, name, out _);

    public static string? Get(IReadOnlyList<SipParameter> parameters, string name)
        => TryGet(parameters, name, out var value) ? value : null;
}
