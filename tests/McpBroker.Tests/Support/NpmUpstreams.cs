using System.Diagnostics;

namespace McpBroker.Tests.Support;

/// <summary>Installs the pinned npm reference servers (tests/upstreams) once per test run, with npm ci.</summary>
internal static class NpmUpstreams
{
    private static readonly Lazy<Task> s_install = new(InstallAsync);

    public static Task EnsureInstalledAsync() => s_install.Value;

    private static async Task InstallAsync()
    {
        var marker = Path.Combine(Repo.UpstreamsDir, "node_modules", ".package-lock.json");
        var lockFile = Path.Combine(Repo.UpstreamsDir, "package-lock.json");
        if (File.Exists(marker) && File.GetLastWriteTimeUtc(marker) >= File.GetLastWriteTimeUtc(lockFile) && File.Exists(Repo.NodeBin("mcp-server-memory")))
        {
            return;
        }

        var start = new ProcessStartInfo("npm") { WorkingDirectory = Repo.UpstreamsDir, RedirectStandardOutput = true, RedirectStandardError = true };
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
            throw new InvalidOperationException($"npm ci in tests/upstreams failed ({npm.ExitCode}): {await stderr}");
        }
    }
}
