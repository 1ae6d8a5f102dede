using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Clients;

/// <summary>
/// The Codex commands as a user runs them: <c>client apps-policy</c> on fixture Codex files in a throwaway HOME (dry
/// run, apply, rollback byte for byte), <c>client acceptance</c>, and <c>tools count</c> and <c>measure</c> against
/// the in-repo test upstream.
/// </summary>
public sealed class CodexAppsJourneyTests
{
    private const string CacheName = "0b7e2f1c9a4d83e6f5a1c2d7e8b9f0a1c3d5e7f9.json";

    [Fact]
    public async Task AppsPolicy_DryRunApplyRollback_RestoresEveryCodexFileByteForByte()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config);
        var files = WriteCodexHome(env.Root);
        var originals = files.ToDictionary(f => f, File.ReadAllBytes);
        File.SetUnixFileMode(files[2], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var doctor = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Contains("client codex: its codex_apps_policy is not applied: 3 file(s) to change, 22 hosted-app tool definition(s) of disabled connectors still cached", doctor.Stdout + doctor.Stderr);
        Assert.Contains("mcp-broker client apps-policy codex --apply", doctor.Stdout + doctor.Stderr);

        var dryRun = await env.RunCliAsync("client", "apps-policy", "codex", "--config", env.ConfigPath);
        Assert.True(dryRun.ExitCode == 0, dryRun.Stderr);
        Assert.Contains("+[apps.connector_6a1f0c9e2b7d4e51a3c8f09b12de4477]", dryRun.Stdout);
        Assert.Contains("hosted-app tool definitions in 1 cache file(s): 40 now, 18 with the policy", dryRun.Stdout);
        Assert.Contains("dry run: nothing written", dryRun.Stdout);
        Assert.All(files, f => Assert.Equal(originals[f], File.ReadAllBytes(f)));

        var apply = await env.RunCliAsync("client", "apps-policy", "codex", "--config", env.ConfigPath, "--apply");
        Assert.True(apply.ExitCode == 0, apply.Stderr);
        Assert.Contains("applied: 3 file(s) written", apply.Stdout);
        Assert.Equal(Golden("config.applied.toml"), File.ReadAllBytes(files[0]));
        Assert.Equal(Golden("codex_app_directory.applied.json"), File.ReadAllBytes(files[1]));
        Assert.Equal(Golden("codex_apps_tools.applied.json"), File.ReadAllBytes(files[2]));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(files[2]));
        var again = await env.RunCliAsync("client", "apps-policy", "codex", "--config", env.ConfigPath, "--apply");
        Assert.Contains("nothing to change", again.Stdout);
        var backups = await env.RunCliAsync("client", "backups", "codex", "--config", env.ConfigPath);
        Assert.Contains("before apps-policy (+2 more file(s)", backups.Stdout);

        var applied = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Contains("client codex: its codex_apps_policy is applied (18 hosted-app tool definition(s) cached)", applied.Stdout + applied.Stderr);

        // Codex refreshes its tools cache whole: config.toml's switch still holds, so that is not a failure.
        File.WriteAllBytes(files[2], originals[files[2]]);
        var refreshed = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Contains("its codex_apps_policy is applied in", refreshed.Stdout + refreshed.Stderr);
        Assert.Contains("Codex has refreshed its caches since (22 cached definition(s) of disabled connectors", refreshed.Stdout + refreshed.Stderr);
        File.WriteAllBytes(files[2], Golden("codex_apps_tools.applied.json"));

        var rollback = await env.RunCliAsync("client", "rollback", "codex", "--config", env.ConfigPath);
        Assert.True(rollback.ExitCode == 0, rollback.Stderr);
        Assert.All(files, f => Assert.Equal(originals[f], File.ReadAllBytes(f)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(files[2]));

        // The rollback saved the applied files first: rolling back to that backup applies the policy again.
        var list = await env.RunCliAsync("client", "backups", "codex", "--config", env.ConfigPath);
        var beforeRollback = list.Stdout.Split('\n').Single(l => l.Contains("before rollback", StringComparison.Ordinal)).Split(' ')[0];
        var redo = await env.RunCliAsync("client", "rollback", "codex", "--config", env.ConfigPath, "--to", beforeRollback);
        Assert.True(redo.ExitCode == 0, redo.Stderr);
        Assert.Equal(Golden("codex_apps_tools.applied.json"), File.ReadAllBytes(files[2]));
        Assert.Null(env.DaemonPid);
    }

    [Fact]
    public async Task AppsPolicy_BadInput_FailsWithTheFix_AndChangesNothing()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config);
        var files = WriteCodexHome(env.Root);
        await File.WriteAllTextAsync(files[2], "{\"schema_version\": 4, \"tools\": {}}");
        var originals = files.ToDictionary(f => f, File.ReadAllBytes);

        var notCache = await env.RunCliAsync("client", "apps-policy", "codex", "--config", env.ConfigPath, "--apply");
        var notCodex = await env.RunCliAsync("client", "apps-policy", "claude", "--config", env.ConfigPath, "--apply");
        var unknown = await env.RunCliAsync("client", "apps-policy", "nope", "--config", env.ConfigPath);

        Assert.Equal(1, notCache.ExitCode);
        Assert.Contains($"{files[2]}: has no \"tools\" list", notCache.Stderr);
        Assert.Equal(1, notCodex.ExitCode);
        Assert.Contains("hosted-app policies are for codex-toml clients", notCodex.Stderr);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no client named 'nope'", unknown.Stderr);
        Assert.All(files, f => Assert.Equal(originals[f], File.ReadAllBytes(f)));
        Assert.False(Directory.Exists(Path.Combine(env.Root, "backups", "clients", "codex")), "nothing was backed up either");
    }

    [Fact]
    public async Task Acceptance_PrintsCodexNamedCalls_FromTheSmokeProbe_AndStartsNothing()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config);

        var text = await env.RunCliAsync("client", "acceptance", "codex", "--config", env.ConfigPath);
        var json = await env.RunCliAsync("client", "acceptance", "codex", "--config", env.ConfigPath, "--profile", "raw", "--json");
        var notCodex = await env.RunCliAsync("client", "acceptance", "claude", "--config", env.ConfigPath);

        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains("""1. search   mcp__mcp_broker__broker_search_tools {"query":"echo a message back"}""", text.Stdout);
        Assert.Contains("""3. call     mcp__mcp_broker__broker_call_tool {"name":"t.echo","arguments":{"message":"hello from codex"}}""", text.Stdout);
        Assert.True(json.ExitCode == 0, json.Stderr);
        var steps = JsonDocument.Parse(json.Stdout).RootElement.GetProperty("upstreams")[0].GetProperty("steps");
        Assert.Equal("mcp__mcp_broker__t_echo", steps[1].GetProperty("tool").GetString());
        Assert.Equal(1, notCodex.ExitCode);
        Assert.Null(env.DaemonPid);
        Assert.False(File.Exists(env.SocketPath));
    }

    /// <summary>
    /// The names are checked against Codex itself: the pinned Codex CLI runs one turn (<c>codex exec</c>) against a
    /// stand-in Responses endpoint on 127.0.0.1 that records the request and refuses it, so no model is involved; the
    /// tools it declares for the broker (a namespace and its functions) must be the names the acceptance steps print.
    /// </summary>
    [Fact]
    public async Task Acceptance_ToolNames_AreTheNamesCodexDeclaresToTheModel()
    {
        await NpmClients.EnsureInstalledAsync();
        await using var env = await BrokerEnvironment.CreateAsync(Config);
        var home = Directory.CreateDirectory(Path.Combine(env.Root, "home")).FullName;
        env.ExtraEnvironment["HOME"] = home;
        env.ExtraEnvironment["CODEX_HOME"] = Path.Combine(home, ".codex");
        var apply = await env.RunCliAsync("client", "apply", "codex", "--config", env.ConfigPath);
        Assert.True(apply.ExitCode == 0, apply.Stderr);
        var started = await env.RunCliAsync("daemon", "--detach", "--config", env.ConfigPath);
        Assert.True(started.ExitCode == 0, started.Stderr);

        var port = LoopbackServer.FreePort();
        using var listener = new System.Net.HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var captured = CaptureOneRequestAsync(listener);

        // Codex starts MCP servers with a reduced environment: give the shim what it needs to find this test's daemon.
        // A generous MCP start limit too: Codex leaves out a server that starts slowly (its default is 10 s), and a
        // busy test machine with coverage on can take that long; what is checked here is names, not speed.
        var toml = Path.Combine(home, ".codex", "config.toml");
        var rendered = (await File.ReadAllTextAsync(toml)).Replace("[mcp_servers.mcp-broker]\n", "[mcp_servers.mcp-broker]\nstartup_timeout_sec = 120\n", StringComparison.Ordinal);
        Assert.Contains("startup_timeout_sec = 120", rendered, StringComparison.Ordinal);
        await File.WriteAllTextAsync(toml, $$"""
            model = "gpt-test"
            model_provider = "stand-in"

            {{rendered}}
            [mcp_servers.mcp-broker.env]
            XDG_CACHE_HOME = "{{env.ProcessEnvironment["XDG_CACHE_HOME"]}}"
            MCP_BROKER_CLI = "{{Repo.Cli}}"

            [model_providers.stand-in]
            name = "stand-in"
            base_url = "http://127.0.0.1:{{port}}/v1"
            wire_api = "responses"
            """);
        var exec = env.RunAsync(NpmClients.Bin("codex"), ["exec", "--skip-git-repo-check", "say hi"], stdin: "");
        var request = await captured.WaitAsync(Wait.Timeout);
        await exec;

        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tool in request["tools"]!.AsArray().OfType<JsonObject>().Where(t => (string?)t["type"] == "namespace"))
        {
            foreach (var function in tool["tools"]!.AsArray().OfType<JsonObject>())
            {
                declared.Add($"{tool["name"]}__{function["name"]}");
            }
        }

        var acceptance = await env.RunCliAsync("client", "acceptance", "codex", "--config", env.ConfigPath, "--json");
        var names = JsonDocument.Parse(acceptance.Stdout).RootElement.GetProperty("upstreams").EnumerateArray()
            .SelectMany(u => u.GetProperty("steps").EnumerateArray())
            .Select(s => s.GetProperty("tool").GetString()).OfType<string>().ToList();
        Assert.Equal(["mcp__mcp_broker__broker_call_tool", "mcp__mcp_broker__broker_describe_tool", "mcp__mcp_broker__broker_search_tools"], names.Distinct().Order());
        Assert.All(names, n => Assert.Contains(n, declared));
        await env.StopDaemonAndAssertNothingLeftAsync();
    }

    /// <summary>The first POST to the listener: its JSON body, answered with HTTP 400 so the client stops there.</summary>
    private static async Task<JsonObject> CaptureOneRequestAsync(System.Net.HttpListener listener)
    {
        while (true)
        {
            var context = await listener.GetContextAsync();
            if (context.Request.HttpMethod != "POST")
            {
                context.Response.StatusCode = 404;
                context.Response.Close();
                continue;
            }

            var body = JsonNode.Parse(context.Request.InputStream)!.AsObject();
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync("""{"error":{"message":"recorded by the test","type":"invalid_request_error"}}"""u8.ToArray());
            context.Response.Close();
            return body;
        }
    }

    [Fact]
    public async Task ToolsCountAndMeasure_CountPerUpstream_AndHostedAppTools()
    {
        await using var env = await BrokerEnvironment.CreateAsync(Config);
        WriteCodexHome(env.Root);

        var all = await env.RunCliAsync("tools", "count", "--config", env.ConfigPath, "--json");
        var text = await env.RunCliAsync("tools", "count", "--config", env.ConfigPath, "--profile", "default");
        var measure = await env.RunCliAsync("measure", "--config", env.ConfigPath, "--json");
        var unknown = await env.RunCliAsync("tools", "count", "--config", env.ConfigPath, "--profile", "nope");
        env.RememberProcesses();

        Assert.True(all.ExitCode == 0, all.Stdout + all.Stderr);
        var profiles = JsonDocument.Parse(all.Stdout).RootElement.GetProperty("profiles").EnumerateArray().ToDictionary(p => p.GetProperty("profile").GetString()!);
        var compact = profiles["default"];
        Assert.Equal(4, compact.GetProperty("advertised").GetInt32());
        var t = compact.GetProperty("upstreams")[0];
        Assert.Equal(("t", 7, 4), (t.GetProperty("upstream").GetString(), t.GetProperty("tools").GetInt32(), t.GetProperty("mutating_hidden").GetInt32()));
        Assert.Equal(7, compact.GetProperty("total").GetInt32());
        Assert.Equal((11, 11), (profiles["raw"].GetProperty("advertised").GetInt32(), profiles["raw"].GetProperty("total").GetInt32()));
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Matches(@"profile 'default' \(compact\): tools/list advertises 4 tool\(s\), [\d,]+ o200k tokens; 7 upstream tool\(s\) behind search \([\d,]+ tokens if listed\)", text.Stdout);
        Assert.Matches(@"\n  t\s+7  4 mutating\n  total\s+7  \([\d,]+ o200k tokens\)\n", text.Stdout);
        Assert.Equal(1, unknown.ExitCode);

        Assert.True(measure.ExitCode == 0, measure.Stderr);
        var hosted = JsonDocument.Parse(measure.Stdout).RootElement.GetProperty("hosted_apps")[0];
        Assert.Equal("codex", hosted.GetProperty("client").GetString());
        Assert.Equal((40, 18), (hosted.GetProperty("before").GetProperty("tools").GetInt32(), hosted.GetProperty("after").GetProperty("tools").GetInt32()));
        await env.StopDaemonAndAssertNothingLeftAsync();
    }

    private static string Config(string root) => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        profiles:
          default: { compact_tools_enabled: true }
          raw: { compact_tools_enabled: false, allow_mutating_upstreams: ["*"] }
        upstreams:
          t:
            command: "{{Repo.TestUpstream}}"
            smoke: { query: "echo a message back", tool: echo, arguments: { message: "hello from codex" }, call: true }
        clients:
          claude: { format: claude-json, config_path: "{{root}}/home/.claude.json" }
          codex:
            format: codex-toml
            config_path: "{{root}}/home/.codex/config.toml"
            codex_apps_policy:
              disable_connectors:
                - { id: connector_6a1f0c9e2b7d4e51a3c8f09b12de4477, reason: "the broker serves github" }
                - { name: linear, reason: "the broker serves linear" }
        """;

    /// <summary>The fixture Codex home: config.toml, one app directory file and one tools cache file.</summary>
    private static List<string> WriteCodexHome(string root)
    {
        var codex = Path.Combine(root, "home", ".codex");
        var files = new List<string>
        {
            Path.Combine(codex, "config.toml"),
            Path.Combine(codex, "cache", "codex_app_directory", CacheName),
            Path.Combine(codex, "cache", "codex_apps_tools", CacheName),
        };
        foreach (var (file, fixture) in files.Zip(["config.input.toml", "codex_app_directory.input.json", "codex_apps_tools.input.json"]))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.Copy(Path.Combine(Repo.Root, "tests", "McpBroker.Tests", "Golden", "clients", "codex-apps", fixture), file);
        }

        return files;
    }

    private static byte[] Golden(string name) => File.ReadAllBytes(Path.Combine(Repo.Root, "tests", "McpBroker.Tests", "Golden", "clients", "codex-apps", name));
}
