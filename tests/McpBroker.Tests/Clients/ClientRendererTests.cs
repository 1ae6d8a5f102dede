using System.Text;
using System.Text.Json;
using McpBroker.Clients;
using McpBroker.Config;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Clients;

/// <summary>
/// Merging the broker's entry into each client's config file: golden files (a fixture with unrelated content,
/// rendered, compared byte for byte) and the edge cases of the JSON and TOML editors.
/// </summary>
public sealed class ClientRendererTests
{
    private const string Shim = "/opt/mcp-broker/bin/mcp-broker-client";

    public static TheoryData<string, string> Fixtures => new()
    {
        { "codex-toml", "toml" }, { "claude-json", "json" }, { "claude-desktop", "json" }, { "gemini-settings", "json" },
        { "cursor", "json" }, { "vscode", "json" }, { "opencode", "json" }, { "mcp-settings-json", "json" },
        { "copilot", "json" }, { "qwen", "json" }, { "windsurf", "json" }, { "windsurf-jetbrains", "json" }, { "zed", "json" },
        { "cline", "json" }, { "roo-code", "json" }, { "kiro", "json" }, { "goose", "yaml" }, { "lm-studio", "json" },
        { "vscode-insiders", "json" }, { "vscode-server", "json" }, { "amp", "json" }, { "trae", "json" }, { "antigravity", "json" },
        { "kimi", "json" }, { "factory", "json" }, { "qoder", "json" },
    };

    [Fact]
    public void Fixtures_CoverEveryFormat() =>
        Assert.Equal(ClientFormats.Names.Order(StringComparer.Ordinal), Fixtures.Select(f => (string)f[0]).Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Unwire_RenderedFixture_GivesBackTheInputsContent(string format, string ext)
    {
        var input = File.ReadAllBytes(Fixture($"{format}.input.{ext}"));
        var client = Client(format);
        var render = ClientRenderer.Render(client, Entry(client), input, []);

        var removed = ClientRenderer.Unwire(client, render.After, new Dictionary<string, byte[]>());

        // The same content as before apply, key for key: only layout may differ (a list re-indented, a container the
        // apply created left empty), and a stale broker entry the fixture had is gone too.
        Assert.Equal(["mcp-broker"], removed.Removed);
        var container = ClientFormats.ContainerKey(client.Format);
        var had = ClientServers.Read(client.Format, input, client.ConfigPath);
        var changes = string.Join("; ", ClientChanges.Describe(client.Format, input, removed.After));
        Assert.Contains(changes, had.Any(s => s.Name == "mcp-broker")
            ? [$"{container}.mcp-broker (removed)"]
            : new[] { "layout or comments only", $"{container} (added)" });
        Assert.DoesNotContain("mcp-broker", Encoding.UTF8.GetString(removed.After), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("codex-toml", "toml", "github")]
    [InlineData("gemini-settings", "json", "sequential")]
    [InlineData("goose", "yaml", "github")]
    public void Unwire_AfterRemoveOthers_PutsTheServerBackAsItWas_AndKeepsWhatTheClientAddedSince(string format, string ext, string server)
    {
        var input = File.ReadAllBytes(Fixture($"{format}.input.{ext}"));
        var client = Client(format);
        var applied = ClientRenderer.Render(client, Entry(client), input, [server]);
        Assert.Equal([server], applied.Removed);
        var meanwhile = Encoding.UTF8.GetBytes(format switch
        {
            "codex-toml" => Encoding.UTF8.GetString(applied.After) + "\n[mcp_servers.added-later]\ncommand = \"/bin/later\"\n",
            "goose" => Encoding.UTF8.GetString(applied.After) + "later_setting: true\n",
            _ => Encoding.UTF8.GetString(applied.After).Replace("\"mcpServers\": {", "\"later\": 1,\n  \"mcpServers\": {", StringComparison.Ordinal),
        });

        var removed = ClientRenderer.Unwire(client, meanwhile, new Dictionary<string, byte[]> { [server] = input });

        Golden.AssertMatchesBytes($"clients/{format}.removed.{ext}", removed.After);
        Assert.Equal([server], removed.Restored);
        var before = ClientServers.Read(client.Format, input, client.ConfigPath).Single(s => s.Name == server);
        var after = ClientServers.Read(client.Format, removed.After, client.ConfigPath);
        Assert.Equal(before, after.Single(s => s.Name == server), ServerComparer.Instance);
        Assert.DoesNotContain(after, s => s.Name == "mcp-broker");
        Assert.Contains("later", Encoding.UTF8.GetString(removed.After));
    }

    /// <summary>Two entries are the same server: same identity, environment and state.</summary>
    private sealed class ServerComparer : IEqualityComparer<ClientServer>
    {
        public static readonly ServerComparer Instance = new();

        public bool Equals(ClientServer? x, ClientServer? y) =>
            x is not null && y is not null && x.Identity == y.Identity && x.Enabled == y.Enabled && x.Env.Count == y.Env.Count && x.Env.All(e => y.Env.GetValueOrDefault(e.Key) == e.Value);

        public int GetHashCode(ClientServer obj) => obj.Identity.GetHashCode(StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Render_FixtureWithUnrelatedContent_MatchesGolden_KeepsEveryOtherServer_AndIsIdempotent(string format, string ext)
    {
        var input = File.ReadAllBytes(Fixture($"{format}.input.{ext}"));
        var client = Client(format);
        var before = ClientServers.Read(client.Format, input, client.ConfigPath).Where(s => s.Name != "mcp-broker").ToList();

        var render = ClientRenderer.Render(client, Entry(client), input, []);

        Golden.AssertMatchesBytes($"clients/{format}.rendered.{ext}", render.After);
        var after = ClientServers.Read(client.Format, render.After, client.ConfigPath);
        Assert.Equal(before.Select(s => s.Identity), after.Where(s => s.Name != "mcp-broker").Select(s => s.Identity));
        var broker = Assert.Single(after, s => s.Name == "mcp-broker");
        Assert.Equal(Shim, broker.Command);
        Assert.Equal(["--profile", "default", "--client", ClientFormats.ClientName(client.Format), "--config", "/home/dev/.config/mcp-broker/work.yaml"], broker.Args);
        var again = ClientRenderer.Render(client, Entry(client), render.After, []);
        Assert.False(again.Changed, "a second render changes nothing");
    }

    [Fact]
    public void Render_RemoveOthers_TakesOutOnlyTheNamedServers_AndKeepsComments()
    {
        var codex = Client("codex-toml");
        var toml = ClientRenderer.Render(codex, Entry(codex), File.ReadAllBytes(Fixture("codex-toml.input.toml")), ["github"]);
        Golden.AssertMatchesBytes("clients/codex-toml.remove-others.toml", toml.After);
        Assert.Equal(["github"], toml.Removed);
        Assert.Equal(["docs server", "mcp-broker"], ClientServers.Read(codex.Format, toml.After, codex.ConfigPath).Select(s => s.Name).Order());

        var gemini = Client("gemini-settings");
        var json = ClientRenderer.Render(gemini, Entry(gemini), File.ReadAllBytes(Fixture("gemini-settings.input.json")), ["sequential", "not-there"]);
        Golden.AssertMatchesBytes("clients/gemini-settings.remove-others.json", json.After);
        Assert.Equal(["sequential"], json.Removed);
        Assert.Contains("// Gemini CLI settings (JSON with comments)", Encoding.UTF8.GetString(json.After));
    }

    [Fact]
    public void Render_MissingOrEmptyFile_WritesTheEntryAlone()
    {
        var claude = Client("claude-json");
        var missing = ClientRenderer.Render(claude, Entry(claude), null, []);
        var empty = ClientRenderer.Render(claude, Entry(claude), "\n"u8.ToArray(), []);

        Assert.True(missing.Changed);
        Assert.Equal("mcp-broker", JsonDocument.Parse(missing.After).RootElement.GetProperty("mcpServers").EnumerateObject().Single().Name);
        Assert.Equal(missing.After, empty.After);
        var codex = Client("codex-toml");
        Assert.StartsWith("[mcp_servers.mcp-broker]\n", Encoding.UTF8.GetString(ClientRenderer.Render(codex, Entry(codex), null, []).After));
    }

    [Fact]
    public void Render_CompactJson_StaysOnOneLine_AndTrailingLineCommentStaysWithItsMember()
    {
        var cursor = Client("cursor");
        var compact = ClientRenderer.Render(cursor, Entry(cursor), """{"mcpServers":{"a":{"command":"x"}},"other":1}"""u8.ToArray(), []);
        var text = Encoding.UTF8.GetString(compact.After);
        Assert.DoesNotContain('\n', text);
        Assert.StartsWith("""{"mcpServers":{"a":{"command":"x"}, "mcp-broker": {""", text);

        var commented = ClientRenderer.Render(cursor, Entry(cursor), "{\n  \"mcpServers\": {\n    \"a\": { \"command\": \"x\" } // keep me\n  }\n}\n"u8.ToArray(), []);
        Assert.StartsWith("{\n  \"mcpServers\": {\n    \"a\": { \"command\": \"x\" }, // keep me\n    \"mcp-broker\": {", Encoding.UTF8.GetString(commented.After));
    }

    [Fact]
    public void Render_Gemini_AddsToAnExistingAllowList_CreatesOneOnlyWhenConfigured_AndWarnsWhenExcluded()
    {
        var plain = Client("gemini-settings");
        var noList = ClientRenderer.Render(plain, Entry(plain), """{ "mcp": { "excluded": ["mcp-broker"] } }"""u8.ToArray(), []);
        var doc = JsonDocument.Parse(noList.After).RootElement;
        Assert.False(doc.GetProperty("mcp").TryGetProperty("allowed", out _), "no allow-list is created: it would block every other server");
        Assert.Contains(noList.Notes, n => n.Contains("mcp.excluded lists 'mcp-broker'", StringComparison.Ordinal));

        var configured = plain with { McpAllowedServers = ["search"] };
        var created = ClientRenderer.Render(configured, Entry(configured), """{ "theme": "x" }"""u8.ToArray(), []);
        Assert.Equal(["search", "mcp-broker"], JsonDocument.Parse(created.After).RootElement.GetProperty("mcp").GetProperty("allowed").EnumerateArray().Select(e => e.GetString()));

        var empty = ClientRenderer.Render(plain, Entry(plain), """{ "mcp": { "allowed": [] } }"""u8.ToArray(), []);
        Assert.Equal(["mcp-broker"], JsonDocument.Parse(empty.After).RootElement.GetProperty("mcp").GetProperty("allowed").EnumerateArray().Select(e => e.GetString()));
    }

    [Theory]
    [InlineData("cursor", "{ \"mcpServers\": [] }", "'mcpServers' is a JSON array, not an object")]
    [InlineData("cursor", "[1, 2]", "holds a JSON array, not an object")]
    [InlineData("cursor", "{ \"mcpServers\": { \"a\": 1, ", "not valid JSON")]
    [InlineData("cursor", "{ \"mcpServers\": { \"mcp-broker\": {}, \"mcp-broker\": {} } }", "appears 2 times")]
    [InlineData("gemini-settings", "{ \"mcp\": { \"allowed\": \"all\" } }", "mcp.allowed is a JSON string")]
    [InlineData("codex-toml", "model = \"x\"\n[mcp_servers\n", "not valid TOML")]
    [InlineData("codex-toml", "mcp_servers = { a = { command = \"x\" } }\n", "mcp_servers is written as a key")]
    [InlineData("codex-toml", "[mcp_servers]\nmcp-broker = { command = \"x\" }\n", "'mcp-broker' is written as a key under [mcp_servers]")]
    public void Render_FileItCannotEditSafely_FailsWithWhatToFix(string format, string content, string expected)
    {
        var client = Client(format);

        var error = Assert.Throws<ClientConfigException>(() => ClientRenderer.Render(client, Entry(client), Encoding.UTF8.GetBytes(content), []));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "extensions:\n  mcp-broker:\n")]
    [InlineData("GOOSE_MODEL: x\n", "GOOSE_MODEL: x\n\nextensions:\n  mcp-broker:\n")]
    [InlineData("extensions: {}\nGOOSE_MODE: auto\n", "extensions:\n  mcp-broker:\n")]
    [InlineData("extensions:\nGOOSE_MODE: auto\n", "extensions:\n  mcp-broker:\n")]
    [InlineData("extensions:\n    dev:\n        type: builtin\n# theirs\nGOOSE_MODE: auto\n", "extensions:\n    dev:\n        type: builtin\n    mcp-broker:\n        enabled: true\n")]
    public void Render_Goose_AddsTheExtensionInTheFilesOwnIndentation_AndRemoveTakesItOutAgain(string? input, string expected)
    {
        var goose = Client("goose");
        var bytes = input is null ? null : Encoding.UTF8.GetBytes(input);

        var render = ClientRenderer.Render(goose, Entry(goose), bytes, []);
        var text = Encoding.UTF8.GetString(render.After);

        Assert.Contains(expected, text, StringComparison.Ordinal);
        Assert.Equal("mcp-broker", Assert.Single(ClientServers.Read(ClientFormat.Goose, render.After, goose.ConfigPath)).Name);
        var removed = ClientRenderer.Unwire(goose, render.After, new Dictionary<string, byte[]>());
        Assert.Empty(ClientServers.Read(ClientFormat.Goose, removed.After, goose.ConfigPath));
        Assert.Equal(["mcp-broker"], removed.Removed);
    }

    [Theory]
    [InlineData("extensions: { dev: { type: builtin } }\n", "written in flow style")]
    [InlineData("extensions:\n- dev\n", "holds a list")]
    [InlineData("- a\n- b\n", "holds a YAML list, not a mapping")]
    [InlineData("extensions:\n  dev: [\n", "not valid YAML at line")]
    public void Render_GooseFileItCannotEditSafely_FailsWithWhatToFix(string content, string expected)
    {
        var goose = Client("goose");

        var error = Assert.Throws<ClientConfigException>(() => ClientRenderer.Render(goose, Entry(goose), Encoding.UTF8.GetBytes(content), []));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_TomlWithCrlf_KeepsCrlfEverywhere()
    {
        var codex = Client("codex-toml");
        var render = ClientRenderer.Render(codex, Entry(codex), "model = \"o3\"\r\n\r\n[mcp_servers.a]\r\ncommand = \"x\"\r\n"u8.ToArray(), []);
        var text = Encoding.UTF8.GetString(render.After);

        Assert.DoesNotContain("\n", text.Replace("\r\n", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("[mcp_servers.a]\r\ncommand = \"x\"\r\n\r\n[mcp_servers.mcp-broker]\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void UnifiedDiff_ShowsHunksWithContext_AndNothingForEqualTexts()
    {
        var before = string.Join('\n', Enumerable.Range(1, 20).Select(i => $"line {i}")) + "\n";
        var after = before.Replace("line 3\n", "line three\n", StringComparison.Ordinal).Replace("line 18\n", "", StringComparison.Ordinal);

        var diff = UnifiedDiff.Format(before, after, "a", "b");

        Assert.Equal("""
            --- a
            +++ b
            @@ -1,6 +1,6 @@
             line 1
             line 2
            -line 3
            +line three
             line 4
             line 5
             line 6
            @@ -15,6 +15,5 @@
             line 15
             line 16
             line 17
            -line 18
             line 19
             line 20

            """.ReplaceLineEndings("\n"), diff);
        Assert.Equal("", UnifiedDiff.Format(before, before, "a", "b"));
        Assert.Equal("--- /dev/null\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n", UnifiedDiff.Format(null, "x\ny\n", "a", "b"));
    }

    [Theory]
    [InlineData("    \"env\": { \"GITHUB_TOKEN\": \"abc\", \"LEVEL\": \"info\" }", "    \"env\": { \"GITHUB_TOKEN\": \"***\", \"LEVEL\": \"info\" }")]
    [InlineData("GITHUB_PERSONAL_ACCESS_TOKEN = \"x\"", "GITHUB_PERSONAL_ACCESS_TOKEN = \"***\"")]
    [InlineData("args = [\"--key\", \"sk-abcdefghijklmnop1234\"]", "args = [\"--key\", \"***\"]")]
    [InlineData("\"headers\": {\"Authorization\": \"Bearer t\"}", "\"headers\": {\"Authorization\": \"***\"}")]
    [InlineData("  \"command\": \"/usr/bin/npx\",", "  \"command\": \"/usr/bin/npx\",")]
    public void RedactLine_HidesValuesOfSecretKeysAndTokenLikeStrings_AndNothingElse(string line, string expected) =>
        Assert.Equal(expected, SecretHeuristics.RedactLine(line));

    [Fact]
    public void ImportPlan_AddsNewStdioAndRemoteServers_SkipsKnownOnes_AndNeverCopiesSecrets()
    {
        var yaml = "schema_version: 1\n# upstreams I run\nupstreams:\n    memory:\n        command: /bin/memory\n\n# clients\nclients:\n    c: { format: cursor }\n";
        var model = ConfigLoader.Load(yaml, "/home/dev/broker.yaml", Home).Model!;
        var client = Client("cursor");
        var secret = "ghp_" + new string('x', 36);
        var servers = ClientServers.Read(ClientFormat.Cursor, Encoding.UTF8.GetBytes($$"""
            { "mcpServers": {
                "memory": { "command": "/bin/memory" },
                "git hub": { "command": "npx", "args": ["-y", "gh"], "env": { "GITHUB_TOKEN": "{{secret}}", "LOG_LEVEL": "debug", "API": "${env:MY_API}" } },
                "remote": { "url": "https://x.invalid/mcp", "type": "sse", "headers": { "Authorization": "Bearer {{secret}}", "X-Team": "${env:TEAM_ID}", "Accept-Language": "en" } },
                "mcp-broker": { "command": "/opt/mcp-broker-client" }
            } }
            """), "/x/mcp.json");

        var plan = ClientImport.Plan(yaml, model, client, Entry(client), servers);

        Assert.Equal(["git-hub", "remote"], plan.Added);
        Assert.DoesNotContain(secret, plan.Yaml, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, string.Join("\n", plan.Lines), StringComparison.Ordinal);
        Assert.Contains(plan.Lines, l => l.StartsWith("memory: already an upstream ('memory')", StringComparison.Ordinal));
        Assert.Contains(plan.Lines, l => l.Contains("header Authorization held a credential, which was not copied: set $AUTHORIZATION", StringComparison.Ordinal));
        Assert.Contains(plan.Lines, l => l.Contains("GITHUB_TOKEN looked like a secret and was not copied", StringComparison.Ordinal));
        Assert.Contains("# upstreams I run\nupstreams:\n    memory:\n        command: /bin/memory\n    git-hub:\n        purpose:", plan.Yaml, StringComparison.Ordinal);
        Assert.EndsWith("\n\n# clients\nclients:\n    c: { format: cursor }\n", plan.Yaml, StringComparison.Ordinal);
        var imported = ConfigLoader.Load(plan.Yaml, "/home/dev/broker.yaml", Home);
        Assert.True(imported.IsValid, string.Join("\n", imported.Errors));
        var upstream = imported.Model!.FindUpstream("git-hub")!;
        Assert.Equal("debug", upstream.Env["LOG_LEVEL"]);
        Assert.Equal("GITHUB_TOKEN", upstream.EnvFrom["GITHUB_TOKEN"]);
        Assert.Equal("MY_API", upstream.EnvFrom["API"]);
        var remote = imported.Model.FindUpstream("remote")!;
        Assert.Equal(UpstreamTransport.Sse, remote.Transport);
        Assert.Equal("Bearer ${AUTHORIZATION}", remote.Remote!.Headers["Authorization"]);
        Assert.Equal("${TEAM_ID}", remote.Remote.Headers["X-Team"]);
        Assert.Equal("en", remote.Remote.Headers["Accept-Language"]);
        Assert.Equal("TEAM_ID", remote.EnvFrom["TEAM_ID"]);

        var twice = ClientImport.Plan(plan.Yaml, imported.Model, client, Entry(client), servers);
        Assert.Empty(twice.Added);
        Assert.Equal(plan.Yaml, twice.Yaml);
    }

    [Fact]
    public void ImportPlan_CredentialsInArgumentsAndUrls_BecomeEnvFromReferences_NamedInTheOutput_AndConfigShowNeverPrintsThem()
    {
        var yaml = "schema_version: 1\nupstreams: {}\n";
        var model = ConfigLoader.Load(yaml, "/home/dev/broker.yaml", Home).Model!;
        var client = Client("claude-json");
        string[] secrets = ["hunter2-db-pw", "BSAk3yV4lu3-0123456789", "tok-value-from-a-flag", "sk-abcdefghijklmnop1234", "q8Zt1Lm0Xr7Pw2Kd5Vb9Nc3H"];
        var servers = ClientServers.Read(ClientFormat.ClaudeJson, Encoding.UTF8.GetBytes($$"""
            { "mcpServers": {
                "postgres": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-postgres", "postgresql://app:{{secrets[0]}}@localhost:5432/shop"] },
                "brave": { "command": "brave-mcp", "args": ["--api-key={{secrets[1]}}", "--token", "{{secrets[2]}}", "--verbose", "${BRAVE_SECRET}"] },
                "proxy": { "command": "npx", "args": ["mcp-remote", "https://mcp.example.com/sse", "--header", "Authorization: Bearer {{secrets[3]}}"] },
                "remote": { "type": "http", "url": "https://mcp.example.com/mcp?token={{secrets[4]}}&region=eu" }
            } }
            """), "/home/dev/.claude.json");

        var plan = ClientImport.Plan(yaml, model, client, Entry(client), servers);

        Assert.Equal(["brave", "postgres", "proxy", "remote"], plan.Added);
        var output = plan.Yaml + string.Join("\n", plan.Lines);
        Assert.All(secrets, secret => Assert.DoesNotContain(secret, output, StringComparison.Ordinal));
        Assert.Contains(plan.Lines, l => l.StartsWith("postgres:", StringComparison.Ordinal) && l.Contains("argument 3 (the url's password) held a credential, which was not copied: set $POSTGRES_PASSWORD", StringComparison.Ordinal));
        Assert.Contains(plan.Lines, l => l.StartsWith("brave:", StringComparison.Ordinal) && l.Contains("set $BRAVE_API_KEY", StringComparison.Ordinal) && l.Contains("set $BRAVE_TOKEN", StringComparison.Ordinal)
            && l.Contains("an argument reads $BRAVE_SECRET", StringComparison.Ordinal));
        Assert.Contains(plan.Lines, l => l.StartsWith("remote:", StringComparison.Ordinal) && l.Contains("query parameter 'token'", StringComparison.Ordinal) && l.Contains("set $REMOTE_TOKEN", StringComparison.Ordinal));

        var imported = ConfigLoader.Load(plan.Yaml, "/home/dev/broker.yaml", Home);
        Assert.True(imported.IsValid, string.Join("\n", imported.Errors));
        var postgres = imported.Model!.FindUpstream("postgres")!;
        Assert.Equal("postgresql://app:${POSTGRES_PASSWORD}@localhost:5432/shop", postgres.Args[2]);
        Assert.Equal("POSTGRES_PASSWORD", postgres.EnvFrom["POSTGRES_PASSWORD"]);
        var brave = imported.Model.FindUpstream("brave")!;
        Assert.Equal(["--api-key=${BRAVE_API_KEY}", "--token", "${BRAVE_TOKEN}", "--verbose", "${BRAVE_SECRET}"], brave.Args);
        Assert.Equal("Authorization: Bearer ${PROXY_AUTHORIZATION}", imported.Model.FindUpstream("proxy")!.Args[3]);
        var remote = imported.Model.FindUpstream("remote")!.Remote!;
        Assert.Equal("https://mcp.example.com/mcp?token=${REMOTE_TOKEN}&region=eu", remote.UrlTemplate);
        Assert.Equal("https://mcp.example.com/mcp?token=" + Uri.EscapeDataString("a b&c") + "&region=eu",
            McpBroker.Upstreams.RemoteConnection.ResolveUrl(remote.UrlTemplate!, new Dictionary<string, string> { ["REMOTE_TOKEN"] = "a b&c" }).AbsoluteUri);

        // At start the references are filled in; config show keeps printing them, with the variables set or not.
        Assert.Equal("postgresql://app:pw@localhost:5432/shop", McpBroker.Config.SecretFile.ResolveArgs(postgres.Args, new Dictionary<string, string> { ["POSTGRES_PASSWORD"] = "pw" })[2]);
        var withValues = ConfigLoader.Load(plan.Yaml, "/home/dev/broker.yaml", v => v switch { "HOME" => "/home/dev", "POSTGRES_PASSWORD" => secrets[0], "REMOTE_TOKEN" => secrets[4], _ => null });
        Assert.True(withValues.IsValid, string.Join("\n", withValues.Errors));
        var show = ConfigShow.Render(withValues.Model!, v => v == "POSTGRES_PASSWORD" ? secrets[0] : null);
        Assert.All(secrets, secret => Assert.DoesNotContain(secret, show, StringComparison.Ordinal));
        Assert.Contains("${POSTGRES_PASSWORD}", show, StringComparison.Ordinal);

        // The upstreams cover the client's servers (credentials and all), so a second import adds nothing.
        Assert.Empty(ClientImport.Plan(plan.Yaml, imported.Model, client, Entry(client), servers).Added);
        Assert.All(servers, s => Assert.NotNull(ClientImport.Covering(imported.Model.Upstreams, s)));
    }

    [Fact]
    public void ImportInsert_WithoutUpstreams_AppendsTheSection_AndRefusesFlowStyle()
    {
        Assert.Equal("schema_version: 1\n\nupstreams:\n  a:\n    command: x\n", ClientImport.Insert("schema_version: 1\n", "  a:\n    command: x\n"));
        Assert.Equal("upstreams:\n  a:\n    command: x\nclients: {}\n", ClientImport.Insert("upstreams: {}\nclients: {}\n", "  a:\n    command: x\n"));
        Assert.Throws<ClientConfigException>(() => ClientImport.Insert("upstreams: { b: { command: y } }\n", "  a:\n    command: x\n"));
    }

    private static string? Home(string variable) => variable == "HOME" ? "/home/dev" : null;

    private static string Fixture(string name) => Path.Combine(Repo.Root, "tests", "McpBroker.Tests", "Golden", "clients", name);

    private static ClientModel Client(string format)
    {
        var parsed = ClientFormats.Parse(format)!.Value;
        return new ClientModel(format, parsed, "/home/dev/" + format, "mcp-broker", "default", null);
    }

    /// <summary>The entry apply gives the client by default (its exposure, and the client's keep-loaded setting where it has one).</summary>
    private static ClientEntry Entry(ClientModel client) => ClientExposure.Apply(
        new("mcp-broker", Shim, ["--profile", "default", "--client", ClientFormats.ClientName(client.Format), "--config", "/home/dev/.config/mcp-broker/work.yaml"]),
        ClientExposure.Choose(client.Format, new ProfileModel("default", null, true, 200, ToolNameStyle.Dotted, []), null, null, out _)!);
}
