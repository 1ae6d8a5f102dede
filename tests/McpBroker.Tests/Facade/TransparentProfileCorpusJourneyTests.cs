using System.Diagnostics;
using System.Text.Json;
using McpBroker.Tests.Support;
using Xunit.Abstractions;

namespace McpBroker.Tests.Facade;

/// <summary>
/// The compatibility corpus (tests/compat): dozens of real MCP servers from npm, and small in-repo servers on older SDKs
/// for every protocol revision and the awkward cases, each run by the TypeScript SDK client directly and through the
/// shim with a transparent profile — one daemon for all of them — and compared (tests/compat/differential.mjs).
/// With MCP_BROKER_WRITE_COMPAT=1 the run also writes docs/compatibility.md (scripts/compat).
/// </summary>
public sealed class TransparentProfileCorpusJourneyTests(ITestOutputHelper output)
{
    /// <summary>Servers compared at once: each is a client, a server and a shim, then the same server inside the daemon.</summary>
    private static readonly int Concurrency = int.TryParse(Environment.GetEnvironmentVariable("MCP_BROKER_COMPAT_CONCURRENCY"), out var n) && n > 0 ? n : 4;

    /// <summary>One server, both ways: its start (at most 60 s each way, the slowest here take 4 s) and a handful of requests.</summary>
    private static readonly TimeSpan PerServer = TimeSpan.FromSeconds(150);

    private static readonly string[] ProtocolLines = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

    [Fact]
    public async Task EveryCorpusServer_ThroughATransparentProfile_AnswersAsItDoesDirectly()
    {
        await CompatCorpus.EnsureInstalledAsync();
        var (all, dropped) = CompatCorpus.Load();
        var only = Environment.GetEnvironmentVariable("MCP_BROKER_COMPAT_ONLY")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var servers = only is null ? all : all.Where(s => only.Contains(s.Name)).ToList();
        string workRoot = "";
        await using var env = await BrokerEnvironment.CreateAsync(root =>
        {
            workRoot = Path.Combine(root, "w");
            return CompatCorpus.BrokerConfig(root, servers, s => Path.Combine(workRoot, s.Name));
        });
        foreach (var server in servers)
        {
            Directory.CreateDirectory(Path.Combine(workRoot, server.Name, "home"));
        }

        var daemon = await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath);
        Assert.True(daemon.ExitCode == 0, $"daemon --detach exited {daemon.ExitCode}: {daemon.Stderr}");
        env.RememberProcesses();

        var total = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        using var slots = new SemaphoreSlim(Concurrency);
        var results = await Task.WhenAll(servers.Select(async server =>
        {
            await slots.WaitAsync();
            try
            {
                var result = await CompareAsync(env, server, Path.Combine(workRoot, server.Name));
                env.RememberProcesses();
                return server.ExpectDiffers is null ? result : WithControl(result, server.ExpectDiffers);
            }
            finally
            {
                slots.Release();
            }
        }));
        clock.Stop();
        output.WriteLine($"corpus: {servers.Count} servers in {clock.Elapsed.TotalSeconds:0.0} s, {Concurrency} at a time");

        // The revision the broker negotiated with each upstream (the client's own, through the broker, is in each line).
        var status = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        Assert.True(status.ExitCode == 0, $"status --json exited {status.ExitCode}: {status.Stderr}");
        using var statusJson = JsonDocument.Parse(status.Stdout);
        var upstreamProtocols = statusJson.RootElement.GetProperty("upstreams").EnumerateArray()
            .ToDictionary(u => u.GetProperty("name").GetString()!, u => u.TryGetProperty("protocol", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null);
        results = [.. results.Select(r => WithUpstreamProtocol(r, upstreamProtocols.GetValueOrDefault(r.GetProperty("server").GetString()!)))];

        // Nothing may outlive the run: the daemon and its upstreams, and the servers the clients ran directly (known by
        // the HOME each was given under this run's work folder).
        var stopping = Stopwatch.StartNew();
        await env.StopDaemonAndAssertNothingLeftAsync();
        await Wait.UntilAsync(() => CorpusProcesses(workRoot).Count == 0, "every corpus server started directly to exit", TimeSpan.FromSeconds(30));
        output.WriteLine($"daemon and servers stopped in {stopping.Elapsed.TotalSeconds:0.0} s; {total.Elapsed.TotalSeconds:0.0} s since the daemon started");

        // Every answer, for a reader of a failure (each line has all the differences, not only the first).
        await File.WriteAllLinesAsync(Path.Combine(CompatCorpus.Dir, "last-run.jsonl"), results.Select(r => r.GetRawText()));
        if (Environment.GetEnvironmentVariable("MCP_BROKER_WRITE_COMPAT") == "1" && only is null)
        {
            await File.WriteAllTextAsync(CompatCorpus.DocPath, CompatCorpus.Render(servers, results, dropped, clock.Elapsed, Concurrency));
        }

        // Every server the corpus keeps must start offline and answer directly: one that does not belongs under "dropped".
        var brokenDirectly = results.Where(r => r.TryGetProperty("why", out var why) && why.GetString()!.StartsWith("directly:", StringComparison.Ordinal)).ToList();
        Assert.True(brokenDirectly.Count == 0, "servers that no longer start offline (move them to 'dropped' in tests/compat/corpus.json):\n"
            + string.Join("\n", brokenDirectly.Select(r => $"{r.GetProperty("server").GetString()}: {CompatCorpus.Describe(r)}")));
        if (only is null)
        {
            Assert.True(servers.Count(s => s.Package is not null) >= 30, $"the corpus has {servers.Count(s => s.Package is not null)} npm servers; it keeps at least 30");
            var negotiated = results.Select(r => r.GetProperty("protocol").GetProperty("direct").GetString()).OfType<string>().ToHashSet();
            Assert.All(ProtocolLines, line => Assert.Contains(line, negotiated));
        }

        // The control differs by construction (its broker-side environment); the comparison must find exactly that.
        foreach (var control in servers.Where(s => s.ExpectDiffers is not null))
        {
            var line = results.Single(r => r.GetProperty("server").GetString() == control.Name);
            Assert.True(CompatCorpus.Result(line) == "differs" && line.GetProperty("path").GetString() == control.ExpectDiffers,
                $"the control {control.Name} must differ at {control.ExpectDiffers}; the comparison found: {CompatCorpus.Describe(line)}");
        }

        var notSame = results.Where(r => CompatCorpus.Result(r) is not ("same" or "known") && !IsControl(r)).ToList();
        Assert.True(notSame.Count == 0, $"{notSame.Count} of {results.Length} servers answer differently through the broker ({clock.Elapsed.TotalSeconds:0} s):\n"
            + string.Join("\n", notSame.Select(r => $"- {r.GetProperty("server").GetString()}: {CompatCorpus.Describe(r)}")));
    }

    /// <summary>Processes of this run's corpus servers: started from tests/compat with a HOME under <paramref name="workRoot"/>.</summary>
    private static List<ProcessInfo> CorpusProcesses(string workRoot) =>
        Processes.Matching(CompatCorpus.Dir + Path.DirectorySeparatorChar).Where(p =>
        {
            try
            {
                return File.ReadAllText($"/proc/{p.Pid}/environ").Split('\0').Any(v => v.StartsWith("HOME=" + workRoot, StringComparison.Ordinal));
            }
            catch (IOException)
            {
                return false;
            }
            catch (UnauthorizedAccessException)
            {
                return false;
            }
        }).ToList();

    /// <summary>Runs differential.mjs for one server; its JSON line, or a "fails" line saying why there was none.</summary>
    private static async Task<JsonElement> CompareAsync(BrokerEnvironment env, CorpusServer server, string work)
    {
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            Path.Combine(CompatCorpus.Dir, "differential.mjs"), "--server", server.Name, "--work", work,
            "--shim", Repo.Shim, "--config", env.ConfigPath, "--profile", server.Name,
        })
        {
            start.ArgumentList.Add(arg);
        }

        env.ApplyEnvironment(start);
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(PerServer);
        }
        catch (TimeoutException)
        {
            // The client and whatever it started (the server run directly, the shim) go with it; the daemon is not its child.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return Fails(server, $"no answer within {PerServer.TotalSeconds:0} s");
        }

        var line = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        if (process.ExitCode != 0 || line is null || !line.StartsWith('{'))
        {
            var error = (await stderr).Trim();
            return Fails(server, $"differential.mjs exited {process.ExitCode}: {(error.Length > 300 ? error[^300..] : error)}");
        }

        return JsonDocument.Parse(line).RootElement.Clone();
    }

    private static bool IsControl(JsonElement line) => line.TryGetProperty("control", out _);

    /// <summary>The line with protocol.upstream: the revision the broker negotiated with the server.</summary>
    private static JsonElement WithUpstreamProtocol(JsonElement line, string? protocol)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(line.GetRawText())!.AsObject();
        if (node["protocol"] is System.Text.Json.Nodes.JsonObject negotiated)
        {
            negotiated["upstream"] = protocol;
        }

        return JsonSerializer.SerializeToElement(node);
    }

    /// <summary>The line with "control": the path where it must differ (the doc and the failure message say so).</summary>
    private static JsonElement WithControl(JsonElement line, string expected)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(line.GetRawText())!.AsObject();
        node["control"] = expected;
        return JsonSerializer.SerializeToElement(node);
    }

    private static JsonElement Fails(CorpusServer server, string why) =>
        JsonSerializer.SerializeToElement(new Dictionary<string, object?>
        {
            ["server"] = server.Name,
            ["protocol"] = new Dictionary<string, string?> { ["direct"] = null, ["broker"] = null },
            ["result"] = "fails",
            ["why"] = why,
        });
}
