using System.Security.Cryptography;

namespace Tandem.Server.Config;

/// <summary>
/// The nonce secret kept in <c>&lt;data-dir&gt;/secret</c> when <c>auth.shared-secret</c> is not
/// configured: created at first start (32 random bytes, hex, file mode 0600) and read on every
/// later start, so nonces issued before a restart stay valid. Nodes of a cluster must share one
/// secret: configure <c>auth.shared-secret</c> there instead.
/// </summary>
public static class SharedSecretFile
{
    public const string FileName = "secret";

    public const int MinimumLength = 16;

    /// <summary>Returns <paramref name="options"/> with <see cref="AuthOptions.SharedSecret"/> filled in.</summary>
    public static TandemOptions Resolve(TandemOptions options)
        => options.Auth.SharedSecret is not null
            ? options
            : options with { Auth = options.Auth with { SharedSecret = LoadOrCreate(options.DataDir) } };

    public static string LoadOrCreate(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(dataDir);
            var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            try
            {
                var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                using var writer = new StreamWriter(path, fileOptions);
                writer.Write(secret + "\n");
                writer.Flush();
                return secret;
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first; use theirs.
            }
        }

        var stored = File.ReadAllText(path).Trim();
        if (stored.Length < MinimumLength)
        {
            throw new InvalidDataException($"{path}: the secret must be at least {MinimumLength} characters; delete the file to generate a new one");
        }

        return stored;
    }
}
