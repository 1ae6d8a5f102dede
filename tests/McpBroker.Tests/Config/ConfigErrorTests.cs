using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>
/// One mistake at a time: each gives exactly one error, at the path of the mistake, saying what to write instead,
/// and nothing else (no cascade of follow-on errors, no warning).
/// </summary>
public sealed class ConfigErrorTests
{
    private static readonly Dictionary<string, string> s_env = new() { ["HOME"] = "/home/ada", ["TOKEN_VAR"] = "s3cr3t-value" };

    /// <summary>A valid config with <paramref name="section"/> (top-level YAML) added.</summary>
    private static ConfigLoadResult LoadWith(string section) => ConfigLoader.Load(
        $"schema_version: 1\nruntime: {{ root: /tmp/mb-errors }}\n{section}\n", "/etc/broker.yaml", s_env.GetValueOrDefault);

    private const string Upstream = "upstreams:\n  u:\n    command: /bin/true\n";
    private const string Remote = "upstreams:\n  r:\n    transport: http\n";

    [Theory]
    [InlineData("profiles:\n  \"bad name\": {}", "profiles.bad name", "a profile name uses only letters, digits, '_' and '-'")]
    [InlineData("telemetry: { otlp_endpoint: \"ftp://collector:4318\" }", "telemetry.otlp_endpoint", "'ftp://collector:4318' is not an http(s) URL, e.g. http://127.0.0.1:4318")]
    [InlineData("telemetry: { otlp_endpoint: \"not a url\" }", "telemetry.otlp_endpoint", "'not a url' is not an http(s) URL, e.g. http://127.0.0.1:4318")]
    [InlineData(Upstream + "    restart: { backoff: 0s }", "upstreams.u.restart.backoff", "must be more than 0")]
    [InlineData(Upstream + "    restart: { max_attempts: 0 }", "upstreams.u.restart.max_attempts", "must be at least 1")]
    [InlineData(Upstream + "    max_concurrency: 0", "upstreams.u.max_concurrency", "must be at least 1 (omit it for no limit)")]
    [InlineData(Upstream + "    max_queue: -1", "upstreams.u.max_queue", "must be 0 or more")]
    [InlineData(Upstream + "    serialize_calls: true\n    max_concurrency: 2", "upstreams.u.serialize_calls", "contradicts max_concurrency: 2; keep one")]
    [InlineData(Upstream + "    smoke: { query: \" \", tool: read }", "upstreams.u.smoke.query", "say what a model would search for to find the tool, e.g. query: \"remember a fact\"")]
    [InlineData(Upstream + "    smoke: { query: \"read a file\", tool: \"\" }", "upstreams.u.smoke.tool", "name the tool the search must find (the upstream's own name, without the prefix)")]
    [InlineData(Upstream + "    prefix: \"a.b\"", "upstreams.u.prefix", "'a.b' may use only letters, digits, '_' and '-'")]
    [InlineData(Upstream + "    working_dir: relative/dir", "upstreams.u.working_dir", "'relative/dir' is not an absolute path")]
    [InlineData(Upstream + "    url: https://example.com/mcp", "upstreams.u.url", "url is for transport: http or sse; this upstream is stdio")]
    [InlineData(Upstream + "    headers: { X-A: b }", "upstreams.u.headers", "headers is for transport: http or sse; this upstream is stdio")]
    [InlineData(Upstream + "    oauth: { client_id: app }", "upstreams.u.oauth", "oauth is for transport: http or sse; this upstream is stdio")]
    [InlineData(Remote + "    url: https://example.com/mcp\n    command: /bin/true", "upstreams.r.command", "command is for stdio upstreams; a ")]
    [InlineData(Remote + "    url: https://example.com/mcp\n    args: [a]", "upstreams.r.args", "args is for stdio upstreams; a ")]
    [InlineData(Remote + "    url: https://example.com/mcp\n    working_dir: /tmp", "upstreams.r.working_dir", "working_dir is for stdio upstreams; a ")]
    [InlineData(Remote + "    url: https://example.com/mcp\n    env: { A: b }", "upstreams.r.env", "env is for stdio upstreams; a ")]
    [InlineData(Upstream + "    env_from: { \"BAD-NAME\": HOME }", "upstreams.u.env_from.BAD-NAME", "'BAD-NAME' is not a valid environment variable name")]
    [InlineData(Upstream + "    env_files: { \"BAD-NAME\": token.txt }", "upstreams.u.env_files.BAD-NAME", "'BAD-NAME' is not a valid environment variable name")]
    [InlineData(Upstream + "    env: { A: x }\n    env_from: { A: HOME }", "upstreams.u", "'A' is set in more than one of env, env_from and env_files; keep one")]
    [InlineData(Upstream + "    env: { A: x }\n    env_files: { A: token.txt }", "upstreams.u", "'A' is set in more than one of env, env_from and env_files; keep one")]
    [InlineData(Upstream + "    env_from: { A: HOME }\n    env_files: { A: token.txt }", "upstreams.u", "'A' is set in more than one of env, env_from and env_files; keep one")]
    [InlineData(Remote + "    url: \"${UNSET_VAR}/mcp\"", "upstreams.r.url", "'$UNSET_VAR' is not set in the environment (write $$ for a literal '$')")]
    [InlineData(Remote + "    url: \"https://ada:pw@example.com/mcp\"", "upstreams.r.url", "the url carries a user name or password; remove it and send credentials in headers (from env_from or env_files)")]
    [InlineData(Remote + "    url: \"mailto:ada@example.com\"", "upstreams.r.url", "'mailto:ada@example.com' is not an absolute http:// or https:// URL")]
    [InlineData(Remote + "    url: https://example.com/mcp\n    headers: { \"Bad Header\": x }", "upstreams.r.headers.Bad Header", "'Bad Header' is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")]
    [InlineData(Remote + "    url: https://example.com/mcp\n    headers: { X-A: \"a\\nb\" }", "upstreams.r.headers.X-A", "a header value cannot contain a line break")]
    [InlineData(Remote + "    url: https://example.com/mcp\n    oauth: { client_id: app, client_secret_file: \"$UNSET_VAR\" }", "upstreams.r.oauth.client_secret_file", "'$UNSET_VAR' is not set in the environment (write $$ for a literal '$')")]
    [InlineData(Remote + "    url: https://example.com/mcp\n    oauth: { client_secret_file: secret.txt }", "upstreams.r.oauth.client_secret_file", "a client secret needs its client_id")]
    [InlineData("clients:\n  \"bad name\": { format: claude-json }", "clients.bad name", "a client name uses only letters, digits, '_' and '-'")]
    [InlineData("clients:\n  c: { format: claude-json, profile: ghost }", "clients.c.profile", "no profile named 'ghost'; defined: default")]
    [InlineData("clients:\n  c: { format: claude-json, entry_name: \"a b\" }", "clients.c.entry_name", "'a b' may use only letters, digits, '_' and '-' (every client accepts those as a server name)")]
    [InlineData("clients:\n  c: { format: claude-json, config_path: \"$UNSET_VAR/x.json\" }", "clients.c.config_path", "'$UNSET_VAR' is not set in the environment (write $$ for a literal '$')")]
    [InlineData("clients:\n  c: { format: claude-json, config_path: relative.json }", "clients.c.config_path", "'relative.json' is not an absolute path; write it from '/' or '~/'")]
    [InlineData("profiles:\n  p: { max_tools: many }", "profiles.p.max_tools", "expected a whole number, found the string 'many'")]
    [InlineData("profiles:\n  p: { compact_tools_enabled: 3 }", "profiles.p.compact_tools_enabled", "expected true or false, found '3'")]
    [InlineData(Upstream + "    args: just-one", "upstreams.u.args", "expected a list, found the string 'just-one'")]
    [InlineData(Upstream + "    env: [A, B]", "upstreams.u.env", "expected a mapping of keys, found a list")]
    [InlineData(Upstream + "    purpose: { a: 1 }", "upstreams.u.purpose", "expected a string, found a mapping")]
    [InlineData(Upstream + "    tags: true", "upstreams.u.tags", "expected a list, found the boolean true")]
    [InlineData(Upstream + "    idle_timeout: soon", "upstreams.u.idle_timeout", "'soon' is not a duration; write seconds (30) or a number with ms, s, m or h (10m)")]
    public void Load_OneMistake_IsOneErrorAtItsPathSayingWhatToWrite(string section, string path, string message)
    {
        var result = LoadWith(section);

        Assert.False(result.IsValid);
        var error = Assert.Single(result.Issues);
        Assert.Equal(IssueSeverity.Error, error.Severity);
        Assert.Equal(path, error.Path);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ARootWhoseSocketPathIsTooLong_SaysToChooseAShorterRoot()
    {
        var root = "/tmp/" + new string('r', 100);
        var result = ConfigLoader.Load($"schema_version: 1\nruntime: {{ root: {root} }}\n", "/etc/broker.yaml", s_env.GetValueOrDefault);

        var error = Assert.Single(result.Errors);
        Assert.Equal("runtime.root", error.Path);
        Assert.Equal($"the socket path '{root}/sockets/broker.sock' is longer than the 107 bytes a Unix socket allows; choose a shorter root (line 2, column 12)", error.Message);
    }

    [Fact]
    public void Load_ARootWithAnUnsetVariable_NamesTheVariable()
    {
        var result = ConfigLoader.Load("schema_version: 1\nruntime: { root: \"$UNSET_VAR/mb\" }\n", "/etc/broker.yaml", s_env.GetValueOrDefault);

        var error = Assert.Single(result.Errors);
        Assert.Equal("runtime.root", error.Path);
        Assert.Contains("'$UNSET_VAR' is not set in the environment (write $$ for a literal '$')", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ARootWithAnUnsetHome_SaysHomeIsNeeded()
    {
        var result = ConfigLoader.Load("schema_version: 1\nruntime: { root: \"~/mb\" }\n", "/etc/broker.yaml", _ => null);

        var error = Assert.Single(result.Errors);
        Assert.Equal("runtime.root", error.Path);
        Assert.Equal("'~' needs HOME, which is not set (line 2, column 12)", error.Message);
    }

    [Theory]
    [InlineData("/tmp/mb\\nroot", 0x0A)]
    [InlineData("/tmp/mb\\e[31m", 0x1B)]
    [InlineData("/tmp/\\tmb", 0x09)]
    public void Load_ARootWithAControlCharacter_IsRefusedNamingIt(string root, int control)
    {
        var result = ConfigLoader.Load($"schema_version: 1\nruntime: {{ root: \"{root}\" }}\n", "/etc/broker.yaml", s_env.GetValueOrDefault);

        var error = Assert.Single(result.Errors);
        Assert.Equal("runtime.root", error.Path);
        Assert.StartsWith($"contains the control character U+{control:X4}; write the path without control characters", error.Message, StringComparison.Ordinal);
    }
}
