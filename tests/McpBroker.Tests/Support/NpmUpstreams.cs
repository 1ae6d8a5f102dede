using System.Diagnostics;

namespace McpBroker.Tests.Support;

/// <summary>Installs the pinned npm reference servers (tests/upstreams) once per test run, with npm ci (the compatibility corpus too).</summary>
internal static class NpmUpstreams
{
    private static readonly Lazy<Task> s_install = new(InstallAsync);

    public static Task EnsureInstalledAsync() => s_install.Value;

    private static Task InstallAsync() => NpmCiAsync(Repo.UpstreamsDir, Repo.NodeBin("mcp-server-memory"));

    /// <summary>
    /// <c>npm ci</c> in <paramref name="dir"/> unless its install is as new as its lock file and has <paramref name="installed"/>.
    /// </summary>
    public static async Task NpmCiAsync(string dir, string installed)
    {
        var marker = Path.Combine(dir, "node_modules", ".package-lock.json");
        var lockFile = Path.Combine(dir, "package-lock.json");
        if (File.Exists(marker) && File.GetLastWriteTimeUtc(marker) >= File.GetLastWriteTimeUtc(lockFile) && File.Exists(installed))
        {
            return;
        }

        var start = new ProcessStartInfo("npm") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "ci", "--ignore-scripts", "--no-audit", "--no-fund" })
        {
            start.ArgumentList.Add(arg);
        }

        using var npm = Process.Start(start)!;
        var stderr = npm.StandardError.ReadToEndAsync();
        await npm.StandardOutput.ReadToEndAsync();
        await npm.WaitForExitAsync();
        if (npm.ExitCode != 0)
        {
            throw new InvalidOperationException($"npm ci in {Path.GetRelativePath(Repo.Root, dir)} failed ({npm.ExitCode}): {await stderr}");
        }
    }
}
