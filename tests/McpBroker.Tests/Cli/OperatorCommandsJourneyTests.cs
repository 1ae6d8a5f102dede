using System.Text.Json;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Cli;

/// <summary>What the people who run the broker use to see what it does: status and logs.</summary>
public sealed class OperatorCommandsJourneyTests
{
    [Fact]
    public async Task Top_Once_ShowsUpstreamCallsLatencySessionsAndContextSaved_AndSaysWhenNoneRuns()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root));
        var none = await env.RunCliAsync("top", "--once", "--config", env.ConfigPath);
        Assert.Equal(3, none.ExitCode);
        Assert.Contains("no daemon running", none.Stdout);
        Assert.Equal(2, (await env.RunCliAsync("top", "--interval", "soon", "--config", env.ConfigPath)).ExitCode);

        var client = await env.ConnectAsync("raw");
        var pid = int.Parse(await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
        await BrokerEnvironment.CallTextAsync(client, "t.echo", new() { ["message"] = "private words" });
        // Refused before any upstream sees them: a mutating tool the profile does not allow, a name that is no tool.
        Assert.True((await client.CallToolAsync("t.add_tool", new Dictionary<string, object?>())).IsError);
        Assert.True((await client.CallToolAsync("t.no_such_tool", new Dictionary<string, object?>())).IsError);

        var top = await env.RunCliAsync("top", "--once", "--config", env.ConfigPath);
        Assert.Equal(0, top.ExitCode);
        Assert.Contains($"daemon pid {env.DaemonPid}", top.Stdout);
        Assert.Contains("1 session(s)", top.Stdout);
        // name, state, pid, mode, sessions, in flight, queued, calls, errors (refusals reached no upstream: t counts two calls)
        Assert.Matches($@"│\s+t\s+│\s+running\s+│\s+{pid}\s+│\s+shared\s+│\s+1\s+│\s+0\s+│\s+0\s+│\s+2\s+│\s+0\s+│", top.Stdout);
        // at, client, profile, upstream, tool, ms, outcome
        Assert.Matches(@"│\s+\d\d:\d\d:\d\d\s+│\s+journey-test\s+│\s+raw\s+│\s+t\s+│\s+echo\s+│\s+[\d.]+\s+│\s+ok\s+│", top.Stdout);
        Assert.Matches(@"│\s+journey-test\s+│\s+raw\s+│\s+t\s+│\s+add_tool\s+│\s+│\s+mutating_not_allowed \(refused\)\s+│", top.Stdout);
        Assert.Matches(@"│\s+journey-test\s+│\s+raw\s+│\s+│\s+t\.no_such_tool\s+│\s+│\s+unknown_tool \(refused\)\s+│", top.Stdout);
        Assert.Matches(@"│\s+raw\s+│\s+raw\s+│\s+1 of 1\s+│", top.Stdout);
        Assert.Contains("journey-test 1", top.Stdout);
        Assert.DoesNotContain("private words", top.Stdout);
    }

    [Fact]
    public async Task Status_ShowsTheDaemonItsSessionsAndUpstreams_AndSaysWhenNoneRuns()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root, $$"""
              mine: { command: "{{Repo.TestUpstream}}", mode: per_session }
              off: { command: "{{Repo.TestUpstream}}", mode: disabled }
            """));

        var none = await env.RunCliAsync("status", "--config", env.ConfigPath);
        Assert.Equal(3, none.ExitCode);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(none.Stdout).RootElement.GetProperty("daemon").ValueKind);

        var client = await env.ConnectAsync("raw");
        var pid = int.Parse(await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
        var minePid = int.Parse(await BrokerEnvironment.CallTextAsync(client, "mine.pid", []));

        var run = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        Assert.Equal(0, run.ExitCode);
        var status = JsonDocument.Parse(run.Stdout).RootElement;
        var daemon = status.GetProperty("daemon");
        Assert.Equal(env.DaemonPid, daemon.GetProperty("pid").GetInt32());
        Assert.Equal(env.ConfigPath, daemon.GetProperty("config").GetString());
        Assert.Matches(@"^\d+\.\d+\.\d+", daemon.GetProperty("version").GetString());
        Assert.True(daemon.GetProperty("uptime_seconds").GetInt64() >= 0);

        var session = Assert.Single(status.GetProperty("sessions").EnumerateArray());
        Assert.Equal("journey-test", session.GetProperty("client").GetString());
        Assert.Equal("xunit", session.GetProperty("wired_as").GetString());
        Assert.Equal("journey-test 1", session.GetProperty("client_info").GetString());
        Assert.Equal("raw", session.GetProperty("profile").GetString());

        var upstreams = status.GetProperty("upstreams").EnumerateArray().ToDictionary(u => u.GetProperty("name").GetString()!);
        var t = upstreams["t"];
        Assert.Equal("running", t.GetProperty("state").GetString());
        Assert.Equal(pid, t.GetProperty("pids")[0].GetInt32());
        Assert.Equal("shared", t.GetProperty("mode").GetString());
        Assert.Equal(1, t.GetProperty("sessions").GetInt32());
        Assert.Equal(11, t.GetProperty("tools").GetInt32());
        Assert.Equal("none", t.GetProperty("auth").GetProperty("state").GetString());
        Assert.True(t.GetProperty("idle_seconds").GetInt64() >= 0);
        Assert.Equal(0, t.GetProperty("restarts").GetInt32());
        Assert.Equal("per_session", upstreams["mine"].GetProperty("mode").GetString());
        Assert.Equal(minePid, upstreams["mine"].GetProperty("pids")[0].GetInt32());
        Assert.Equal("disabled", upstreams["off"].GetProperty("state").GetString());

        // The same as tables (what a terminal gets).
        var table = await env.RunCliAsync("status", "--table", "--config", env.ConfigPath);
        Assert.Equal(0, table.ExitCode);
        Assert.Contains($"daemon pid {env.DaemonPid}", table.Stdout);
        Assert.Matches(@"loaded \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", table.Stdout); // to the second, zone named
        Assert.Matches($@"t\s+│\s+running\s+│\s+{pid}\s+│\s+shared", table.Stdout);
        Assert.Contains("journey-test 1", table.Stdout);
    }

    [Fact]
    public async Task Logs_TheDaemonsJsonLinesAndEachUpstreamsStderr_SecretsMasked_AndFollowSeesNewLines()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              raw: { compact_tools_enabled: false }
            upstreams:
              t:
                command: "{{Repo.TestUpstream}}"
                args: [--stderr, "hello from t's stderr", --print-env, T_SECRET]
                env_files: { T_SECRET: t.secret }
            """);
        var secretFile = Path.Combine(env.Root, "secrets", "t.secret");
        Directory.CreateDirectory(Path.GetDirectoryName(secretFile)!);
        await File.WriteAllTextAsync(secretFile, "s3cret-value-for-t");
        File.SetUnixFileMode(secretFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var client = await env.ConnectAsync("raw");
        var pid = await BrokerEnvironment.CallTextAsync(client, "t.pid", []);
        var stderrFile = Path.Combine(env.Root, "logs", "upstreams", "t.log");
        await Wait.UntilAsync(() => File.Exists(stderrFile) && File.ReadAllText(stderrFile).Contains("T_SECRET=", StringComparison.Ordinal), "t's stderr in its log file");

        var upstream = await env.RunCliAsync("logs", "--upstream", "t", "--config", env.ConfigPath);
        Assert.Equal(0, upstream.ExitCode);
        Assert.Contains($"[pid {pid}] hello from t's stderr", upstream.Stdout);
        Assert.Contains("T_SECRET=***", upstream.Stdout);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(stderrFile));

        var daemon = await env.RunCliAsync("logs", "--json", "--lines", "500", "--config", env.ConfigPath);
        var lines = daemon.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var starting = Assert.Single(lines, l => l.TryGetProperty("event", out var e) && e.GetInt32() == 100);
        Assert.Equal("info", starting.GetProperty("level").GetString());
        Assert.Equal("t", starting.GetProperty("name").GetString());
        Assert.Equal(int.Parse(pid), starting.GetProperty("pid").GetInt32());
        Assert.Contains($"Starting upstream t (pid {pid})", starting.GetProperty("message").GetString());
        var readable = await env.RunCliAsync("logs", "--config", env.ConfigPath);
        Assert.Matches($@"\d{{4}}-\d\d-\d\dT[\d:.]+Z INFO  UpstreamSupervisor: Starting upstream t \(pid {pid}\)", readable.Stdout);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(env.Root, "logs"), "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain("s3cret-value-for-t", await File.ReadAllTextAsync(file));
        }

        // --follow prints what is appended: a restarted upstream's stderr.
        var follow = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Repo.Cli)
        {
            ArgumentList = { "logs", "--follow", "--lines", "1", "--upstream", "t", "--config", env.ConfigPath },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        try
        {
            var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
            follow.OutputDataReceived += (_, e) => { if (e.Data is { } line) { seen.Enqueue(line); } };
            follow.BeginOutputReadLine();

            // The last line there is means it follows the file now: what the restart appends comes after.
            await Wait.UntilAsync(() => seen.Any(l => l.Contains($"[pid {pid}]", StringComparison.Ordinal)), "logs --follow to print the last line there is");
            Assert.Equal(0, (await env.RunCliAsync("upstream", "restart", "t", "--config", env.ConfigPath)).ExitCode);
            var newPid = await BrokerEnvironment.CallTextAsync(client, "t.pid", []);
            await Wait.UntilAsync(() => seen.Any(l => l.Contains($"[pid {newPid}] hello from t's stderr", StringComparison.Ordinal)), "logs --follow to print the new process's stderr");
        }
        finally
        {
            follow.Kill();
            await follow.WaitForExitAsync();
        }

        var unknown = await env.RunCliAsync("logs", "--upstream", "nope", "--config", env.ConfigPath);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no upstream named 'nope'", unknown.Stderr);
    }

    [Fact]
    public async Task Doctor_FindsAClientNotWiredToTheBroker_OrWiredWrong_AndFailsOnlyOnAProblem()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              default: {}
              raw: { compact_tools_enabled: false }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
            clients:
              claude: { format: claude-json, config_path: "{{root}}/home/.claude.json", profile: default }
            """);
        var clientFile = Path.Combine(env.Root, "home", ".claude.json");
        Directory.CreateDirectory(Path.GetDirectoryName(clientFile)!);
        await File.WriteAllTextAsync(clientFile, $$"""{ "mcpServers": { "t-direct": { "command": "{{Repo.TestUpstream}}", "args": [] } } }""");

        // Declared but not applied yet: the next step, not a problem.
        var missing = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Equal(0, missing.ExitCode);
        Assert.Contains($"TIP      client claude: {clientFile} has no 'mcp-broker' server entry; next: mcp-broker client apply claude", missing.Stdout);
        Assert.Contains("no problems found (1 tip(s) above)", missing.Stdout);
        Assert.Contains("ok       no daemon running", missing.Stdout);

        Assert.Equal(0, (await env.RunCliAsync("client", "apply", "claude", "--config", env.ConfigPath)).ExitCode);
        var duplicate = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Equal(0, duplicate.ExitCode);
        Assert.Contains("0 problem(s), 1 warning(s)", duplicate.Stdout);
        Assert.Contains("ok       client claude:", duplicate.Stdout);
        Assert.Contains("WARN     client claude: also runs 't-direct' itself, which the broker runs too", duplicate.Stdout);
        Assert.Contains("fix: mcp-broker client apply claude --remove-others", duplicate.Stdout);

        Assert.Equal(0, (await env.RunCliAsync("client", "apply", "claude", "--remove-others", "--config", env.ConfigPath)).ExitCode);
        var clean = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.True(clean.ExitCode == 0, clean.Stdout);
        Assert.Contains("no problems found", clean.Stdout);

        await File.WriteAllTextAsync(clientFile, (await File.ReadAllTextAsync(clientFile)).Replace("\"default\"", "\"raw\"", StringComparison.Ordinal));
        var wrong = await env.RunCliAsync("doctor", "--config", env.ConfigPath);
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("PROBLEM  client claude: the entry uses profile 'raw', the config says 'default'", wrong.Stdout);
    }

    [Fact]
    public async Task ProfileValidate_RunsEachUpstreamsSmokeProbeThroughTheShim_FailsOnAWrongProbe_AndSaysNotProbedWithoutOne()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              default: { upstreams: [t] }
              raw: { compact_tools_enabled: false, upstreams: [t] }
              all: { upstreams: [t, bare, wrong] }
              bare_only: { upstreams: [bare] }
            upstreams:
              t:
                command: "{{Repo.TestUpstream}}"
                smoke: { query: "echo a message back", tool: echo, arguments: { message: hi }, call: true }
              bare: { command: "{{Repo.TestUpstream}}", prefix: b }
              wrong:
                command: "{{Repo.TestUpstream}}"
                prefix: w
                smoke: { query: "echo a message", tool: echo, arguments: { message: 42 } }
            """);

        var compact = await env.RunCliAsync("profile", "validate", "default", "--config", env.ConfigPath);
        Assert.True(compact.ExitCode == 0, compact.Stdout + compact.Stderr);
        Assert.Matches(@"ok    t: t\.echo found at #\d+, arguments fit its schema, call succeeded", compact.Stdout);
        Assert.Contains("profile 'default': 1 upstream(s) pass their smoke probes", compact.Stdout);

        var raw = await env.RunCliAsync("profile", "validate", "raw", "--config", env.ConfigPath);
        Assert.True(raw.ExitCode == 0, raw.Stdout + raw.Stderr);
        Assert.Contains("ok    t: t.echo listed, arguments fit its schema, call succeeded", raw.Stdout);

        var all = await env.RunCliAsync("profile", "validate", "all", "--json", "--config", env.ConfigPath);
        Assert.Equal(1, all.ExitCode);
        var report = JsonDocument.Parse(all.Stdout).RootElement;
        Assert.False(report.GetProperty("ok").GetBoolean());
        var upstreams = report.GetProperty("upstreams").EnumerateArray().ToDictionary(u => u.GetProperty("upstream").GetString()!);
        Assert.True(upstreams["t"].GetProperty("ok").GetBoolean());
        // Without a probe an upstream is not probed, not failed (every imported upstream starts without one).
        Assert.True(upstreams["bare"].GetProperty("ok").GetBoolean());
        Assert.False(upstreams["bare"].GetProperty("probed").GetBoolean());
        Assert.Equal(7, upstreams["bare"].GetProperty("tools").GetInt32()); // the tools this profile sees of it
        Assert.Equal("arguments", upstreams["wrong"].GetProperty("failed_step").GetString());
        Assert.Contains("do not fit w.echo's input schema", upstreams["wrong"].GetProperty("error").GetString());
        Assert.Equal("running", upstreams["t"].GetProperty("state").GetString());

        var unknown = await env.RunCliAsync("profile", "validate", "nope", "--config", env.ConfigPath);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no profile named 'nope'", unknown.Stderr);

        var unprobed = await env.RunCliAsync("profile", "validate", "bare_only", "--config", env.ConfigPath);
        Assert.True(unprobed.ExitCode == 0, unprobed.Stdout + unprobed.Stderr);
        Assert.Contains("--    bare: not probed (7 tool(s) listed); add upstreams.bare.smoke: {query, tool, arguments}", unprobed.Stdout);
        Assert.Contains("profile 'bare_only': 0 upstream(s) pass their smoke probes (1 without a smoke probe, not probed)", unprobed.Stdout);

        // Parity: the compact and the raw profile list different tools, and their probes agree (the same call, the same answer).
        var parity = await env.RunCliAsync("profile", "parity", "default", "raw", "--config", env.ConfigPath);
        Assert.True(parity.ExitCode == 0, parity.Stdout + parity.Stderr);
        Assert.Matches(@"tools/list: 'default' lists 4, 'raw' lists \d+", parity.Stdout);
        Assert.Contains("only in 'default': broker.search_tools, broker.describe_tool, broker.call_tool, broker.status", parity.Stdout);
        Assert.Matches(@"same   t: 'default' ok \(#\d+\), call returned echo: hi; 'raw' ok, call returned echo: hi", parity.Stdout);
        var differs = await env.RunCliAsync("profile", "parity", "default", "all", "--json", "--config", env.ConfigPath);
        Assert.Equal(1, differs.ExitCode);
        var rows = JsonDocument.Parse(differs.Stdout).RootElement.GetProperty("upstreams").EnumerateArray().ToDictionary(u => u.GetProperty("upstream").GetString()!);
        Assert.True(rows["t"].GetProperty("same").GetBoolean());
        Assert.False(rows["bare"].GetProperty("same").GetBoolean());
        Assert.Equal(JsonValueKind.Null, rows["bare"].GetProperty("default").ValueKind);
    }

    [Fact]
    public async Task HotReload_AppliesAValidChangeByDifference_RefusesAnInvalidOne_AndSessionsStayConnected()
    {
        string Config(string root, string uArgs, string extra) =>
            BrokerEnvironment.TestUpstreamConfig(root, $"  u: {{ command: \"{Repo.TestUpstream}\", args: [{uArgs}] }}\n{extra}");
        await using var env = await BrokerEnvironment.CreateAsync(root => Config(root, "", ""));
        var client = await env.ConnectAsync("raw");
        var listChanged = 0;
        await using var onChanged = client.RegisterNotificationHandler(ModelContextProtocol.Protocol.NotificationMethods.ToolListChangedNotification,
            (_, _) => { Interlocked.Increment(ref listChanged); return ValueTask.CompletedTask; });
        var tPid = await BrokerEnvironment.CallTextAsync(client, "t.pid", []);
        var uPid = await BrokerEnvironment.CallTextAsync(client, "u.pid", []);
        Assert.DoesNotContain("v.echo", (await client.ListToolsAsync()).Select(t => t.Name));
        async Task<JsonElement> ConfigStatusAsync() =>
            JsonDocument.Parse((await env.RunCliAsync("status", "--json", "--config", env.ConfigPath)).Stdout).RootElement.GetProperty("config").Clone();

        // A valid change, saved the way editors do (a new file renamed over the old): u changes, v is added, t is left alone.
        async Task SaveAsync(string text)
        {
            var temp = env.ConfigPath + ".new";
            await File.WriteAllTextAsync(temp, text);
            File.Move(temp, env.ConfigPath, overwrite: true);
        }

        await SaveAsync(Config(env.Root, "--stderr, changed", "  v: { command: \"" + Repo.TestUpstream + "\" }"));
        await Wait.UntilAsync(async () => (await ConfigStatusAsync()).GetProperty("version").GetInt32() == 2, "the daemon to apply the changed config");
        Assert.Equal(tPid, await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
        Assert.NotEqual(uPid, await BrokerEnvironment.CallTextAsync(client, "u.pid", []));
        Assert.Equal("echo: new", await BrokerEnvironment.CallTextAsync(client, "v.echo", new() { ["message"] = "new" }));
        await Wait.UntilAsync(() => Volatile.Read(ref listChanged) > 0, "the raw session to be told its tool list changed");
        Assert.Contains("v.echo", (await client.ListToolsAsync()).Select(t => t.Name));
        var log = await env.RunCliAsync("logs", "--config", env.ConfigPath);
        Assert.Contains("restarted u; added v", log.Stdout);

        // An invalid change is refused: errors in status (and the log), the last good config serves on.
        await SaveAsync(Config(env.Root, "", "  w: { command: \"" + Repo.TestUpstream + "\", mode: sometimes }"));
        await Wait.UntilAsync(async () => (await ConfigStatusAsync()).TryGetProperty("rejected", out var r) && r.ValueKind == JsonValueKind.Object, "the invalid change to be refused");
        var refused = await ConfigStatusAsync();
        Assert.Equal(2, refused.GetProperty("version").GetInt32());
        Assert.Contains(refused.GetProperty("rejected").GetProperty("errors").EnumerateArray(), e => e.GetString()!.Contains("upstreams.w.mode", StringComparison.Ordinal));
        Assert.Equal("echo: still", await BrokerEnvironment.CallTextAsync(client, "v.echo", new() { ["message"] = "still" }));
        var reload = await env.RunCliAsync("daemon", "reload", "--config", env.ConfigPath);
        Assert.Equal(1, reload.ExitCode);
        Assert.Contains("the daemon keeps the last good one", reload.Stderr);
        Assert.Contains("upstreams.w.mode", reload.Stderr);

        // Fixed, and asked for with SIGHUP: applied; v is removed, its process stopped.
        var vPid = int.Parse(await BrokerEnvironment.CallTextAsync(client, "v.pid", []));
        await File.WriteAllTextAsync(env.ConfigPath, Config(env.Root, "--stderr, changed", ""));
        Assert.Equal(0, Processes.Kill(env.DaemonPid!.Value, 1));
        await Wait.UntilAsync(async () => (await ConfigStatusAsync()) is var c && c.GetProperty("version").GetInt32() >= 3
            && c.GetProperty("rejected").ValueKind == JsonValueKind.Null, "the fixed config to be applied");
        await Wait.UntilAsync(() => Processes.Get(vPid) is null, "the removed upstream's process to stop");
        Assert.Equal(tPid, await BrokerEnvironment.CallTextAsync(client, "t.pid", []));
        var gone = await client.CallToolAsync("v.echo", new Dictionary<string, object?> { ["message"] = "gone?" });
        Assert.Equal("unknown_tool", BrokerEnvironment.ErrorOf(gone).GetProperty("code").GetString());

        // A file that is not even YAML names no runtime root: status still finds the daemon, through the socket
        // path the daemon keeps for its config.
        await SaveAsync("upstreams: [unclosed\n");
        await Wait.UntilAsync(async () => (await ConfigStatusAsync()).GetProperty("rejected").ValueKind == JsonValueKind.Object, "the unreadable file to be refused");
        var unreadable = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        Assert.Equal(0, unreadable.ExitCode);
        Assert.Contains("warning", unreadable.Stderr);

        // A deleted profile: its connected session stays, but reaches no upstream any more.
        await SaveAsync(Config(env.Root, "--stderr, changed", "").Replace("  raw: { compact_tools_enabled: false }", "  other: { compact_tools_enabled: false }", StringComparison.Ordinal));
        await Wait.UntilAsync(async () => (await ConfigStatusAsync()) is var c && c.GetProperty("rejected").ValueKind == JsonValueKind.Null
            && c.GetProperty("version").GetInt32() >= 4, "the change that deletes the profile to be applied");
        var cut = await client.CallToolAsync("t.pid", new Dictionary<string, object?>());
        Assert.Equal("unknown_tool", BrokerEnvironment.ErrorOf(cut).GetProperty("code").GetString());
    }

    [Fact]
    public async Task ToolsWarm_FillsTheCatalogBeforeAnySession_PerProfile_AndNamesTheUpstreamThatCannotBeListed()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              default: { upstreams: [t] }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
              broken: { command: "{{Repo.TestUpstream}}", args: [--exit-at-start, "7"] }
              off: { command: "{{Repo.TestUpstream}}", mode: disabled }
            """);
        async Task<Dictionary<string, JsonElement>> UpstreamsAsync() =>
            JsonDocument.Parse((await env.RunCliAsync("status", "--json", "--config", env.ConfigPath)).Stdout).RootElement
                .GetProperty("upstreams").EnumerateArray().ToDictionary(u => u.GetProperty("name").GetString()!, u => u.Clone());

        // One profile: only what it sees is started and listed, with no client connected.
        var one = await env.RunCliAsync("tools", "warm", "--profile", "default", "--config", env.ConfigPath);
        Assert.True(one.ExitCode == 0, one.Stdout + one.Stderr);
        var upstreams = await UpstreamsAsync();
        var tools = upstreams["t"].GetProperty("tools").GetInt32();
        Assert.True(tools > 0);
        Assert.Equal("running", upstreams["t"].GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, upstreams["broken"].GetProperty("tools").ValueKind);
        Assert.Equal("stopped", upstreams["broken"].GetProperty("state").GetString());
        Assert.Contains($"t: {tools} tool(s)", one.Stdout);
        Assert.Contains("1 of 1 upstream(s) listed", one.Stdout);
        Assert.Single(upstreams["t"].GetProperty("pids").EnumerateArray());

        // Every enabled upstream: the one that cannot start is named with its reason, and the exit says so.
        var all = await env.RunCliAsync("tools", "warm", "--json", "--config", env.ConfigPath);
        Assert.Equal(1, all.ExitCode);
        var outcome = JsonDocument.Parse(all.Stdout).RootElement.GetProperty("upstreams");
        Assert.Equal(tools, outcome.GetProperty("t").GetProperty("tools").GetInt32());
        Assert.Contains("broken", outcome.GetProperty("broken").GetProperty("error").GetString());
        Assert.False(outcome.TryGetProperty("off", out _));

        var unknown = await env.RunCliAsync("tools", "warm", "--profile", "nope", "--config", env.ConfigPath);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no profile named 'nope'", unknown.Stderr);
    }
}
