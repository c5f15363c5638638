namespace Tandem.Sip.Transactions;

/// <summary>
/// Identifies a transaction for matching (RFC 3261 §17.1.3, §17.2.3). Only RFC 3261 branches (with
/// the magic cookie) are keyed this way; RFC 2543 peers need the legacy matching rules instead.
/// Branch and method are compared exactly, as the RFC compares tokens; the sent-by host is
/// case-insensitive, so it is lower-cased once here and plain ordinal equality does the rest.
/// </summary>
public readonly record struct TransactionKey
{
    /// <summary>RFC 3261 §8.1.1.7: every compliant branch starts with this.</summary>
    public const string MagicCookie = "z9hG4bK";

    private TransactionKey(string branch, string sentBy, string method)
    {
        Branch = branch;
        SentBy = sentBy;
        Method = method;
    }

    public string Branch { get; }

    /// <summary>host[:port] of the top Via, lower-cased; empty for client keys.</summary>
    public string SentBy { get; }

    public string Method { get; }

    public static bool IsRfc3261Branch(ReadOnlySpan<char> branch)
        => branch.Length > MagicCookie.Length && branch.StartsWith(MagicCookie, StringComparison.Ordinal);

    /// <summary>
    /// Key of the server transaction a request belongs to, from its top Via branch and sent-by and its
    /// method. ACK maps to INVITE because an ACK for a non-2xx response is part of the INVITE
    /// transaction (§17.2.3); CANCEL keeps its own method, as it is a transaction of its own.
    /// Returns false for a non-RFC 3261 branch.
    /// </summary>
    public static bool TryCreateServer(ReadOnlySpan<char> branch, ReadOnlySpan<char> sentBy, ReadOnlySpan<char> method, out TransactionKey key)
    {
        if (!IsRfc3261Branch(branch) || sentBy.IsEmpty || method.IsEmpty)
        {
            key = default;
            return false;
        }

        var serverMethod = method.SequenceEqual("ACK") ? "INVITE" : Intern(method);
        key = new TransactionKey(branch.ToString(), LowerCase(sentBy), serverMethod);
        return true;
    }

    /// <summary>
    /// Key of a client transaction: the branch we put in our Via plus the request method. A response
    /// matches with its top Via branch and its CSeq method (§17.1.3), so the same factory serves both
    /// sides of the lookup. The CSeq method matters because a CANCEL shares the INVITE's branch.
    /// </summary>
    public static TransactionKey ForClient(ReadOnlySpan<char> branch, ReadOnlySpan<char> method)
    {
        if (branch.IsEmpty || method.IsEmpty)
        {
            throw new ArgumentException("Branch and method are required.");
        }

        return new TransactionKey(branch.ToString(), string.Empty, Intern(method));
    }

    /// <summary>
    /// The INVITE transaction a CANCEL with this key targets: same branch and sent-by, method INVITE
    /// (RFC 3261 §9.2).
    /// </summary>
    public TransactionKey ToInviteKey() => new(Branch, SentBy, "INVITE");

    public override string ToString() => $"{Branch} {SentBy} {Method}";

    // Methods are case-sensitive tokens (§7.1); the common ones share one string instance.
    private static string Intern(ReadOnlySpan<char> method) => method switch
    {
        "INVITE" => "INVITE",
        "ACK" => "ACK",
        "BYE" => "BYE",
        "CANCEL" => "CANCEL",
        "REGISTER" => "REGISTER",
        "OPTIONS" => "OPTIONS",
        "SUBSCRIBE" => "SUBSCRIBE",
        "NOTIFY" => "NOTIFY",
        "MESSAGE" => "MESSAGE",
        "INFO" => "INFO",
        "PRACK" => "PRACK",
        "UPDATE" => "UPDATE",
        "REFER" => "REFER",
        "PUBLISH" => "PUBLISH",
        _ => method.ToString(),
    };

    private static string LowerCase(ReadOnlySpan<char> value)
    {
        if (!value.ContainsAnyInRange('A', 'Z'))
        {
            return value.ToString();
        }

        Span<char> lower = value.Length <= 256 ? stackalloc char[value.Length] : new char[value.Length];
        value.ToLowerInvariant(lower);
        return lower.ToString();
    }
}
