using Tandem.Sip.Messages;

namespace Tandem.Sip.Tests.Torture;

/// <summary>What RFC 4475 says an element must do with each torture message.</summary>
public enum Outcome
{
    /// <summary>Parses as a valid message (RFC 4475 §3.1.1, §3.2, §3.4).</summary>
    Valid,

    /// <summary>Parser rejects a request that can still be answered with this status (§3.1.2).</summary>
    Reject,

    /// <summary>Rejected and not answerable (a broken response, or no usable Via): dropped and counted.</summary>
    Drop,

    /// <summary>Syntactically valid, but the application layer refuses it with this status (§3.3).</summary>
    Refuse,
}

public sealed record TortureCase(string Name, Outcome Outcome, int StatusCode, string Section)
{
    public override string ToString() => Name;

    public byte[] Load() => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Torture", "Vectors", Name + ".dat"));

    public SipParseResult Parse() => SipParser.Parse(Load());
}

public static class TortureVectors
{
    public static readonly TortureCase[] All =
    [
        // §3.1.1 valid messages
        new("wsinv", Outcome.Valid, 0, "3.1.1.1"),
        new("intmeth", Outcome.Valid, 0, "3.1.1.2"),
        new("esc01", Outcome.Valid, 0, "3.1.1.3"),
        new("escnull", Outcome.Valid, 0, "3.1.1.4"),
        new("esc02", Outcome.Valid, 0, "3.1.1.5"),
        new("lwsdisp", Outcome.Valid, 0, "3.1.1.6"),
        new("longreq", Outcome.Valid, 0, "3.1.1.7"),
        new("dblreq", Outcome.Valid, 0, "3.1.1.8"),
        new("semiuri", Outcome.Valid, 0, "3.1.1.9"),
        new("transports", Outcome.Valid, 0, "3.1.1.10"),
        new("mpart01", Outcome.Valid, 0, "3.1.1.11"),
        new("unreason", Outcome.Valid, 0, "3.1.1.12"),
        new("noreason", Outcome.Valid, 0, "3.1.1.13"),

        // §3.1.2 invalid messages
        new("badinv01", Outcome.Drop, 400, "3.1.2.1"),
        new("clerr", Outcome.Reject, 400, "3.1.2.2"),
        new("ncl", Outcome.Reject, 400, "3.1.2.3"),
        new("scalar02", Outcome.Reject, 400, "3.1.2.4"),
        new("scalarlg", Outcome.Drop, 0, "3.1.2.5"),
        new("quotbal", Outcome.Reject, 400, "3.1.2.6"),
        new("ltgtruri", Outcome.Reject, 400, "3.1.2.7"),
        new("lwsruri", Outcome.Reject, 400, "3.1.2.8"),
        new("lwsstart", Outcome.Reject, 400, "3.1.2.9"),
        new("trws", Outcome.Reject, 400, "3.1.2.10"),
        new("escruri", Outcome.Reject, 400, "3.1.2.11"),

        // Deviation by design: RFC 4475 §3.1.2.12 lets elements that do not use Date ignore it.
        new("baddate", Outcome.Valid, 0, "3.1.2.12"),
        new("regbadct", Outcome.Refuse, 400, "3.1.2.13"),
        new("badaspec", Outcome.Reject, 400, "3.1.2.14"),
        new("baddn", Outcome.Reject, 400, "3.1.2.15"),
        new("badvers", Outcome.Reject, 505, "3.1.2.16"),
        new("mismatch01", Outcome.Reject, 400, "3.1.2.17"),
        new("mismatch02", Outcome.Reject, 400, "3.1.2.18"),
        new("bigcode", Outcome.Drop, 0, "3.1.2.19"),

        // §3.2 transaction layer
        new("badbranch", Outcome.Valid, 0, "3.2.1"),

        // §3.3 application layer
        new("insuf", Outcome.Reject, 400, "3.3.1"),
        new("unkscm", Outcome.Refuse, 416, "3.3.2"),
        new("novelsc", Outcome.Refuse, 416, "3.3.3"),
        new("unksm2", Outcome.Valid, 0, "3.3.4"),
        new("bext01", Outcome.Refuse, 420, "3.3.5"),
        new("invut", Outcome.Refuse, 415, "3.3.6"),
        new("regaut01", Outcome.Valid, 0, "3.3.7"),
        new("multi01", Outcome.Reject, 400, "3.3.8"),
        new("mcl01", Outcome.Reject, 400, "3.3.9"),
        new("bcast", Outcome.Valid, 0, "3.3.10"),
        new("zeromf", Outcome.Valid, 0, "3.3.11"),
        new("cparam01", Outcome.Valid, 0, "3.3.12"),
        new("cparam02", Outcome.Valid, 0, "3.3.13"),
        new("regescrt", Outcome.Valid, 0, "3.3.14"),
        new("sdp01", Outcome.Refuse, 406, "3.3.15"),

        // §3.4 backward compatibility
        new("inv2543", Outcome.Valid, 0, "3.4.1"),
    ];

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var vector in All)
        {
            data.Add(vector.Name);
        }

        return data;
    }

    public static TortureCase Get(string name) => Array.Find(All, v => v.Name == name)
        ?? throw new ArgumentException($"no torture case {name}");
}
