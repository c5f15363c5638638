namespace Tandem.Storage;

/// <summary>
/// A SIP account. Only digest HA1 hashes are stored (realm = domain), never the password.
/// </summary>
public sealed record Subscriber(
    string Username,
    string Domain,
    string Ha1Md5,
    string Ha1Sha256,
    string? DisplayName,
    bool Enabled);

public interface ISubscriberStore
{
    Task<Subscriber?> GetAsync(string username, string domain, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<Subscriber>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Adds a subscriber; returns false when username@domain already exists.</summary>
    Task<bool> AddAsync(Subscriber subscriber, CancellationToken cancellationToken = default);

    /// <summary>Replaces an existing subscriber's fields; returns false when it does not exist.</summary>
    Task<bool> UpdateAsync(Subscriber subscriber, CancellationToken cancellationToken = default);

    Task<bool> RemoveAsync(string username, string domain, CancellationToken cancellationToken = default);

    /// <summary>Whether any subscriber has this domain (case-insensitive): a domain the server serves.</summary>
    Task<bool> HasDomainAsync(string domain, CancellationToken cancellationToken = default);

    /// <summary>Adds many subscribers in one transaction, skipping ones that exist; returns how many were added.</summary>
    Task<int> AddManyAsync(IReadOnlyList<Subscriber> subscribers, CancellationToken cancellationToken = default);

    /// <summary>
    /// A number that changes whenever an account is added, changed or removed through this interface,
    /// by any process using the same database (the CLI included). A cache compares it to know when
    /// to forget what it holds; reading it is cheap.
    /// </summary>
    Task<long> GetChangeStampAsync(CancellationToken cancellationToken = default);
}
