using System.Diagnostics;
using System.Text.Json;

namespace McpBroker.Tests.Support;

/// <summary>
/// tests/upstreams/oauth-server.mjs: an OAuth-protected MCP server built from the TypeScript SDK's auth router (dynamic
/// registration, a sign-in page, PKCE S256, short access tokens, rotating refresh tokens, revocation), on a free
/// loopback port, with its admin endpoints (revoke everything, expire access tokens, a 503 token endpoint, counters).
/// </summary>
internal sealed class OAuthTestServer : IAsyncDisposable
{
    private static readonly HttpClient s_admin = new();

    private readonly Process _process;

    private OAuthTestServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string McpUrl => $"http://127.0.0.1:{Port}/mcp";

    /// <summary>Starts the server with the script's options (e.g. --access-ttl 3, --no-registration, --exact-redirect).</summary>
    public static async Task<OAuthTestServer> StartAsync(params string[] options)
    {
        await NpmUpstreams.EnsureInstalledAsync();
        var start = new ProcessStartInfo("node") { WorkingDirectory = Repo.UpstreamsDir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(Repo.UpstreamsDir, "oauth-server.mjs"));
        foreach (var option in options)
        {
            start.ArgumentList.Add(option);
        }

        var process = Process.Start(start)!;
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (stderr) { stderr.AppendLine(e.Data); } };
        process.BeginErrorReadLine();
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Wait.Timeout);
        if (line?.StartsWith("LISTENING ", StringComparison.Ordinal) != true)
        {
            process.Kill(entireProcessTree: true);
            lock (stderr)
            {
                throw new InvalidOperationException($"oauth-server.mjs did not start: {line} {stderr}");
            }
        }

        _ = process.StandardOutput.ReadToEndAsync();
        return new OAuthTestServer(process, int.Parse(line["LISTENING ".Length..], System.Globalization.CultureInfo.InvariantCulture));
    }

    public Task RevokeAllAsync() => AdminAsync("revoke-all");

    public Task ExpireAccessTokensAsync() => AdminAsync("expire-access");

    public Task TokenEndpointUnavailableAsync(bool on) => AdminAsync("token-unavailable?on=" + (on ? "1" : "0"));

    /// <summary>The server's counters: registrations, logins, code_exchanges, refreshes, refresh_refusals, revocations, …</summary>
    public async Task<int> StatAsync(string counter)
    {
        var stats = JsonDocument.Parse(await s_admin.GetStringAsync($"http://127.0.0.1:{Port}/admin/stats")).RootElement;
        return stats.GetProperty(counter).GetInt32();
    }

    private async Task AdminAsync(string action)
    {
        using var response = await s_admin.PostAsync($"http://127.0.0.1:{Port}/admin/{action}", null);
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
