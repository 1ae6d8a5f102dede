using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Clients;

/// <summary>
/// <c>mcp-broker client …</c> on real files in a throwaway HOME, and proof by the real agent CLIs (pinned npm installs,
/// offline, no login) that what apply writes connects them to the broker.
/// </summary>
public sealed class ClientCommandsJourneyTests
{
    [Fact]
    public async Task ClientApply_RealAgentClients_EachConnectsThroughTheBroker()
    {
        await NpmClients.EnsureInstalledAsync();
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.DefaultConfig(root) + Clients(root));
        var home = Home(env);
        await File.WriteAllTextAsync(Path.Combine(home, ".claude.json"), """{ "numStartups": 3, "theme": "dark" }""");
        Directory.CreateDirectory(Path.Combine(home, ".gemini"));
        await File.WriteAllTextAsync(Path.Combine(home, ".gemini", "settings.json"), "{\n  // mine\n  \"theme\": \"GitHub\"\n}\n");
        Directory.CreateDirectory(Path.Combine(home, ".codex"));
        await File.WriteAllTextAsync(Path.Combine(home, ".codex", "config.toml"), "# mine\nmodel = \"gpt-5-codex\"\n");

        foreach (var client in new[] { "claude", "gemini", "opencode", "codex" })
        {
            var apply = await env.RunCliAsync("client", "apply", client, "--config", env.ConfigPath);
            Assert.True(apply.ExitCode == 0, $"apply {client}: {apply.Stdout}{apply.Stderr}");
        }

        var claude = await env.RunAsync(NpmClients.Bin("claude"), ["mcp", "list"], stdin: null);
        Assert.Matches(@"mcp-broker: .*mcp-broker-client --profile default --client claude-code .* - ✔ Connected", claude.Stdout);
        // Kept loaded: Claude Code takes the entry with its server-level alwaysLoad (it drops one whose alwaysLoad is not a boolean).
        Assert.True((bool)JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(home, ".claude.json")))!["mcpServers"]!["mcp-broker"]!["alwaysLoad"]!);

        env.ExtraEnvironment["GEMINI_CLI_TRUST_WORKSPACE"] = "true";
        var gemini = await env.RunAsync(NpmClients.Bin("gemini"), ["mcp", "list"], stdin: null);
        Assert.Matches(@"mcp-broker: .*--client gemini .*\(stdio\) - Connected", gemini.Stdout + gemini.Stderr);

        var opencode = await env.RunAsync(NpmClients.Bin("opencode"), ["mcp", "list"], stdin: null);
        Assert.Matches(@"✓ mcp-broker \S*connected", opencode.Stdout + opencode.Stderr);

        var (tools, search) = await CodexAppServerAsync(env);
        Assert.Contains("broker.search_tools", tools);
        Assert.Contains("broker.call_tool", tools);
        Assert.Contains("memory.search_nodes", search);

        // Their own settings stayed; the broker is one more server.
        Assert.Contains("\"numStartups\"", await File.ReadAllTextAsync(Path.Combine(home, ".claude.json")));
        Assert.StartsWith("{\n  // mine\n  \"theme\": \"GitHub\",\n", await File.ReadAllTextAsync(Path.Combine(home, ".gemini", "settings.json")));
        Assert.StartsWith("# mine\nmodel = \"gpt-5-codex\"\n\n[mcp_servers.mcp-broker]\n", await File.ReadAllTextAsync(Path.Combine(home, ".codex", "config.toml")));

        // The raw exposure: Codex lists the namespaced upstream tools themselves (the shim's --view raw), and a later
        // apply without --exposure keeps what the entry says.
        var raw = await env.RunCliAsync("client", "apply", "codex", "--exposure", "raw", "--config", env.ConfigPath);
        Assert.True(raw.ExitCode == 0, raw.Stdout + raw.Stderr);
        Assert.Contains("exposure: raw (--exposure raw)", raw.Stdout, StringComparison.Ordinal);
        var (rawTools, _) = await CodexAppServerAsync(env, search: false);
        Assert.Contains("memory.search_nodes", rawTools);
        Assert.DoesNotContain("broker.search_tools", rawTools);
        var again = await env.RunCliAsync("client", "apply", "codex", "--config", env.ConfigPath);
        Assert.Contains("exposure: raw (Codex's entry already says --view raw", again.Stdout, StringComparison.Ordinal);
        Assert.Contains("up to date", again.Stdout, StringComparison.Ordinal);
        await env.StopDaemonAndAssertNothingLeftAsync();
    }

    [Fact]
    public async Task ClientApply_WithoutClientsSection_CopilotAndQwenReadTheirEntry_AndDetectListsThem()
    {
        await NpmClients.EnsureInstalledAsync();
        await using var env = await BrokerEnvironment.CreateAsync();
        var home = Home(env);
        Directory.CreateDirectory(Path.Combine(home, ".qwen"));
        await File.WriteAllTextAsync(Path.Combine(home, ".qwen", "settings.json"), "{\n  // mine\n  \"model\": { \"name\": \"qwen3-coder-plus\" }\n}\n");
        env.ExtraEnvironment["PATH"] = Path.Combine(NpmClients.Dir, "node_modules", ".bin") + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");

        var before = await env.RunCliAsync("client", "detect", "--config", env.ConfigPath);
        Assert.Matches(@"\n  qwen +Qwen Code +~/\.qwen/settings\.json: not wired\n", before.Stdout);
        Assert.Matches(@"\n  copilot +GitHub Copilot CLI +~/\.copilot/mcp-config\.json: not found \(apply creates it\)\n", before.Stdout);
        Assert.Matches(@"not found: .*\bzed\b", before.Stdout);

        foreach (var client in new[] { "copilot", "qwen" })
        {
            var apply = await env.RunCliAsync("client", "apply", client, "--config", env.ConfigPath);
            Assert.True(apply.ExitCode == 0, $"apply {client}: {apply.Stdout}{apply.Stderr}");
        }

        var copilot = await RunClientAsync(env, "copilot", "mcp", "get", "mcp-broker");
        Assert.Matches(@"Type: local\s+Command: \S*mcp-broker-client --profile default --client copilot-cli", copilot);
        // Copilot keeps the facade out of its tool search: it reads the setting back (it drops an entry whose value it does not know).
        var copilotJson = JsonNode.Parse(await RunClientAsync(env, "copilot", "mcp", "get", "mcp-broker", "--json"))!;
        Assert.Equal("never", (string?)copilotJson["mcp-broker"]!["deferTools"]);
        var qwen = await RunClientAsync(env, "qwen", "mcp", "list");
        Assert.Matches(@"mcp-broker: .*--client qwen-code .*\(stdio\) - Connected", qwen);
        Assert.StartsWith("{\n  // mine\n", await File.ReadAllTextAsync(Path.Combine(home, ".qwen", "settings.json")));

        var after = await env.RunCliAsync("client", "detect", "--json", "--config", env.ConfigPath);
        var detected = JsonNode.Parse(after.Stdout)!.AsArray().ToDictionary(c => (string)c!["name"]!, c => c!);
        Assert.True((bool)detected["qwen"]!["wired"]!);
        Assert.True((bool)detected["copilot"]!["wired"]!);
        Assert.Equal(Path.Combine(home, ".copilot", "mcp-config.json"), (string?)detected["copilot"]!["config_path"]);
        Assert.False((bool)detected["goose"]!["installed"]!);
        Assert.Equal(25, detected.Count);
        await env.StopDaemonAndAssertNothingLeftAsync();
    }

    [Fact]
    public async Task ClientApplyAndRollback_RestoreByteForByte_RemoveANewFile_AndKeepModeAndSymlink()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.DefaultConfig(root) + Clients(root));
        var home = Home(env);
        var dotfiles = Directory.CreateDirectory(Path.Combine(env.Root, "dotfiles")).FullName;
        var real = Path.Combine(dotfiles, "claude.json");
        var original = "{\r\n\t\"theme\": \"dark\", // CRLF, tabs, a comment\r\n\t\"mcpServers\": {\r\n\t\t\"x\": { \"command\": \"/bin/x\" }\r\n\t}\r\n}\r\n"u8.ToArray();
        await File.WriteAllBytesAsync(real, original);
        File.SetUnixFileMode(real, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        File.CreateSymbolicLink(Path.Combine(home, ".claude.json"), real);

        var render = await env.RunCliAsync("client", "render", "claude", "--config", env.ConfigPath);
        Assert.Equal(0, render.ExitCode);
        Assert.Contains("+\t\t\"mcp-broker\": {", render.Stdout);
        Assert.Equal(original, await File.ReadAllBytesAsync(real));
        var rendered = await File.ReadAllBytesAsync(Path.Combine(env.Root, "renders", "claude", ".claude.json"));

        var apply = await env.RunCliAsync("client", "apply", "claude", "--config", env.ConfigPath);
        Assert.True(apply.ExitCode == 0, apply.Stderr);
        Assert.Equal(rendered, await File.ReadAllBytesAsync(real));
        Assert.NotNull(new FileInfo(Path.Combine(home, ".claude.json")).LinkTarget);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(real));
        var again = await env.RunCliAsync("client", "apply", "claude", "--config", env.ConfigPath);
        Assert.Contains("up to date; nothing written", again.Stdout);

        var rollback = await env.RunCliAsync("client", "rollback", "claude", "--config", env.ConfigPath);
        Assert.True(rollback.ExitCode == 0, rollback.Stderr);
        Assert.Equal(original, await File.ReadAllBytesAsync(real));
        Assert.NotNull(new FileInfo(Path.Combine(home, ".claude.json")).LinkTarget);
        var backups = await env.RunCliAsync("client", "backups", "claude", "--config", env.ConfigPath);
        Assert.Contains("before apply", backups.Stdout);
        Assert.Contains("before rollback", backups.Stdout);
        foreach (var file in Directory.GetFiles(Path.Combine(env.Root, "backups", "clients", "claude")))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }

        // A client whose file did not exist: apply creates it, rollback removes it again.
        var cursor = Path.Combine(home, ".cursor", "mcp.json");
        Assert.Equal(0, (await env.RunCliAsync("client", "apply", "cursor", "--config", env.ConfigPath)).ExitCode);
        Assert.True(File.Exists(cursor));
        Assert.Equal(0, (await env.RunCliAsync("client", "rollback", "cursor", "--config", env.ConfigPath)).ExitCode);
        Assert.False(File.Exists(cursor));

        var unknown = await env.RunCliAsync("client", "rollback", "claude", "--to", "20000101T000000000Z", "--config", env.ConfigPath);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no backup '20000101T000000000Z'", unknown.Stderr);
    }

    [Fact]
    public async Task ClientApply_FileItCannotParse_FailsClearly_AndChangesNothing()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.DefaultConfig(root) + Clients(root));
        var home = Home(env);
        var path = Path.Combine(home, ".claude.json");
        await File.WriteAllTextAsync(path, "{ \"mcpServers\": { \"a\": ");

        var apply = await env.RunCliAsync("client", "apply", "claude", "--config", env.ConfigPath);
        var missing = await env.RunCliAsync("client", "apply", "nobody", "--config", env.ConfigPath);

        Assert.Equal(1, apply.ExitCode);
        Assert.Contains($"mcp-broker: {path}: not valid JSON", apply.Stderr);
        Assert.Equal("{ \"mcpServers\": { \"a\": ", await File.ReadAllTextAsync(path));
        Assert.False(Directory.Exists(Path.Combine(env.Root, "backups")), "a failed apply backs nothing up");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no client named 'nobody'", missing.Stderr);
        Assert.Contains("claude, codex, cursor, gemini, opencode", missing.Stderr);
    }

    [Fact]
    public async Task ClientImport_ThenApplyRemoveOthers_MovesServersIntoTheBroker_WithoutCopyingSecrets()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.DefaultConfig(root) + Clients(root));
        var home = Home(env);
        var secret = "ghp_" + new string('Q', 36);
        var memory = Repo.NodeBin("mcp-server-memory");
        var thinking = Repo.NodeBin("mcp-server-sequential-thinking");
        await File.WriteAllTextAsync(Path.Combine(home, ".claude.json"), $$"""
            {
              "mcpServers": {
                "memory": { "command": "{{memory}}", "args": [] },
                "thinking": { "command": "{{thinking}}", "env": { "GITHUB_TOKEN": "{{secret}}", "LEVEL": "info" } },
                "remote": { "type": "http", "url": "http://127.0.0.1:9/mcp" }
              }
            }
            """);
        Directory.CreateDirectory(Path.Combine(home, ".codex"));
        await File.WriteAllTextAsync(Path.Combine(home, ".codex", "config.toml"), $"[mcp_servers.think]\ncommand = \"{thinking}\"\n");
        var configBefore = await File.ReadAllTextAsync(env.ConfigPath);

        var claude = await env.RunCliAsync("client", "import", "claude", "--config", env.ConfigPath);
        var codex = await env.RunCliAsync("client", "import", "codex", "--config", env.ConfigPath);

        Assert.True(claude.ExitCode == 0, claude.Stderr);
        Assert.Contains("memory: already an upstream ('memory')", claude.Stdout);
        Assert.Contains("thinking: added as upstream 'thinking'", claude.Stdout);
        Assert.Contains("GITHUB_TOKEN looked like a secret and was not copied", claude.Stdout);
        Assert.Contains("remote: added as upstream 'remote'", claude.Stdout);
        Assert.Contains("think: already an upstream ('thinking')", codex.Stdout);
        var config = await File.ReadAllTextAsync(env.ConfigPath);
        var split = configBefore.IndexOf("\nclients:", StringComparison.Ordinal);
        Assert.StartsWith(configBefore[..split], config);
        Assert.EndsWith(configBefore[split..], config);
        Assert.DoesNotContain(secret, config);
        Assert.DoesNotContain(secret, claude.Stdout + claude.Stderr);
        Assert.Equal(0, (await env.RunCliAsync("config", "validate", "--config", env.ConfigPath)).ExitCode);
        var configBackups = Directory.GetFiles(Path.Combine(env.Root, "backups", "config"), "*.bak");
        Assert.Contains(configBackups, f => File.ReadAllText(f) == configBefore);

        // Its credential is not in the environment a daemon would start with yet: the client keeps that server, and says why.
        var early = await env.RunCliAsync("client", "apply", "claude", "--remove-others", "--config", env.ConfigPath);
        Assert.True(early.ExitCode == 0, early.Stderr);
        Assert.Contains("removed memory, remote (the broker runs them now)", early.Stdout);
        Assert.Contains("kept thinking: upstream 'thinking' cannot start yet: $GITHUB_TOKEN is not set in this shell's environment", early.Stdout);
        Assert.Contains("\"thinking\"", await File.ReadAllTextAsync(Path.Combine(home, ".claude.json")));

        env.ExtraEnvironment["GITHUB_TOKEN"] = "value-from-the-daemon-environment";
        var apply = await env.RunCliAsync("client", "apply", "claude", "--remove-others", "--config", env.ConfigPath);
        Assert.True(apply.ExitCode == 0, apply.Stderr);
        Assert.Contains("removed thinking", apply.Stdout);
        Assert.Matches(@"\n-\s+""thinking"": \{ ""command"":", apply.Stdout);
        Assert.DoesNotContain(secret, apply.Stdout + apply.Stderr);
        Assert.True(apply.Stdout.Contains("\"GITHUB_TOKEN\": \"***\"", StringComparison.Ordinal), apply.Stdout);
        var servers = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(home, ".claude.json")))!["mcpServers"]!.AsObject();
        Assert.Equal(["mcp-broker"], servers.Select(s => s.Key));

        // The moved server answers through the broker, its secret where the import note said to put it.
        var session = await env.ConnectAsync("default");
        var found = await BrokerEnvironment.CallJsonAsync(session, "broker.search_tools", new() { ["query"] = "sequential thinking" });
        Assert.True(found.ToString().Contains("thinking.sequentialthinking", StringComparison.Ordinal), found.ToString());
    }

    [Fact]
    public async Task ClientRemove_AfterRealClientsRewroteTheirFiles_KeepsAllTheyWrote_AndRollbackRefusesWithoutForce()
    {
        await NpmClients.EnsureInstalledAsync();
        // No clients: section at all: each client is wired to its usual file under HOME, with the default profile.
        await using var env = await BrokerEnvironment.CreateAsync();
        var home = Home(env);
        env.ExtraEnvironment["GEMINI_CLI_TRUST_WORKSPACE"] = "true";
        var memory = Repo.NodeBin("mcp-server-memory");
        var claudeFile = Path.Combine(home, ".claude.json");
        await File.WriteAllTextAsync(claudeFile, $$"""{ "numStartups": 3, "mcpServers": { "memory": { "command": "{{memory}}", "args": [] } } }""");
        Directory.CreateDirectory(Path.Combine(home, ".gemini"));
        var geminiFile = Path.Combine(home, ".gemini", "settings.json");
        await File.WriteAllTextAsync(geminiFile, "{\n  // mine\n  \"theme\": \"GitHub\"\n}\n");
        var copilotFile = Path.Combine(home, ".copilot", "mcp-config.json");

        Assert.Equal(0, (await env.RunCliAsync("client", "apply", "claude", "--remove-others", "--config", env.ConfigPath)).ExitCode);
        Assert.Equal(0, (await env.RunCliAsync("client", "apply", "gemini", "--config", env.ConfigPath)).ExitCode);
        Assert.Equal(0, (await env.RunCliAsync("client", "apply", "copilot", "--config", env.ConfigPath)).ExitCode);
        Assert.DoesNotContain("\"memory\"", await File.ReadAllTextAsync(claudeFile));

        // Each client rewrites its own file: a server of its own (and Claude its ids and migration state).
        await RunClientAsync(env, "claude", "mcp", "add", "mine", "-s", "user", "--", "/bin/echo", "hi");
        await RunClientAsync(env, "gemini", "mcp", "add", "-s", "user", "mine", "/bin/echo", "hi");
        await RunClientAsync(env, "copilot", "mcp", "add", "mine", "--", "/bin/echo", "hi");
        var claudeNow = await File.ReadAllTextAsync(claudeFile);
        Assert.Contains("\"mine\"", claudeNow);

        var refused = await env.RunCliAsync("client", "rollback", "claude", "--config", env.ConfigPath);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("changed since mcp-broker wrote it", refused.Stderr);
        Assert.Contains("mcpServers.mine (added)", refused.Stderr);
        Assert.Contains("'mcp-broker client remove claude'", refused.Stderr);
        Assert.Equal(claudeNow, await File.ReadAllTextAsync(claudeFile));

        foreach (var (client, file) in new[] { ("claude", claudeFile), ("gemini", geminiFile), ("copilot", copilotFile) })
        {
            var before = JsonNode.Parse(await File.ReadAllTextAsync(file), documentOptions: new() { CommentHandling = JsonCommentHandling.Skip })!.AsObject();
            var remove = await env.RunCliAsync("client", "remove", client, "--config", env.ConfigPath);
            Assert.True(remove.ExitCode == 0, $"remove {client}: {remove.Stdout}{remove.Stderr}");
            var after = JsonNode.Parse(await File.ReadAllTextAsync(file), documentOptions: new() { CommentHandling = JsonCommentHandling.Skip })!.AsObject();
            var servers = after["mcpServers"]!.AsObject();
            Assert.False(servers.ContainsKey("mcp-broker"), $"{client} still has the broker's entry");
            Assert.True(servers.ContainsKey("mine"), $"{client} lost the server it added itself");

            // Every other key the client wrote is still there, value for value.
            foreach (var (key, value) in before.Where(p => p.Key != "mcpServers"))
            {
                Assert.True(JsonNode.DeepEquals(value, after[key]), $"{client}: {key} changed");
            }
        }

        // The server 'apply --remove-others' took out of Claude's file is back, as it was; Gemini's comment stayed.
        var claude = JsonNode.Parse(await File.ReadAllTextAsync(claudeFile))!;
        Assert.Equal(memory, (string?)claude["mcpServers"]!["memory"]!["command"]);
        Assert.StartsWith("{\n  // mine\n", await File.ReadAllTextAsync(geminiFile));
        var list = await RunClientAsync(env, "claude", "mcp", "list");
        Assert.DoesNotContain("mcp-broker", list);
        Assert.Contains("mine", list);

        var again = await env.RunCliAsync("client", "remove", "claude", "--config", env.ConfigPath);
        Assert.Contains("nothing written", again.Stdout);
    }

    [Fact]
    public async Task ClientRollback_FileChangedByHand_NamesWhatItWouldDiscard_ForceRestoresAndKeepsACopy()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        var home = Home(env);
        var cursor = Path.Combine(home, ".cursor", "mcp.json");
        Directory.CreateDirectory(Path.GetDirectoryName(cursor)!);
        var original = "{ \"mcpServers\": {} }\n";
        await File.WriteAllTextAsync(cursor, original);
        Assert.Equal(0, (await env.RunCliAsync("client", "apply", "cursor", "--config", env.ConfigPath)).ExitCode);
        var edited = (await File.ReadAllTextAsync(cursor)).Replace("{ \"mcpServers\"", "{ \"editor\": 1, \"mcpServers\"", StringComparison.Ordinal);
        await File.WriteAllTextAsync(cursor, edited);

        var refused = await env.RunCliAsync("client", "rollback", "cursor", "--config", env.ConfigPath);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("would discard what was written since: editor (added)", refused.Stderr);
        Assert.Equal(edited, await File.ReadAllTextAsync(cursor));

        var forced = await env.RunCliAsync("client", "rollback", "cursor", "--force", "--config", env.ConfigPath);
        Assert.True(forced.ExitCode == 0, forced.Stderr);
        Assert.Contains("--force: discarding what was written since", forced.Stdout);
        Assert.Equal(original, await File.ReadAllTextAsync(cursor));
        var copies = Directory.GetFiles(Path.Combine(env.Root, "backups", "clients", "cursor"), "*.bak");
        Assert.Contains(copies, f => File.ReadAllText(f) == edited);

        // The rollback's own write is recorded too: nothing changed since, so the next one goes ahead without --force.
        Assert.Equal(0, (await env.RunCliAsync("client", "rollback", "cursor", "--config", env.ConfigPath)).ExitCode);
    }

    [Fact]
    public async Task UpstreamArgs_SecretReference_FilledInAtStart_NeverInConfigShow()
    {
        // The test upstream reads its echo tool's description from the file named in its arguments; the file's name is
        // the "secret", in a host variable the daemon has and the config only names.
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root, $$"""
              s:
                command: "{{Repo.TestUpstream}}"
                args: [--describe-from, "{{root}}/${DESCRIPTION_FILE}"]
                env_from: { DESCRIPTION_FILE: MB_TEST_DESCRIPTION_FILE }
            """));
        await File.WriteAllTextAsync(Path.Combine(env.Root, "secret-name.txt"), "described through a secret argument");
        env.ExtraEnvironment["MB_TEST_DESCRIPTION_FILE"] = "secret-name.txt";

        var show = await env.RunCliAsync("config", "show", "--config", env.ConfigPath);
        Assert.True(show.ExitCode == 0, show.Stderr);
        Assert.Contains("${DESCRIPTION_FILE}", show.Stdout);
        Assert.DoesNotContain("secret-name", show.Stdout);

        var session = await env.ConnectAsync("raw");
        var tools = await session.ListToolsAsync();
        Assert.Equal("described through a secret argument", tools.Single(t => t.Name == "s.echo").Description);
    }

    [Theory]
    [InlineData("2025-11-25")]
    [InlineData(null)]
    public async Task Session_LabelledByItsClientInfo_NotByTheFormatItWasWiredWith(string? protocolVersion)
    {
        // Qwen Code wired with a Gemini-format entry (--client gemini), under the session era (clientInfo in initialize)
        // and the stateless one (clientInfo in each request's _meta; the SDK's default).
        await using var env = await BrokerEnvironment.CreateAsync(r => BrokerEnvironment.TestUpstreamConfig(r));
        await using var qwen = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = Repo.Shim,
            Arguments = ["--profile", "raw", "--config", env.ConfigPath, "--client", "gemini"],
            EnvironmentVariables = env.ProcessEnvironment,
        }), new McpClientOptions { ClientInfo = new Implementation { Name = "qwen-code", Version = "0.24.4" }, ProtocolVersion = protocolVersion });
        await BrokerEnvironment.CallTextAsync(qwen, "t.pid", []);

        var run = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        var status = JsonDocument.Parse(run.Stdout).RootElement;
        var session = Assert.Single(status.GetProperty("sessions").EnumerateArray());
        Assert.Equal("qwen-code", session.GetProperty("client").GetString());
        Assert.Equal("qwen-code 0.24.4", session.GetProperty("client_info").GetString());
        Assert.Equal("gemini", session.GetProperty("wired_as").GetString());
        var call = Assert.Single(status.GetProperty("recent_calls").EnumerateArray());
        Assert.Equal("qwen-code", call.GetProperty("client").GetString());
        var text = await env.RunCliAsync("status", "--table", "--config", env.ConfigPath);
        Assert.Contains("qwen-code 0.24.4", text.Stdout);
        // Only the daemon's environment line may say which shim started it ("mcp-broker-client --client gemini").
        Assert.DoesNotContain(text.Stdout.Split('\n'), line => line.Contains("gemini", StringComparison.Ordinal) && !line.StartsWith("upstream environment:", StringComparison.Ordinal));
    }

    /// <summary>Runs a pinned agent CLI in the test's HOME to its end; its output, or a failure with it.</summary>
    private static async Task<string> RunClientAsync(BrokerEnvironment env, string client, params string[] args)
    {
        var result = await env.RunAsync(NpmClients.Bin(client), args, stdin: null);
        Assert.True(result.ExitCode == 0, $"{client} {string.Join(' ', args)}: {result.Stdout}{result.Stderr}");
        return result.Stdout + result.Stderr;
    }

    /// <summary>Every client in a throwaway HOME (the environment's <c>home</c> folder, which the CLIs also get as HOME).</summary>
    private static string Clients(string root) => $$"""

        clients:
          claude: { format: claude-json, config_path: "{{root}}/home/.claude.json" }
          gemini: { format: gemini-settings, config_path: "{{root}}/home/.gemini/settings.json" }
          opencode: { format: opencode, config_path: "{{root}}/home/.config/opencode/opencode.json" }
          codex: { format: codex-toml, config_path: "{{root}}/home/.codex/config.toml" }
          cursor: { format: cursor, config_path: "{{root}}/home/.cursor/mcp.json" }
        """;

    private static string Home(BrokerEnvironment env)
    {
        var home = Directory.CreateDirectory(Path.Combine(env.Root, "home")).FullName;
        env.ExtraEnvironment["HOME"] = home;
        return home;
    }

    /// <summary>
    /// Codex's app-server over its JSON-RPC stdio: <c>mcpServerStatus/list</c> (the broker's tools as Codex sees them)
    /// and <c>mcpServer/tool/call</c> of the search tool in a new thread — no model is involved in either.
    /// </summary>
    private static async Task<(string Tools, string Search)> CodexAppServerAsync(BrokerEnvironment env, bool search = true)
    {
        var start = new ProcessStartInfo(NpmClients.Bin("codex"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.Combine(env.Root, "home"),
        };
        start.ArgumentList.Add("app-server");
        env.ApplyEnvironment(start);

        using var codex = Process.Start(start)!;
        _ = codex.StandardError.ReadToEndAsync();
        var next = 0;
        async Task<JsonElement> RequestAsync(string method, object parameters)
        {
            var id = ++next;
            await codex.StandardInput.WriteLineAsync(JsonSerializer.Serialize(new { id, method, @params = parameters }));
            await codex.StandardInput.FlushAsync();
            while (await codex.StandardOutput.ReadLineAsync().WaitAsync(Wait.Timeout) is { } line)
            {
                var message = JsonDocument.Parse(line).RootElement;
                if (message.TryGetProperty("id", out var got) && got.ValueKind == JsonValueKind.Number && got.GetInt32() == id)
                {
                    Assert.False(message.TryGetProperty("error", out var error), $"{method}: {error}");
                    return message.GetProperty("result").Clone();
                }
            }

            throw new InvalidOperationException($"codex app-server closed its output before answering {method}");
        }

        try
        {
            await RequestAsync("initialize", new { clientInfo = new { name = "mcp-broker-tests", version = "1" } });
            await codex.StandardInput.WriteLineAsync("""{"method":"initialized"}""");
            var status = await RequestAsync("mcpServerStatus/list", new { });
            var broker = status.GetProperty("data").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "mcp-broker");
            if (!search)
            {
                return (broker.GetProperty("tools").ToString(), "");
            }

            var thread = await RequestAsync("thread/start", new { });
            var call = await RequestAsync("mcpServer/tool/call", new
            {
                threadId = thread.GetProperty("thread").GetProperty("id").GetString(),
                server = "mcp-broker",
                tool = "broker.search_tools",
                arguments = new { query = "search nodes in the knowledge graph" },
            });
            return (broker.GetProperty("tools").ToString(), call.ToString());
        }
        finally
        {
            codex.Kill(entireProcessTree: true);
            await codex.WaitForExitAsync();
        }
    }
}
