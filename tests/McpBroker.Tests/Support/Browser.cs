namespace McpBroker.Tests.Support;

/// <summary>
/// Headless Chromium for the status page test: Debian's <c>chromium</c> (installed here with apt-get when missing and
/// the tests run as root, as CI does) driven by the pinned <c>playwright-core</c> in tests/browser (npm ci, scripts off:
/// it never downloads a browser of its own).
/// </summary>
internal static class Browser
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private static readonly Lazy<Task> s_install = new(InstallAsync);

    public static string Dir => Path.Combine(Repo.Root, "tests", "browser");

    /// <summary>Why the browser test cannot run on this machine (null: it can, installing what is missing).</summary>
    public static string? Unavailable =>
        File.Exists(ChromiumPath) || (Environment.UserName == "root" && File.Exists("/usr/bin/apt-get"))
            ? null
            : $"{ChromiumPath} is missing and cannot be installed here (not root, or no apt-get): install Debian's chromium package";

    public static Task EnsureInstalledAsync() => s_install.Value;

    /// <summary>Whether any chromium process runs (Debian's /usr/bin/chromium is a script that runs /usr/lib/chromium/chromium).</summary>
    public static bool AnyRunning() => Processes.All().Any(p => p.CommandLine.StartsWith(ChromiumPath, StringComparison.Ordinal)
        || p.CommandLine.StartsWith("/usr/lib/chromium/", StringComparison.Ordinal));

    private static async Task InstallAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            await NpmClients.RunAsync("apt-get", Dir, "update", "-qq");
            await NpmClients.RunAsync("apt-get", Dir, "install", "-y", "-qq", "chromium");
        }

        var marker = Path.Combine(Dir, "node_modules", ".package-lock.json");
        if (!File.Exists(marker) || File.GetLastWriteTimeUtc(marker) < File.GetLastWriteTimeUtc(Path.Combine(Dir, "package-lock.json")))
        {
            await NpmClients.RunAsync("npm", Dir, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error");
        }
    }
}

/// <summary>A test that needs headless Chromium: skipped, saying why, only where it cannot be installed.</summary>
internal sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (Browser.Unavailable is { } why)
        {
            Skip = why;
        }
    }
}
