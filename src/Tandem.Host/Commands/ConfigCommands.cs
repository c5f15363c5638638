namespace Tandem.Host.Commands;

internal static class ConfigCommands
{
    public static readonly CommandSpec Check = new(
        "config check",
        "Validate the configuration and print the effective settings with where each came from.",
        [],
        [],
        CheckAsync,
        "Exits 0 and prints 'configuration OK' when valid; otherwise prints every error and exits 1.");

    private static async Task<int> CheckAsync(ParsedArgs args, CliContext context)
    {
        var result = await CliApp.LoadConfigAsync(args, context);
        if (result is null)
        {
            return CliApp.Failed;
        }

        await context.Stdout.WriteLineAsync($"configuration OK ({result.File ?? "built-in defaults"})");
        foreach (var line in result.Describe())
        {
            await context.Stdout.WriteLineAsync("  " + line);
        }

        await context.Stdout.WriteLineAsync($"  data directory: {Path.GetFullPath(result.Options!.DataDir)}");
        return CliApp.Ok;
    }
}
