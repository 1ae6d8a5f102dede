using McpBroker.Config;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Config;

public sealed class ConfigTests
{
    private static readonly Dictionary<string, string> s_env = new()
    {
        ["HOME"] = "/home/ada",
        ["GITHUB_TOKEN"] = "ghp_realSecretValue0123456789abcdefABCDEF",
        ["WORKSPACE"] = "/srv/work",
    };

    internal const string IssueExample = """
        schema_version: 1
        runtime:
          root: /tmp/example-root            # default ~/mcp/mcp-broker; created 0700
        broker:
          idle_timeout: 10m
        profiles:
          default: { compact_tools_enabled: true }
          raw:     { compact_tools_enabled: false, max_tools: 500 }
        upstreams:
          memory:
            command: npx
            args: [-y, "@modelcontextprotocol/server-memory"]
            env: { MEMORY_FILE_PATH: "{runtime.state_dir}/memory.jsonl" }   # literal values (placeholders expand)
            env_from: { }                    # TARGET: HOST_VARIABLE_NAME  (secrets come from the host env ...)
            env_files: { }                   # TARGET: path to a 0600 file  (... or from files under secrets/)
            purpose: knowledge graph memory
            tags: [notes, memory]
            profiles: [default, raw]         # omitted = visible to every profile
          everything:
            command: npx
            args: [-y, "@modelcontextprotocol/server-everything"]
        """;

    private static ConfigLoadResult Load(string yaml) => ConfigLoader.Load(yaml, "/etc/broker.yaml", s_env.GetValueOrDefault);

    [Fact]
    public void Load_IssueExample_IsValidAndResolved()
    {
        var result = Load(IssueExample);

        Assert.True(result.IsValid, string.Join("\n", result.Issues));
        Assert.Empty(result.Issues);
        var model = result.Model!;
        Assert.Equal("/tmp/example-root", model.Runtime.Root);
        Assert.Equal("/tmp/example-root/sockets/broker.sock", model.Runtime.SocketPath);
        Assert.Equal(TimeSpan.FromMinutes(10), model.Settings.IdleTimeout);
        var memory = model.FindUpstream("memory")!;
        Assert.Equal("/tmp/example-root/state/memory.jsonl", memory.Env["MEMORY_FILE_PATH"]);
        Assert.Equal(["-y", "@modelcontextprotocol/server-memory"], memory.Args);
        Assert.Equal("/tmp/example-root/state/upstreams/memory", memory.WorkingDir);
        Assert.True(model.Profiles["default"].CompactToolsEnabled);
        Assert.False(model.Profiles["raw"].CompactToolsEnabled);
        Assert.Equal(500, model.Profiles["raw"].MaxTools);
        Assert.Equal(["memory", "everything"], model.Profiles["raw"].Upstreams);
    }

    [Theory]
    [InlineData("~")]
    [InlineData("null")]
    public void Load_DocumentThatIsNull_ReportsTheSchemaErrors(string yaml)
    {
        var result = Load(yaml);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Message.StartsWith("expected a mapping of keys, found nothing", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Path == "schema_version" && e.Message.StartsWith("missing required key 'schema_version'", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_ManyMistakes_ReportsEveryErrorWithItsPath()
    {
        var result = Load("""
            schema_version: 2
            runtime: { root: relative/path }
            profiles:
              default: { compact_tools_enabled: yes, max_tools: 0, upstreams: [nope] }
            upstreams:
              memory:
                command: npx
                mode: perSession
                idle_timeout: 10q
                colour: blue
              "bad.name":
                command: x
                profiles: [ghost]
            """);

        Assert.False(result.IsValid);
        var errors = result.Errors.ToDictionary(i => i.Path, i => i.Message);
        Assert.Contains("not one of shared, per_session, per_call, disabled", errors["upstreams.memory.mode"]);
        Assert.Contains("not a duration", errors["upstreams.memory.idle_timeout"]);
        Assert.Contains("unknown key 'colour'", errors["upstreams.memory.colour"]);
        Assert.Contains("allowed keys here: transport, command", errors["upstreams.memory.colour"]);
        Assert.Contains("expected true or false", errors["profiles.default.compact_tools_enabled"]);
        Assert.Contains("schema_version: 1", errors["schema_version"]);
        Assert.Contains("not an absolute path", errors["runtime.root"]);
        Assert.Contains("no upstream named 'nope'", errors["profiles.default.upstreams[0]"]);
        Assert.Contains("at least 1", errors["profiles.default.max_tools"]);
        Assert.Contains("no dots", errors["upstreams.bad.name"]);
        Assert.Contains("no profile named 'ghost'", errors["upstreams.bad.name.profiles[0]"]);
        Assert.Contains("line 8", errors["upstreams.memory.mode"]);
    }

    [Fact]
    public void Load_DuplicateKey_IsAnErrorNamingBothLines()
    {
        var result = Load("schema_version: 1\nupstreams:\n  a: { command: x }\n  a: { command: y }\n");

        var error = Assert.Single(result.Errors);
        Assert.Equal("upstreams.a", error.Path);
        Assert.Contains("duplicate key 'a', again at line 4", error.Message);
        Assert.Contains("line 3", error.Message);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("schema_version: 1\nupstreams: [unclosed\n", "not valid YAML")]
    [InlineData("upstreams: {}\n", "missing required key 'schema_version'")]
    [InlineData("- a\n- b\n", "expected a mapping")]
    public void Load_BrokenDocument_GivesOneClearError(string yaml, string expected)
    {
        var result = Load(yaml);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Message.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Load_SecretLookingLiteralEnv_WarnsWithoutEchoingTheValue()
    {
        var result = Load("""
            schema_version: 1
            upstreams:
              gh:
                command: npx
                env: { GITHUB_TOKEN: ghp_abcdefghijklmnopqrstuvwxyz0123456789, LOG_LEVEL: debug, API: "sk-proj-9f8e7d6c5b4a39281706" }
            """);

        Assert.True(result.IsValid);
        Assert.Equal(["upstreams.gh.env.GITHUB_TOKEN", "upstreams.gh.env.API"], result.Warnings.Select(w => w.Path));
        Assert.All(result.Warnings, w => Assert.Contains("env_from", w.Message));
        Assert.DoesNotContain(result.Warnings, w => w.Message.Contains("ghp_abc", StringComparison.Ordinal) || w.Message.Contains("sk-proj", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_Placeholders_ExpandEverywhereTheyAreAllowed()
    {
        var result = Load("""
            schema_version: 1
            runtime: { root: ~/mcp }
            upstreams:
              fs:
                command: $WORKSPACE/bin/server
                args: ["{upstream.state_dir}", "${WORKSPACE}/data", "{runtime.socket_path}", "cost: $$5"]
                working_dir: "{runtime.secrets_dir}/../work"
                env: { HOME_COPY: "~/x", STATE: "{runtime.state_dir}" }
                env_files: { TOKEN: token.txt }
            """);

        Assert.True(result.IsValid, string.Join("\n", result.Issues));
        var fs = result.Model!.FindUpstream("fs")!;
        Assert.Equal("/srv/work/bin/server", fs.Command);
        Assert.Equal(["/home/ada/mcp/state/upstreams/fs", "/srv/work/data", "/home/ada/mcp/sockets/broker.sock", "cost: $5"], fs.Args);
        Assert.Equal("/home/ada/mcp/secrets/../work", fs.WorkingDir);
        Assert.Equal("/home/ada/x", fs.Env["HOME_COPY"]);
        Assert.Equal("/home/ada/mcp/state", fs.Env["STATE"]);
        Assert.Equal("/home/ada/mcp/secrets/token.txt", fs.EnvFiles["TOKEN"]);
    }

    [Theory]
    [InlineData("command: $NOPE/x", "upstreams.a.command", "'$NOPE' is not set")]
    [InlineData("command: x\n    args: [\"{runtime.nothing}\"]", "upstreams.a.args[0]", "unknown placeholder '{runtime.nothing}'")]
    [InlineData("command: x\n    env_from: { T: \"sk-value-not-a-name\" }", "upstreams.a.env_from.T", "write the NAME of the host variable")]
    [InlineData("command: x\n    env: { \"1BAD\": v }", "upstreams.a.env.1BAD", "not a valid environment variable name")]
    [InlineData("command: x\n    env: { T: v }\n    env_from: { T: HOME }", "upstreams.a", "more than one of env, env_from and env_files")]
    [InlineData("args: [x]", "upstreams.a.command", "needs a command")]
    [InlineData("command: x\n    prefix: broker", "upstreams.a.prefix", "reserved")]
    public void Load_BadUpstream_ExplainsTheFix(string body, string path, string expected)
    {
        var result = Load($"schema_version: 1\nupstreams:\n  a:\n    {body}\n");

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Path == path && e.Message.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Load_DuplicatePrefixes_AreRejected()
    {
        var result = Load("schema_version: 1\nupstreams:\n  a: { command: x, prefix: p }\n  b: { command: y, prefix: p }\n");

        Assert.Contains(result.Errors, e => e.Message.Contains("prefix 'p' is used by a and b", StringComparison.Ordinal));
    }

    [Fact]
    public void Profiles_Visibility_FollowsUpstreamAndProfileLists()
    {
        var result = Load("""
            schema_version: 1
            profiles:
              open: {}
              picky: { upstreams: [shared] }
              named: {}
            upstreams:
              shared: { command: x }
              private: { command: x, profiles: [named] }
              off: { command: x, mode: disabled }
            """);

        var profiles = result.Model!.Profiles;
        Assert.Equal(["shared"], profiles["open"].Upstreams);
        Assert.Equal(["shared"], profiles["picky"].Upstreams);
        Assert.Equal(["shared", "private"], profiles["named"].Upstreams);
    }

    [Fact]
    public void Load_NoProfiles_CreatesTheDefaultProfile()
    {
        var model = Load("schema_version: 1\nupstreams:\n  a: { command: x }\n").Model!;

        Assert.Equal(["default"], model.Profiles.Keys.ToArray());
        Assert.True(model.Profiles["default"].CompactToolsEnabled);
        Assert.Equal(Path.Combine("/home/ada", "mcp", "mcp-broker"), model.Runtime.Root);
    }

    [Fact]
    public void StarterAndDemoConfigs_AreValid()
    {
        Assert.True(Load(ConfigLoader.StarterYaml).IsValid, string.Join("\n", Load(ConfigLoader.StarterYaml).Issues));
        var demo = Load(ConfigLoader.DemoYaml.Replace("{root}", "/tmp/demo", StringComparison.Ordinal));
        Assert.True(demo.IsValid, string.Join("\n", demo.Issues));
        Assert.Empty(demo.Warnings);
    }

    [Fact]
    public void Schema_CommittedFile_EqualsWhatTheCodeGenerates()
    {
        var path = Path.Combine(Repo.Root, "config", "broker.schema.json");
        if (Environment.GetEnvironmentVariable("MCP_BROKER_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, SchemaGenerator.ToJson());
        }

        var committed = File.ReadAllText(path);

        Assert.Equal(committed, SchemaGenerator.ToJson());
        // What 'config schema' prints and the loader validates with is that same file.
        Assert.Equal(committed, ConfigSchema.ToJson());
    }

    [Fact]
    public void ConfigShow_EverySection_MatchesGoldenFileInKeyOrderAndHidesSecrets()
    {
        var result = Load("""
            schema_version: 1
            runtime: { root: /srv/broker }
            broker:
              idle_timeout: 5m
              http: { listen: "127.0.0.1:8931", token_file: http.token }
              status_page: { port: 8932 }
            telemetry: { otlp_endpoint: "http://127.0.0.1:4318", otlp_protocol: grpc, export_interval: 30s, prometheus: true }
            profiles:
              zeta: { compact_tools_enabled: false, require_token_file: zeta.token, upstreams: [remote, local] }
              alpha: { broker_tool_name_style: snake, allow_mutating_tools: ["local.write"] }
            clients:
              gem: { format: gemini-settings, config_path: /home/ada/.gemini/settings.json, mcp_allowed_servers: [mcp-broker], profile: alpha }
              codex:
                format: codex-toml
                config_path: /home/ada/.codex/config.toml
                entry_name: broker
                profile: zeta
                codex_apps_policy:
                  app_directory: ["/home/ada/.codex/apps/*.json"]
                  tools_cache: ["/home/ada/.codex/cache/*.json"]
                  disable_connectors: [{ name: GitHub, reason: "served by the broker" }, { id: connector_0123abcd, reason: dup }]
            upstreams:
              remote:
                transport: http
                url: https://mcp.example.com/mcp
                headers: { X-Zed: "static", X-Api-Key: "Key ${TOKEN_VAR}" }
                env_from: { TOKEN_VAR: GITHUB_TOKEN }
                oauth: { client_id: app, client_secret_file: app.secret, scopes: [read, write], redirect_port: 8765 }
              local:
                command: /usr/bin/server
                max_concurrency: 2
                max_queue: 3
                smoke: { query: "write a note", tool: write, arguments: { text: hi }, call: true }
                timeouts: { tools: { zz: 1m, aa: 2s } }
                env_files: { Z_KEY: z.key, A_KEY: a.key }
                tools:
                  write: { hidden: true, description: "Writes.", mutating: true, defaults: { text: "x", api_key: "sk-proj-9f8e7d6c5b4a39281706" } }
                  read: { idempotent: true }
            """);
        Assert.True(result.IsValid, string.Join("\n", result.Issues));

        var shown = ConfigShow.Render(result.Model!, s_env.GetValueOrDefault);

        Assert.DoesNotContain("sk-proj", shown);
        Assert.DoesNotContain("ghp_", shown);
        Golden.AssertMatches("config-show-full.yaml", shown);
    }

    [Fact]
    public void ConfigShow_ResolvedModel_MatchesGoldenFileAndHidesSecrets()
    {
        var result = Load("""
            schema_version: 1
            runtime: { root: /srv/broker }
            profiles:
              default: { description: everyday tools }
            upstreams:
              gh:
                command: npx
                args: [-y, server-github, "--token=ghp_abcdefghijklmnopqrstuvwxyz0123456789"]
                env: { LOG_LEVEL: debug, LEAKED: ghp_abcdefghijklmnopqrstuvwxyz0123456789 }
                env_from: { GITHUB_PERSONAL_ACCESS_TOKEN: GITHUB_TOKEN, OTHER: NOT_SET_ANYWHERE }
                env_files: { API_KEY: api.key }
                purpose: GitHub issues
                tags: [code]
                timeouts: { call: 30s, tools: { search_code: 5m } }
                mode: per_session
                serialize_calls: true
            """);

        var shown = ConfigShow.Render(result.Model!, s_env.GetValueOrDefault);

        Assert.DoesNotContain("ghp_", shown);
        Golden.AssertMatches("config-show.yaml", shown);
    }

    [Theory]
    [InlineData("30", 30_000)]
    [InlineData("250ms", 250)]
    [InlineData("30s", 30_000)]
    [InlineData("10m", 600_000)]
    [InlineData("2h", 7_200_000)]
    public void Duration_Parse_AcceptsSecondsAndUnits(string text, long milliseconds)
    {
        Assert.True(Duration.TryParse(text, out var d));
        Assert.Equal(milliseconds, (long)d.Value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("10q")]
    [InlineData("-5s")]
    [InlineData("1.5m")]
    [InlineData("")]
    public void Duration_Parse_RejectsOtherText(string text) => Assert.False(Duration.TryParse(text, out _));
}
