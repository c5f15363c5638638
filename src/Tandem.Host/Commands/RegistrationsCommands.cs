using System.Globalization;
using Tandem.Server.Config;
using Tandem.Storage;
using Tandem.Storage.Sqlite;

namespace Tandem.Host.Commands;

internal static class RegistrationsCommands
{
    public static readonly CommandSpec List = new(
        "registrations list",
        "List registered contacts, of one AOR or all.",
        ["[AOR]"],
        [],
        ListAsync,
        "Reads the database. In write-behind storage mode a running server writes changes once per\n" +
        "flush interval, so the newest changes (at most one interval old) may not be shown yet.");

    private static async Task<int> ListAsync(ParsedArgs args, CliContext context)
    {
        var config = await CliApp.LoadConfigAsync(args, context);
        if (config is null)
        {
            return CliApp.Failed;
        }

        var options = config.Options!;
        if (await UserCommands.OpenExistingAsync(options, context, "registrations list") is not { } database)
        {
            return CliApp.Failed;
        }

        var aor = args.Positional(0) is { } given ? CanonicalAor(given) : null;
        var bindings = await new SqliteBindingStore(database).ListAsync(aor);
        if (options.Storage.Mode == StorageMode.WriteBehind)
        {
            await context.Stderr.WriteLineAsync(
                $"note: storage.mode is write-behind; a running server may not have written the last {options.Storage.FlushIntervalMs} ms of changes yet");
        }

        if (bindings.Count == 0)
        {
            await context.Stdout.WriteLineAsync(aor is null ? "no registrations" : $"no registrations for {aor}");
            return CliApp.Ok;
        }

        var now = context.Time.GetUtcNow();
        var rows = bindings.Select(b => new[]
        {
            b.Aor, b.ContactUri, b.SourceAddress, b.Transport, ExpiresIn(b, now), b.UserAgent ?? "",
        });
        await Table.WriteAsync(context.Stdout, ["AOR", "CONTACT", "SOURCE", "TRANSPORT", "EXPIRES (s)", "USER AGENT"], rows);
        return CliApp.Ok;
    }

    /// <summary>Bindings are keyed by "sip:user@domain"; accept "user@domain" too.</summary>
    internal static string CanonicalAor(string text) =>
        text.Contains(':', StringComparison.Ordinal) ? text : "sip:" + text;

    private static string ExpiresIn(Binding binding, DateTimeOffset now)
    {
        var seconds = (long)Math.Ceiling((binding.ExpiresAt - now).TotalSeconds);
        return seconds > 0 ? seconds.ToString(CultureInfo.InvariantCulture) : "expired";
    }
}
