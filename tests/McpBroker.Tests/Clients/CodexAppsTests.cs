using System.Text;
using System.Text.Json.Nodes;
using McpBroker.Clients;
using McpBroker.Config;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Clients;

/// <summary>
/// Codex specifics: the hosted-app policy over fixture Codex files (made-up content in Codex's shapes), the multi-file
/// backups that undo it, the acceptance steps and Codex's model-visible tool names.
/// </summary>
public sealed class CodexAppsTests : IDisposable
{
    private const string CacheName = "8f14e45fceea167a5a36dedd4bea2543d1a1b7c3.json";
    private readonly string _root = Directory.CreateTempSubdirectory("mb-apps-").FullName;

    private string CodexHome => Path.Combine(_root, "home", ".codex");

    private string DirectoryFile => Path.Combine(CodexHome, "cache", "codex_app_directory", CacheName);

    private string ToolsFile => Path.Combine(CodexHome, "cache", "codex_apps_tools", CacheName);

    private string ConfigToml => Path.Combine(CodexHome, "config.toml");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void AppsPolicy_FixtureCodexHome_MatchesGoldens_CutsHostedTools_AndIsIdempotent()
    {
        WriteFixtures();
        var client = Codex(Policy).Clients["codex"];

        var plan = CodexApps.Plan(client, client.CodexAppsPolicy!);

        Assert.Equal([ConfigToml, DirectoryFile, ToolsFile], plan.Changes.Select(c => c.Path));
        Golden.AssertMatchesBytes("clients/codex-apps/config.applied.toml", plan.Changes[0].After);
        Golden.AssertMatchesBytes("clients/codex-apps/codex_app_directory.applied.json", plan.Changes[1].After);
        Golden.AssertMatchesBytes("clients/codex-apps/codex_apps_tools.applied.json", plan.Changes[2].After);
        Golden.AssertMatches("clients/codex-apps/apps-policy.txt", string.Join("\n", CodexApps.Describe(plan)).Replace(CodexHome, "$CODEX_HOME") + "\n");
        Assert.Equal((40, 18), (plan.Before.Tools, plan.After.Tools));
        Assert.True(plan.After.Tokens < plan.Before.Tokens / 2, $"{plan.Before.Tokens} -> {plan.After.Tokens}");

        // What is left: no GitHub or Linear tool, every other connector's tools unchanged and in order.
        var before = JsonNode.Parse(File.ReadAllBytes(ToolsFile))!["tools"]!.AsArray();
        var after = JsonNode.Parse(plan.Changes[2].After)!["tools"]!.AsArray();
        Assert.Equal(
            before.Where(t => t!["connector_name"]!.GetValue<string>() is not ("GitHub" or "Linear")).Select(t => t!.ToJsonString()),
            after.Select(t => t!.ToJsonString()));
        var directory = JsonNode.Parse(plan.Changes[1].After)!["connectors"]!.AsArray();
        Assert.Equal(["GitHub", "Linear"], directory.Where(c => !c!["isEnabled"]!.GetValue<bool>()).Select(c => c!["name"]!.GetValue<string>()));

        foreach (var change in plan.Changes)
        {
            File.WriteAllBytes(change.Path, change.After);
        }

        var again = CodexApps.Plan(client, client.CodexAppsPolicy!);
        Assert.Empty(again.Changes);
        Assert.Equal((18, 18), (again.Before.Tools, again.After.Tools));
    }

    [Fact]
    public void Apply_CodexRewritesACacheMeanwhile_PutsBackWhatItWrote_KeepsCodexsFile_AndDropsTheBackup()
    {
        WriteFixtures();
        var client = Codex(Policy).Clients["codex"];
        var originals = new[] { ConfigToml, DirectoryFile }.ToDictionary(p => p, File.ReadAllBytes);
        var plan = CodexApps.Plan(client, client.CodexAppsPolicy!);
        File.WriteAllText(ToolsFile, "{\"schema_version\": 4, \"tools\": []}"); // Codex refreshed its cache after the plan read it
        var files = new ClientFiles(Path.Combine(_root, "backups"), TimeProvider.System);

        var error = Assert.Throws<ClientConfigException>(() => CodexApps.Apply(plan, client, files));

        Assert.Contains($"{ToolsFile} changed while this command ran", error.Message);
        Assert.Contains("2 file(s) this command had already written were put back", error.Message);
        Assert.All(originals, o => Assert.Equal(o.Value, File.ReadAllBytes(o.Key)));
        Assert.Equal("{\"schema_version\": 4, \"tools\": []}", File.ReadAllText(ToolsFile));
        Assert.Empty(files.List());
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, "backups")));
    }

    [Fact]
    public void AppsPolicy_CacheFileNotJson_IsRefusedNamingTheFile()
    {
        WriteFixtures();
        File.WriteAllText(ToolsFile, "{ \"schema_version\": 4, \"tools\": [ ");
        var client = Codex(Policy).Clients["codex"];

        var error = Assert.Throws<ClientConfigException>(() => CodexApps.Plan(client, client.CodexAppsPolicy!));

        Assert.Contains(ToolsFile, error.Message);
        Assert.Contains("not valid JSON", error.Message);
    }

    [Theory]
    [InlineData("{\"schema_version\": 4, \"tools\": [\"github\"]}")]
    [InlineData("{\"schema_version\": 4, \"tools\": [{\"tool\": \"search\", \"connector_id\": \"x\"}, 7]}")]
    public void AppsPolicy_CacheEntryNotAnObject_IsRefusedNamingTheFile(string cache)
    {
        WriteFixtures();
        File.WriteAllText(ToolsFile, cache);
        var client = Codex(Policy).Clients["codex"];

        var error = Assert.Throws<ClientConfigException>(() => CodexApps.Plan(client, client.CodexAppsPolicy!));

        Assert.Contains($"{ToolsFile}: tools[", error.Message);
        Assert.Contains("is not an object", error.Message);
    }

    [Fact]
    public void AppsPolicy_NoCodexFiles_ChangesOnlyConfig_AndSaysWhichGlobsMatchedNothing()
    {
        Directory.CreateDirectory(CodexHome);
        var client = Codex(Policy).Clients["codex"];

        var plan = CodexApps.Plan(client, client.CodexAppsPolicy!);

        var change = Assert.Single(plan.Changes);
        Assert.Equal(ConfigToml, change.Path);
        Assert.Null(change.Before);
        Assert.Equal("[apps.connector_6a1f0c9e2b7d4e51a3c8f09b12de4477]\nenabled = false\n", Encoding.UTF8.GetString(change.After));
        Assert.Equal(0, plan.CacheFiles);
        Assert.Contains(plan.Notes, n => n.StartsWith($"no file matches {Path.Combine(CodexHome, "cache", "codex_apps_tools", "*.json")}", StringComparison.Ordinal));
        Assert.Contains(plan.Notes, n => n.StartsWith("linear matches no connector", StringComparison.Ordinal) && n.Contains("add its id", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_AppsPolicy_BadInput_ReportsEveryErrorWithItsPath()
    {
        var result = ConfigLoader.Load($$"""
            schema_version: 1
            runtime: { root: "{{_root}}/rt" }
            clients:
              codex:
                format: codex-toml
                config_path: "{{CodexHome}}/config.toml"
                codex_apps_policy:
                  app_directory: ["cache/*.json", "/x/*/dir/*.json"]
                  disable_connectors:
                    - { reason: "no id or name" }
                    - { name: GitHub, reason: " " }
              claude:
                format: claude-json
                config_path: "{{_root}}/claude.json"
                codex_apps_policy: { disable_connectors: [] }
            """, Path.Combine(_root, "broker.yaml"));

        var errors = result.Errors.Select(e => e.ToString()).ToList();
        Assert.False(result.IsValid);
        Assert.Contains(errors, e => e.Contains("clients.codex.codex_apps_policy.app_directory[0]", StringComparison.Ordinal) && e.Contains("not an absolute path", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("clients.codex.codex_apps_policy.app_directory[1]", StringComparison.Ordinal) && e.Contains("wildcard in a folder", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("clients.codex.codex_apps_policy.disable_connectors[0]", StringComparison.Ordinal) && e.Contains("id: connector_", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("clients.codex.codex_apps_policy.disable_connectors[1].reason", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("clients.claude.codex_apps_policy", StringComparison.Ordinal) && e.Contains("only codex-toml", StringComparison.Ordinal));

        var empty = ConfigLoader.Load($$"""
            schema_version: 1
            runtime: { root: "{{_root}}/rt" }
            clients:
              codex: { format: codex-toml, config_path: "{{CodexHome}}/config.toml", codex_apps_policy: { enabled: true } }
            """, Path.Combine(_root, "broker.yaml"));
        Assert.True(empty.IsValid);
        Assert.Contains(empty.Warnings, w => w.ToString().Contains("clients.codex.codex_apps_policy", StringComparison.Ordinal) && w.ToString().Contains("names no connector", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_UnknownKeyInAppsPolicy_IsRefused()
    {
        var result = ConfigLoader.Load($$"""
            schema_version: 1
            runtime: { root: "{{_root}}/rt" }
            clients:
              codex: { format: codex-toml, config_path: "{{CodexHome}}/config.toml", codex_apps_policy: { disable_connector: [] } }
            """, Path.Combine(_root, "broker.yaml"));

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.ToString().Contains("disable_connector", StringComparison.Ordinal));
    }

    [Fact]
    public void Backup_SeveralFiles_RestorePutsEveryOneBackByteForByte_AndRemovesThoseThatDidNotExist()
    {
        WriteFixtures();
        var created = Path.Combine(CodexHome, "cache", "new.json");
        var files = new ClientFiles(Path.Combine(_root, "backups"), TimeProvider.System);
        var originals = new[] { ConfigToml, DirectoryFile, ToolsFile }.ToDictionary(p => p, File.ReadAllBytes);
        File.SetUnixFileMode(ToolsFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var backup = files.Backup(ConfigToml, "before apps-policy", [DirectoryFile, ToolsFile, created]);
        File.WriteAllText(ConfigToml, "changed");
        File.WriteAllText(DirectoryFile, "{}");
        File.Delete(ToolsFile);
        File.WriteAllText(created, "{}");
        files.Restore(Assert.Single(files.List()));

        Assert.Equal(4, backup.Files.Count);
        foreach (var (path, bytes) in originals)
        {
            Assert.Equal(bytes, File.ReadAllBytes(path));
        }

        Assert.False(File.Exists(created));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(ToolsFile));
    }

    [Fact]
    public void Restore_DamagedCopyOfAnyFile_RestoresNothing()
    {
        WriteFixtures();
        var files = new ClientFiles(Path.Combine(_root, "backups"), TimeProvider.System);
        var backup = files.Backup(ConfigToml, "before apps-policy", [ToolsFile]);
        File.WriteAllText(ConfigToml, "changed");
        File.AppendAllText(Path.Combine(_root, "backups", backup.Id + ".1.bak"), " ");

        var error = Assert.Throws<ClientConfigException>(() => files.Restore(backup));

        Assert.Contains(ToolsFile, error.Message);
        Assert.Equal("changed", File.ReadAllText(ConfigToml));
    }

    [Theory]
    [InlineData("[apps.c1]\ndefault_tools_approval_mode = \"prompt\"\n", "[apps.c1]\nenabled = false\ndefault_tools_approval_mode = \"prompt\"\n")]
    [InlineData("[apps.c1]\r\nenabled = true\r\n", "[apps.c1]\r\nenabled = false\r\n")]
    [InlineData("model = \"x\"", "model = \"x\"\n\n[apps.c1]\nenabled = false\n")]
    [InlineData("[apps.\"c1\"]\nenabled = false\n", null)]
    public void DisableApp_EachShapeOfTheTable_SetsEnabledFalse_AndNothingElse(string before, string? after)
    {
        var toml = TomlTextEdit.Parse(before, "/home/dev/.codex/config.toml");

        var changed = toml.DisableApp("c1");

        Assert.Equal(after is not null, changed);
        Assert.Equal(after ?? before, toml.ToString());
    }

    [Theory]
    [InlineData("apps = { c1 = { enabled = true } }\n", ":1: apps is written as a key")]
    [InlineData("[apps]\nc1 = { enabled = true }\n", ":2: 'c1' is written as a key under [apps]")]
    [InlineData("[apps.c1\nenabled = true\n", "not valid TOML")]
    public void DisableApp_AppsWrittenAsKeysOrInvalidToml_IsRefusedWithTheLine(string before, string expected)
    {
        var error = Assert.Throws<ClientConfigException>(() => TomlTextEdit.Parse(before, "/home/dev/.codex/config.toml").DisableApp("c1"));

        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("mcp-broker", "broker.search_tools", "mcp__mcp_broker__broker_search_tools", false)]
    [InlineData("mcp-broker", "broker_call_tool", "mcp__mcp_broker__broker_call_tool", false)]
    [InlineData("work", "memory__read_graph", "mcp__work__memory__read_graph", false)]
    [InlineData("mcp-broker", "everything.get-tiny-image", "mcp__mcp_broker__everything_get_tiny_image", false)]
    [InlineData("mcp-broker", "a_very_long_upstream_prefix.and_an_even_longer_tool_name_here", "mcp__mcp_broker__a_very_long_upstream_prefix_and_an_even_longer_tool_name_here", true)]
    public void CodexToolName_SanitizesLikeCodex_AndFlagsNamesOverTheLimit(string server, string tool, string expected, bool shortened)
    {
        Assert.Equal((expected, shortened), CodexAcceptance.CodexToolName(server, tool));
    }

    [Fact]
    public void Acceptance_ProbesOfEachUpstream_MatchGolden_InCompactAndRawProfiles()
    {
        var model = Codex("", $$"""
            profiles:
              default: { compact_tools_enabled: true }
              raw: { compact_tools_enabled: false, broker_tool_name_style: snake }
            upstreams:
              memory:
                command: /bin/true
                smoke: { query: "read the knowledge graph", tool: read_graph, call: true }
              everything:
                command: /bin/true
                smoke: { query: "echo a message back", tool: echo, arguments: { message: "hello from codex" } }
              github:
                command: /bin/true
            """);
        var client = model.Clients["codex"];

        var compact = CodexAcceptance.Steps(model, client, model.Profiles["default"]);
        var raw = CodexAcceptance.Steps(model, client, model.Profiles["raw"]);

        Golden.AssertMatches("clients/codex-apps/acceptance.txt", string.Join("\n",
            CodexAcceptance.Describe(client, model.Profiles["default"], compact).Concat([""]).Concat(CodexAcceptance.Describe(client, model.Profiles["raw"], raw))) + "\n");
        Assert.Equal("github", Assert.Single(compact, u => u.Problem is not null).Upstream);
        var call = compact.Single(u => u.Upstream == "memory").Steps[2];
        Assert.Equal(("mcp__mcp_broker__broker_call_tool", "{\"name\":\"memory.read_graph\",\"arguments\":{}}"), (call.Tool, call.Arguments!.ToJsonString()));
        Assert.Equal("mcp__mcp_broker__memory__read_graph", raw.Single(u => u.Upstream == "memory").Steps[1].Tool);
        Assert.Equal("", compact.Single(u => u.Upstream == "everything").Steps[2].Tool);
    }

    private const string Policy = """
        codex_apps_policy:
          disable_connectors:
            - { id: connector_6a1f0c9e2b7d4e51a3c8f09b12de4477, reason: "the broker serves github" }
            - { name: linear, reason: "the broker serves linear" }
            - { name: Jira, reason: "the broker serves jira" }
        """;

    /// <summary>A config with the client 'codex' (its codex_apps_policy given as YAML at column 0) and <paramref name="rest"/>.</summary>
    private BrokerModel Codex(string policy, string rest = "")
    {
        var yaml = $"schema_version: 1\nruntime: {{ root: \"{_root}/rt\" }}\nclients:\n  codex:\n    format: codex-toml\n    config_path: \"{CodexHome}/config.toml\"\n"
            + string.Concat(policy.Split('\n').Select(l => "    " + l + "\n")) + rest + "\n";
        var result = ConfigLoader.Load(yaml, Path.Combine(_root, "broker.yaml"));
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        return result.Model!;
    }

    private void WriteFixtures()
    {
        foreach (var (name, target) in new[] { ("config.input.toml", ConfigToml), ("codex_app_directory.input.json", DirectoryFile), ("codex_apps_tools.input.json", ToolsFile) })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(Repo.Root, "tests", "McpBroker.Tests", "Golden", "clients", "codex-apps", name), target, overwrite: true);
        }
    }
}
