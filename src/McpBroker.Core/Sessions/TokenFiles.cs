using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace McpBroker.Sessions;

/// <summary>The token files that gate a profile or the HTTP front door: 0600, read at each check so a rotated token takes effect at once.</summary>
internal static class TokenFiles
{
    /// <summary>True when others than the owner may read or write the file: then it proves nothing.</summary>
    public static bool Exposed(string tokenFile) =>
        !OperatingSystem.IsWindows() && File.Exists(tokenFile)
        && (File.GetUnixFileMode(tokenFile) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0;

    /// <summary>Compares in constant time with the file's current content. A missing, unreadable or empty file refuses everyone.</summary>
    // Not inlined: the session handshake calls it only for a profile with a token, and once the handshake is hot the
    // JIT would otherwise load System.Security.Cryptography into every daemon to inline it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static bool Matches(string tokenFile, string? presented)
    {
        try
        {
            var expected = File.ReadAllText(tokenFile).Trim();
            return expected.Length > 0 && presented is not null
                && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(presented.Trim()));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// A value derived from the file's current token for one <paramref name="purpose"/> (HMAC-SHA256, hex), so a
    /// browser can hold a proof of the token without holding the token; null when the file cannot be read or is empty.
    /// </summary>
    public static string? Derive(string tokenFile, string purpose)
    {
        try
        {
            var token = File.ReadAllText(tokenFile).Trim();
            return token.Length == 0 ? null : Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(purpose)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Constant-time comparison of a presented derived value with the one the file's token gives now.</summary>
    public static bool MatchesDerived(string tokenFile, string purpose, string? presented) =>
        presented is not null && Derive(tokenFile, purpose) is { } expected
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.UTF8.GetBytes(presented));

    /// <summary>
    /// Makes sure the file holds a token: creates it with a random one (0600) when missing. The error to report when it
    /// cannot be used (readable by others, empty, unwritable), or null.
    /// </summary>
    public static string? EnsureExists(string tokenFile, string setting)
    {
        try
        {
            if (!File.Exists(tokenFile))
            {
                Platform.AtomicFile.Write(tokenFile, Encoding.ASCII.GetBytes(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_') + "\n"),
                    Platform.PrivateFiles.FileMode);
                return null;
            }

            if (Exposed(tokenFile))
            {
                return $"the token file {tokenFile} ({setting}) is readable by other users, so it proves nothing; run chmod 600 {tokenFile}";
            }

            return File.ReadAllText(tokenFile).Trim().Length == 0 ? $"the token file {tokenFile} ({setting}) is empty; put a token in it, or delete it to have one made" : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"cannot read or create the token file {tokenFile} ({setting}): {ex.Message}";
        }
    }
}
