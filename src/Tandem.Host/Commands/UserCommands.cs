using Tandem.Server.Config;
using Tandem.Sip.Auth;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Host.Commands;

/// <summary>
/// <c>tandem user ...</c>: accounts in the subscriber store. Only HA1 hashes are stored, computed
/// with realm = domain (RFC 7616 §3.4.2), for both MD5 and SHA-256. Changes commit before the
/// command exits, so a running server sees them on its next lookup. Each change is also journalled
/// (<see cref="SqliteSubscriberStore"/>): a clustered node replicates it to every other node, now
/// or when it next starts, so running a command on one node is enough.
/// </summary>
internal static class UserCommands
{
    private static readonly OptionSpec Password = new("password", "PASSWORD", "the password (visible in the process list; prefer --password-stdin)");
    private static readonly OptionSpec PasswordStdin = new("password-stdin", null, "read the password from the first line of standard input");

    public static readonly IReadOnlyList<CommandSpec> Specs =
    [
        new("user add", "Add a SIP account.", ["AOR"], [Password, PasswordStdin, new("display-name", "NAME", "display name")], AddAsync,
            "AOR is user@domain (a leading sip: is allowed). The digest realm is the domain."),
        new("user import", "Add many SIP accounts from a file.", ["FILE"], [], ImportAsync,
            "FILE (or - for standard input) has one account per line: user@domain,password. Blank lines\n" +
            "and lines starting with # are skipped; accounts that exist are left alone. All lines are\n" +
            "checked first and nothing is written if any is bad."),
        new("user list", "List SIP accounts.", [], [], ListAsync),
        new("user remove", "Remove a SIP account.", ["AOR"], [], RemoveAsync),
        new("user passwd", "Change an account's password.", ["AOR"], [Password, PasswordStdin], PasswdAsync),
        new("user enable", "Allow an account to register again.", ["AOR"], [], (a, c) => SetEnabledAsync(a, c, true)),
        new("user disable", "Refuse an account's authentication without deleting it.", ["AOR"], [], (a, c) => SetEnabledAsync(a, c, false)),
    ];

    private static async Task<int> AddAsync(ParsedArgs args, CliContext context)
    {
        const string name = "user add";
        if (!TryParseAor(args.Positional(0)!, out var username, out var domain, out var aorError))
        {
            return await CliApp.UsageFailure(context, $"tandem {name}: {aorError}", UsageOf(name));
        }

        var (password, passwordError) = await ReadPasswordAsync(args, context);
        if (password is null)
        {
            return await CliApp.UsageFailure(context, $"tandem {name}: {passwordError}", UsageOf(name));
        }

        var config = await CliApp.LoadConfigAsync(args, context);
        if (config is null)
        {
            return CliApp.Failed;
        }

        var domains = config.Options!.Sip.Domains;
        if (domains.Count > 0 && !domains.Contains(domain))
        {
            await context.Stderr.WriteLineAsync($"warning: {domain} is not in sip.domains ({string.Join(", ", domains)}); this account cannot register until it is");
        }

        var store = new SqliteSubscriberStore(SqliteDatabase.Open(config.Options.DataDir));
        var subscriber = new Subscriber(username, domain, Ha1(DigestAlgorithm.Md5), Ha1(DigestAlgorithm.Sha256), args.Get("display-name"), Enabled: true);
        if (!await store.AddAsync(subscriber))
        {
            await context.Stderr.WriteLineAsync($"tandem {name}: {username}@{domain} already exists (use 'tandem user passwd' to change its password)");
            return CliApp.Failed;
        }

        await context.Stdout.WriteLineAsync($"added {username}@{domain}");
        return CliApp.Ok;

        string Ha1(DigestAlgorithm algorithm) => DigestHash.ComputeHa1(algorithm, username, domain, password);
    }

    private static async Task<int> ImportAsync(ParsedArgs args, CliContext context)
    {
        const string name = "user import";
        var path = args.Positional(0)!;
        string text;
        try
        {
            text = path == "-" ? await context.Stdin.ReadToEndAsync() : await File.ReadAllTextAsync(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await context.Stderr.WriteLineAsync($"tandem {name}: cannot read {path}: {ex.Message}");
            return CliApp.Failed;
        }

        var subscribers = new List<Subscriber>();
        var errors = new List<string>();
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var comma = line.IndexOf(',');
            if (comma < 0 || comma == line.Length - 1)
            {
                errors.Add($"{path}:{lineNumber}: expected user@domain,password");
                continue;
            }

            if (!TryParseAor(line[..comma].Trim(), out var username, out var domain, out var aorError))
            {
                errors.Add($"{path}:{lineNumber}: {aorError}");
                continue;
            }

            var password = line[(comma + 1)..];
            subscribers.Add(new Subscriber(username, domain,
                DigestHash.ComputeHa1(DigestAlgorithm.Md5, username, domain, password),
                DigestHash.ComputeHa1(DigestAlgorithm.Sha256, username, domain, password), null, Enabled: true));
        }

        if (errors.Count > 0)
        {
            foreach (var error in errors)
            {
                await context.Stderr.WriteLineAsync(error);
            }

            await context.Stderr.WriteLineAsync($"tandem {name}: {errors.Count} bad line(s); nothing imported");
            return CliApp.Failed;
        }

        var config = await CliApp.LoadConfigAsync(args, context);
        if (config is null)
        {
            return CliApp.Failed;
        }

        var added = await new SqliteSubscriberStore(SqliteDatabase.Open(config.Options!.DataDir)).AddManyAsync(subscribers);
        await context.Stdout.WriteLineAsync($"imported {added} account(s), {subscribers.Count - added} already existed");
        return CliApp.Ok;
    }

    private static async Task<int> ListAsync(ParsedArgs args, CliContext context)
    {
        var config = await CliApp.LoadConfigAsync(args, context);
        if (config is null)
        {
            return CliApp.Failed;
        }

        if (await OpenExistingAsync(config.Options!, context, "user list") is not { } database)
        {
            return CliApp.Failed;
        }

        var subscribers = await new SqliteSubscriberStore(database).ListAsync();
        if (subscribers.Count == 0)
        {
            await context.Stdout.WriteLineAsync("no users");
            return CliApp.Ok;
        }

        var rows = subscribers.Select(s => new[] { $"{s.Username}@{s.Domain}", s.DisplayName ?? "", s.Enabled ? "yes" : "no" });
        await Table.WriteAsync(context.Stdout, ["USER", "DISPLAY NAME", "ENABLED"], rows);
        return CliApp.Ok;
    }

    private static async Task<int> RemoveAsync(ParsedArgs args, CliContext context)
    {
        var found = await WithExistingAsync(args, context, "user remove", (store, subscriber) => store.RemoveAsync(subscriber.Username, subscriber.Domain));
        if (found == CliApp.Ok)
        {
            await context.Stdout.WriteLineAsync($"removed {args.Positional(0)}");
        }

        return found;
    }

    private static async Task<int> PasswdAsync(ParsedArgs args, CliContext context)
    {
        var (password, passwordError) = await ReadPasswordAsync(args, context);
        if (password is null)
        {
            return await CliApp.UsageFailure(context, $"tandem user passwd: {passwordError}", UsageOf("user passwd"));
        }

        var status = await WithExistingAsync(args, context, "user passwd", (store, s) => store.UpdateAsync(s with
        {
            Ha1Md5 = DigestHash.ComputeHa1(DigestAlgorithm.Md5, s.Username, s.Domain, password),
            Ha1Sha256 = DigestHash.ComputeHa1(DigestAlgorithm.Sha256, s.Username, s.Domain, password),
        }));
        if (status == CliApp.Ok)
        {
            await context.Stdout.WriteLineAsync($"password changed for {args.Positional(0)}");
        }

        return status;
    }

    private static async Task<int> SetEnabledAsync(ParsedArgs args, CliContext context, bool enabled)
    {
        var name = enabled ? "user enable" : "user disable";
        var status = await WithExistingAsync(args, context, name, (store, s) => store.UpdateAsync(s with { Enabled = enabled }));
        if (status == CliApp.Ok)
        {
            await context.Stdout.WriteLineAsync($"{(enabled ? "enabled" : "disabled")} {args.Positional(0)}");
        }

        return status;
    }

    /// <summary>Loads config, finds the AOR's subscriber and applies <paramref name="change"/>; 1 when it does not exist.</summary>
    private static async Task<int> WithExistingAsync(
        ParsedArgs args, CliContext context, string name, Func<ISubscriberStore, Subscriber, Task<bool>> change)
    {
        if (!TryParseAor(args.Positional(0)!, out var username, out var domain, out var aorError))
        {
            return await CliApp.UsageFailure(context, $"tandem {name}: {aorError}", UsageOf(name));
        }

        var config = await CliApp.LoadConfigAsync(args, context);
        if (config is null)
        {
            return CliApp.Failed;
        }

        if (await OpenExistingAsync(config.Options!, context, name) is not { } database)
        {
            return CliApp.Failed;
        }

        var store = new SqliteSubscriberStore(database);
        if (await store.GetAsync(username, domain) is not { } subscriber || !await change(store, subscriber))
        {
            await context.Stderr.WriteLineAsync($"tandem {name}: no such user {username}@{domain}");
            return CliApp.Failed;
        }

        return CliApp.Ok;
    }

    /// <summary>Opens the database only if it exists, so a mistyped --data-dir does not create an empty one.</summary>
    internal static async Task<SqliteDatabase?> OpenExistingAsync(TandemOptions options, CliContext context, string name)
    {
        var path = Path.Combine(options.DataDir, SqliteDatabase.FileName);
        if (!File.Exists(path))
        {
            await context.Stderr.WriteLineAsync($"tandem {name}: no database at {Path.GetFullPath(path)} (check --data-dir / data-dir)");
            return null;
        }

        return SqliteDatabase.Open(options.DataDir);
    }

    /// <summary>Splits <c>user@domain</c> (optionally <c>sip:user@domain</c>); the domain is lower-cased.</summary>
    internal static bool TryParseAor(string text, out string username, out string domain, out string? error)
    {
        username = domain = "";
        var aor = text.StartsWith("sip:", StringComparison.OrdinalIgnoreCase) ? text[4..] : text;
        var at = aor.LastIndexOf('@');
        if (at <= 0 || at == aor.Length - 1)
        {
            error = $"'{text}' is not user@domain";
            return false;
        }

        username = aor[..at];
        domain = aor[(at + 1)..].ToLowerInvariant();
        if (username.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is ':' or ';' or '?'))
        {
            error = $"user name '{username}' contains a character a SIP URI user part cannot carry unescaped";
            return false;
        }

        if (domain.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '[' or ']' or ':')))
        {
            error = $"'{domain}' is not a domain name";
            return false;
        }

        error = null;
        return true;
    }

    private static async Task<(string? Password, string? Error)> ReadPasswordAsync(ParsedArgs args, CliContext context)
    {
        var fromOption = args.Get("password");
        var fromStdin = args.Has("password-stdin");
        if (fromOption is not null && fromStdin)
        {
            return (null, "give either --password or --password-stdin, not both");
        }

        if (fromOption is null && !fromStdin)
        {
            return (null, "a password is required (--password PASSWORD or --password-stdin)");
        }

        var password = fromOption ?? (await context.Stdin.ReadLineAsync())?.TrimEnd('\r');
        return string.IsNullOrEmpty(password) ? (null, "the password must not be empty") : (password, null);
    }

    private static string UsageOf(string name) =>
        $"usage: {Specs.First(s => s.Name == name).Usage}\nRun 'tandem {name} --help' for details.\n";
}
