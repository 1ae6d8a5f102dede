using System.Diagnostics;

namespace McpBroker.Tests.Support;

/// <summary>
/// Installs the pinned agent CLIs (tests/clients) once per test run. <c>npm install --no-save</c> rather than
/// <c>npm ci</c>: the lock pins every version, but it cannot list the platform packages of other systems that the
/// registry here does not serve, and <c>npm ci</c> refuses a lock without them. Scripts stay off; the two packages whose
/// install script only copies their native binary out of an already-installed platform package get that step run.
/// </summary>
internal static class NpmClients
{
    private static readonly Lazy<Task> s_install = new(InstallAsync);

    public static string Dir => Path.Combine(Repo.Root, "tests", "clients");

    public static string Bin(string name) => Path.Combine(Dir, "node_modules", ".bin", name);

    public static Task EnsureInstalledAsync() => s_install.Value;

    private static async Task InstallAsync()
    {
        var marker = Path.Combine(Dir, "node_modules", ".package-lock.json");
        if (!File.Exists(marker) || File.GetLastWriteTimeUtc(marker) < File.GetLastWriteTimeUtc(Path.Combine(Dir, "package-lock.json")))
        {
            await RunAsync("npm", Dir, "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error");
        }

        await RunAsync("node", Path.Combine(Dir, "node_modules", "@anthropic-ai", "claude-code"), "install.cjs");
        await RunAsync("node", Path.Combine(Dir, "node_modules", "opencode-ai"), "postinstall.mjs");
    }

    /// <summary>Runs an installer (npm, node, apt-get) to its end; its output is the error when it fails.</summary>
    internal static async Task RunAsync(string file, string directory, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DEBIAN_FRONTEND"] = "noninteractive"; // apt-get asks nothing
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} in {directory} failed ({process.ExitCode}): {stdout}{await stderr}");
        }
    }
}
