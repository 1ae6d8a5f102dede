using System.Text.Json;
using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>The validated model's own behaviour: paths, defaults, back-off, fingerprints, durations, issue text.</summary>
public sealed class ConfigModelTests
{
    private static BrokerModel Load(string section) => ConfigLoader.Load(
        $"schema_version: 1\nruntime: {{ root: /srv/mb }}\n{section}\n", "/etc/broker.yaml", _ => null).Model!;

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 0)]
    [InlineData(2, 1_000)]
    [InlineData(3, 2_000)]
    [InlineData(4, 4_000)]
    [InlineData(6, 16_000)]
    [InlineData(7, 30_000)]
    [InlineData(1_000, 30_000)]
    public void DelayAfter_NoneAfterTheFirstFailure_ThenDoublingUpToTheMaximum(int failures, int milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), RestartPolicy.Default.DelayAfter(failures));

    [Fact]
    public void Runtime_EveryPathIsUnderTheRoot()
    {
        var runtime = new RuntimeModel("/srv/mb");

        Assert.Equal(
            ["/srv/mb/sockets", "/srv/mb/sockets/broker.sock", "/srv/mb/run", "/srv/mb/state", "/srv/mb/secrets", "/srv/mb/logs", "/srv/mb/cache",
             "/srv/mb/run/daemon.lock", "/srv/mb/run/daemon.pid", "/srv/mb/state/upstreams/u", "/srv/mb/secrets/oauth/u.json"],
            [runtime.SocketsDir, runtime.SocketPath, runtime.RunDir, runtime.StateDir, runtime.SecretsDir, runtime.LogsDir, runtime.CacheDir,
             runtime.LockPath, runtime.PidPath, runtime.UpstreamStateDir("u"), runtime.OAuthTokenFile("u")]);
    }

    [Fact]
    public void Runtime_EnsureCreated_MakesEveryFolderForTheOwnerOnly()
    {
        var root = Path.Combine(Directory.CreateTempSubdirectory("mb-runtime-").FullName, "root");
        try
        {
            var runtime = new RuntimeModel(root);

            runtime.EnsureCreated();

            foreach (var dir in new[] { root, runtime.SocketsDir, runtime.RunDir, runtime.StateDir, runtime.SecretsDir, runtime.LogsDir, runtime.CacheDir })
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir));
            }
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(root)!, recursive: true);
        }
    }

    [Theory]
    [InlineData(ClientFormat.CodexToml, "~/.codex/config.toml")]
    [InlineData(ClientFormat.ClaudeJson, "~/.claude.json")]
    [InlineData(ClientFormat.ClaudeDesktop, "~/.config/Claude/claude_desktop_config.json")]
    [InlineData(ClientFormat.GeminiSettings, "~/.gemini/settings.json")]
    [InlineData(ClientFormat.Cursor, "~/.cursor/mcp.json")]
    [InlineData(ClientFormat.Vscode, "~/.config/Code/User/mcp.json")]
    [InlineData(ClientFormat.Opencode, "~/.config/opencode/opencode.json")]
    [InlineData(ClientFormat.McpSettingsJson, "~/.config/mcp/mcp_settings.json")]
    public void DefaultPath_IsTheClientsUserConfigOnLinux(ClientFormat format, string path) => Assert.Equal(path, ClientModel.DefaultPath(format));

    [Fact]
    public void ConnectorRule_MatchesByExactIdOrByNameInAnyCase()
    {
        var byName = new ConnectorRule(null, "GitHub", "r");
        var byId = new ConnectorRule("connector_1", null, "r");
        var both = new ConnectorRule("connector_1", "GitHub", "r");

        Assert.True(byName.Matches("other", "github"));
        Assert.False(byName.Matches("connector_1", null));
        Assert.True(byId.Matches("connector_1", "Anything"));
        Assert.False(byId.Matches("connector_2", null));
        Assert.False(byId.Matches(null, "connector_1"));
        Assert.Equal(("GitHub", "connector_1", "GitHub (connector_1)"), (byName.ToString(), byId.ToString(), both.ToString()));
        Assert.Equal("", new ConnectorRule(null, null, "r").ToString());
    }

    [Fact]
    public void Fingerprint_ChangesWithWhatWouldBeStarted_NotWithTheOrderItWasWritten()
    {
        string Of(string upstream) => Load($"upstreams:\n  u: {upstream}").FindUpstream("u")!.Fingerprint;
        var plain = Of("{ command: /bin/a, env: { A: '1', B: '2' } }");

        Assert.Matches("^[0-9a-f]{16}$", plain);
        Assert.Equal(plain, Of("{ command: /bin/a, env: { B: '2', A: '1' } }"));
        Assert.NotEqual(plain, Of("{ command: /bin/b, env: { A: '1', B: '2' } }"));
        Assert.NotEqual(plain, Of("{ command: /bin/a, args: [x], env: { A: '1', B: '2' } }"));
        Assert.NotEqual(plain, Of("{ command: /bin/a, env: { A: '1', B: '3' } }"));
        Assert.NotEqual(plain, Of("{ command: /bin/a, env: { A: '1' }, env_from: { B: HOST_B } }"));
        Assert.NotEqual(plain, Of("{ command: /bin/a, env: { A: '1' }, env_files: { B: '2' } }"));
        Assert.NotEqual(plain, Of("{ command: /bin/a, working_dir: /tmp, env: { A: '1', B: '2' } }"));
        Assert.NotEqual(Of("{ transport: http, url: 'https://a.example/mcp' }"), Of("{ transport: http, url: 'https://b.example/mcp' }"));
    }

    [Fact]
    public void EnabledUpstreams_AreTheProfilesOwnOrEveryEnabledOne()
    {
        var model = Load("profiles:\n  p: { upstreams: [b] }\nupstreams:\n  a: { command: /bin/a }\n  b: { command: /bin/b }\n  c: { command: /bin/c, mode: disabled }");

        Assert.Equal(["b"], model.EnabledUpstreams(model.Profiles["p"]).Select(u => u.Name));
        Assert.Equal(["a", "b"], model.EnabledUpstreams(null).Select(u => u.Name));
        Assert.Null(model.FindUpstream("nope"));
    }

    [Theory]
    [InlineData(7_200_000, "2h")]
    [InlineData(5_400_000, "90m")]
    [InlineData(3_600_500, "3600500ms")]
    [InlineData(60_000, "1m")]
    [InlineData(90_000, "90s")]
    [InlineData(1_000, "1s")]
    [InlineData(1_500, "1500ms")]
    [InlineData(250, "250ms")]
    [InlineData(0, "0ms")]
    public void Duration_IsWrittenInTheLargestWholeUnit(int milliseconds, string text) =>
        Assert.Equal(text, new Duration(TimeSpan.FromMilliseconds(milliseconds)).ToString());

    [Theory]
    [InlineData("30", 30_000)]
    [InlineData("250ms", 250)]
    [InlineData(" 10m ", 600_000)]
    [InlineData("2h", 7_200_000)]
    public void Duration_ReadsSecondsOrANumberWithAUnit(string text, int milliseconds)
    {
        Assert.True(Duration.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration.Value);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("1d")]
    [InlineData("1.5s")]
    [InlineData("")]
    public void Duration_RefusesAnythingElse(string text) => Assert.False(Duration.TryParse(text, out _));

    [Theory]
    [InlineData("30", 30_000)]
    [InlineData("0", 0)]
    [InlineData("\"250ms\"", 250)]
    public void Duration_FromJson_IsSecondsOrText(string json, int milliseconds)
    {
        var options = new JsonSerializerOptions { Converters = { new Duration.JsonConverter() } };

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), JsonSerializer.Deserialize<Duration>(json, options).Value);
    }

    [Theory]
    [InlineData("-5")]
    [InlineData("1.5")]
    [InlineData("\"soon\"")]
    [InlineData("true")]
    public void Duration_FromJson_RefusesWhatIsNotADuration(string json)
    {
        var options = new JsonSerializerOptions { Converters = { new Duration.JsonConverter() } };

        var ex = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Duration>(json, options));
        Assert.StartsWith("not a duration; write seconds (30) or a number with ms, s, m or h (10m)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigIssue_ReadsAsSeverityPathAndMessage()
    {
        Assert.Equal("error: upstreams.a: bad", ConfigIssue.Error("upstreams.a", "bad").ToString());
        Assert.Equal("warning: odd", ConfigIssue.Warning("", "odd").ToString());
    }

    [Theory]
    [InlineData("ghp_1234567", false)]       // a known prefix and only 7 more
    [InlineData("ghp_12345678", true)]       // a known prefix and 8 more
    [InlineData("ghp_1234567x", true)]
    [InlineData("sk-1234567", false)]        // prefix and only 7 more
    [InlineData("aB3dE5fG7hJ9kL1mN3pQ5rS", false)] // 23: too short to judge by entropy
    [InlineData("aB3dE5fG7hJ9kL1mN3pQ5rS7", true)] // 24, mixed classes, high entropy
    [InlineData("abcdefghijklmnopqrstuvwx", false)] // one character class
    [InlineData("aaaaaaaaaaaaBBBBBBBBBBBB", false)] // two classes, low entropy
    [InlineData("aB3dE5fG7hJ9 kL1mN3pQ5rS7", false)] // a space: prose, not a token
    [InlineData("aB3dE5fG7hJ9/kL1mN3pQ5rS7", false)] // a path
    [InlineData("aB3dE5fG7hJ9\\kL1mN3pQ5rS7", false)]
    [InlineData("12345678901234567890ABCD", true)] // digits and upper case
    public void LooksLikeSecret_KnownPrefixesAndLongRandomTokens(string value, bool secret) =>
        Assert.Equal(secret, SecretHeuristics.LooksLikeSecret(value));

    [Theory]
    [InlineData("mutating: true", MutatingSetting.True)]
    [InlineData("mutating: false", MutatingSetting.False)]
    [InlineData("mutating: auto", MutatingSetting.Auto)]
    [InlineData("", MutatingSetting.Auto)]
    public void Mutating_IsTrueFalseOrAuto(string setting, MutatingSetting expected) =>
        Assert.Equal(expected, Load($"upstreams:\n  u:\n    command: /bin/a\n    {setting}").FindUpstream("u")!.Mutating);
}
