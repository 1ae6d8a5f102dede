using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace McpBroker.Config;

// What the user wrote, shaped by broker.yaml. Nothing here is validated beyond its JSON Schema;
// ConfigValidator turns it into a BrokerModel. The JSON Schema is generated from these records
// (ConfigSchema), so a property added here is a key users may write.

[Description("mcp-broker configuration (broker.yaml).")]
public sealed record BrokerConfig
{
    [Required, Description("Version of this file's format. Must be 1.")]
    public int SchemaVersion { get; init; }

    [Description("Where the broker keeps its sockets, state, logs, secrets and caches.")]
    public RuntimeConfig? Runtime { get; init; }

    [Description("Daemon-wide defaults.")]
    public BrokerSettingsConfig? Broker { get; init; }

    [Description("Named views of the upstreams; a client connects with --profile NAME. Without any, a 'default' profile exists.")]
    public Dictionary<string, ProfileConfig?>? Profiles { get; init; }

    [Description("Upstream MCP servers the daemon owns, by name. The name is the default tool prefix.")]
    public Dictionary<string, UpstreamConfig?>? Upstreams { get; init; }

    [Description("MCP clients whose config files mcp-broker client render/apply manage, by name.")]
    public Dictionary<string, ClientConfig?>? Clients { get; init; }

    [Description("OpenTelemetry: metrics and traces exported over OTLP, and Prometheus text at the status page's /metrics. Off when absent.")]
    public TelemetryConfig? Telemetry { get; init; }
}

public sealed record TelemetryConfig
{
    [Description("OTLP receiver to export metrics and traces to, e.g. http://127.0.0.1:4318 (OTLP/HTTP: /v1/metrics and /v1/traces are appended) or http://127.0.0.1:4317 with otlp_protocol: grpc. No credentials in the URL. Off when absent.")]
    public string? OtlpEndpoint { get; init; }

    [Description("http_protobuf (default) or grpc.")]
    public OtlpProtocolSetting? OtlpProtocol { get; init; }

    [Description("How often metrics are exported over OTLP (e.g. 15s). Default 60s.")]
    public Duration? ExportInterval { get; init; }

    [Description("true: the status page (broker.status_page, which must be set) also serves the metrics as Prometheus text at /metrics, behind the same token. Default false.")]
    public bool? Prometheus { get; init; }
}

[JsonConverter(typeof(SnakeCaseEnumConverter<OtlpProtocolSetting>))]
public enum OtlpProtocolSetting
{
    HttpProtobuf,
    Grpc,
}

[JsonConverter(typeof(KebabCaseEnumConverter<ClientFormat>))]
public enum ClientFormat
{
    CodexToml,
    ClaudeJson,
    ClaudeDesktop,
    GeminiSettings,
    Cursor,
    Vscode,
    Opencode,
    McpSettingsJson,
    Copilot,
    Qwen,
    Windsurf,
    WindsurfJetbrains,
    Zed,
    Cline,
    RooCode,
    Kiro,
    Goose,
    LmStudio,
    VscodeInsiders,
    VscodeServer,
    Amp,
    Trae,
    Antigravity,
    Kimi,
    Factory,
    Qoder,
}

public sealed record ClientConfig
{
    [Required, Description("The client's config file format: one of the names 'mcp-broker client detect' lists (codex-toml, claude-json, claude-desktop, gemini-settings, cursor, vscode, opencode, copilot, qwen, windsurf, zed, cline, kiro, goose, lm-studio, …) or mcp-settings-json for any client with an mcpServers file.")]
    public ClientFormat? Format { get; init; }

    [Description("The client's config file (~ and $VAR expand). Default: the format's usual user-scope file.")]
    public string? ConfigPath { get; init; }

    [Description("The name of the broker's server entry in the client. Default mcp-broker.")]
    public string? EntryName { get; init; }

    [Description("The profile this client connects with. Default: default.")]
    public string? Profile { get; init; }

    [Description("gemini-settings and qwen only: server names to put in mcp.allowed (Gemini CLI and Qwen Code start only the servers listed there once the list exists). The broker's entry is always added to an existing list; a file without one gets one only when this is set.")]
    public List<string>? McpAllowedServers { get; init; }

    [Description("codex-toml only: hosted apps (connectors) whose tools the broker already serves: 'mcp-broker client apps-policy NAME' disables them in config.toml and removes their tools from Codex's caches.")]
    public CodexAppsPolicyConfig? CodexAppsPolicy { get; init; }
}

public sealed record CodexAppsPolicyConfig
{
    [Description("false: the policy is kept but apps-policy changes nothing and measure does not count it. Default true.")]
    public bool? Enabled { get; init; }

    [Description("Codex's app directory cache files (globs in the file name; ~ and $VAR expand). Default: cache/codex_app_directory/*.json beside the client's config_path.")]
    public List<string>? AppDirectory { get; init; }

    [Description("Codex's hosted-app tools cache files (globs in the file name; ~ and $VAR expand). Default: cache/codex_apps_tools/*.json beside the client's config_path.")]
    public List<string>? ToolsCache { get; init; }

    [Description("Connectors to disable, each by id (as Codex's files spell it, e.g. connector_…) or by name (its display name, any case), with the reason.")]
    public List<DisableConnectorConfig>? DisableConnectors { get; init; }
}

public sealed record DisableConnectorConfig
{
    [Description("The connector's id, e.g. connector_0123abcd…")]
    public string? Id { get; init; }

    [Description("The connector's display name, e.g. GitHub (compared without regard to case).")]
    public string? Name { get; init; }

    [Required, Description("Why it is disabled, e.g. \"the broker serves github\"; shown by apps-policy.")]
    public string? Reason { get; init; }
}

public sealed record RuntimeConfig
{
    [Description("Runtime root directory (created 0700). Default ~/mcp/mcp-broker.")]
    public string? Root { get; init; }
}

public sealed record BrokerSettingsConfig
{
    [Description("Stop an upstream after it has had no request in flight for this long (e.g. 10m). 0 never stops it. Default 10m.")]
    public Duration? IdleTimeout { get; init; }

    [Description("Default time an upstream may take to start and answer initialize. Default 60s.")]
    public Duration? StartTimeout { get; init; }

    [Description("Default time a tool call may take. Default 120s.")]
    public Duration? CallTimeout { get; init; }

    [Description("The longest JSON-RPC message, in bytes, any reader takes: a client's (through the shim, either way, and the HTTP front door) and an upstream's (its stdout). A longer one is dropped as it streams in, never held whole, and its request answered with an error; the session goes on. 65536 to 1073741824. Default 16777216 (16 MiB).")]
    public int? MaxMessageBytes { get; init; }

    [Description("The longest query search_tools takes, in characters; a longer one is refused with an error saying so. 16 to 100000. Default 1000.")]
    public int? MaxSearchQueryChars { get; init; }

    [Description("The HTTP front door: the daemon also serves MCP over streamable HTTP, one URL per profile (http://127.0.0.1:PORT/mcp/PROFILE), for clients that prefer a URL to a command. Off when absent.")]
    public HttpFrontDoorConfig? Http { get; init; }

    [Description("The status page: a live web view of upstreams, sessions and recent calls at http://127.0.0.1:PORT/, behind a token. Off when absent.")]
    public StatusPageConfig? StatusPage { get; init; }
}

public sealed record StatusPageConfig
{
    [Description("The port to serve the page on, on 127.0.0.1 only (1-65535).")]
    public int? Port { get; init; }

    [Description("File with the page's access token (open http://127.0.0.1:PORT/?token=TOKEN once, or send Authorization: Bearer TOKEN); relative paths are under {runtime.secrets_dir}. Created with a random token (mode 0600) when missing. Default: status-token.")]
    public string? TokenFile { get; init; }
}

public sealed record HttpFrontDoorConfig
{
    [Description("Where to listen: 127.0.0.1:PORT (any 127.x.x.x address, or localhost; loopback only).")]
    public string? Listen { get; init; }

    [Description("File with the bearer token clients send (Authorization: Bearer TOKEN); relative paths are under {runtime.secrets_dir}. Created with a random token (mode 0600) when missing. Default: http-token. A profile with require_token_file takes its own token instead.")]
    public string? TokenFile { get; init; }

    [Description("Browser origins allowed to call besides loopback ones (e.g. https://inspector.example). A request with any other Origin header is refused, as is one whose Host is not a loopback name (DNS rebinding). Default: none.")]
    public List<string>? AllowedOrigins { get; init; }
}

[JsonConverter(typeof(SnakeCaseEnumConverter<ToolNameStyle>))]
public enum ToolNameStyle
{
    Dotted,
    Snake,
}

public sealed record ProfileConfig
{
    [Description("What the profile is for (shown by status).")]
    public string? Description { get; init; }

    [Description("true (default): tools/list shows the four broker tools. false: the namespaced upstream tools themselves.")]
    public bool? CompactToolsEnabled { get; init; }

    [Description("Most tools a raw profile (compact_tools_enabled: false) may list. Default 200.")]
    public int? MaxTools { get; init; }

    [Description("dotted (default): broker.search_tools, prefix.tool. snake: broker_search_tools, prefix__tool.")]
    public ToolNameStyle? BrokerToolNameStyle { get; init; }

    [Description("Upstreams this profile sees, in addition to upstreams that list this profile. Omitted with no upstream listing the profile: every upstream open to all profiles.")]
    public List<string>? Upstreams { get; init; }

    [Description("A file (mode 0600; relative paths under {runtime.secrets_dir}) whose content a client must present to use this profile: mcp-broker-client --token-file PATH.")]
    public string? RequireTokenFile { get; init; }

    [Description("Upstreams (glob patterns over names, e.g. memory or git*) whose mutating tools this profile may see and call. Default: none.")]
    public List<string>? AllowMutatingUpstreams { get; init; }

    [Description("Mutating tools this profile may see and call: glob patterns over canonical names (prefix.tool, e.g. memory.create_* or *.write_file).")]
    public List<string>? AllowMutatingTools { get; init; }

    [Description("What a raw view over max_tools does: error (default) fails tools/list naming the budget; compact lists the four broker tools instead.")]
    public OverBudgetAction? OnOverBudget { get; init; }

    [Description("Tools per tools/list page of a raw view; the rest follow with nextCursor. 0: one page. Default 100.")]
    public int? ToolsPageSize { get; init; }

    [Description("Pin the tool definitions of every upstream this profile sees (see upstreams.NAME.pin_tools); the stricter of the two settings applies.")]
    public PinSetting? PinTools { get; init; }

    [Description("true: a raw view of exactly one upstream with nothing renamed (tools, prompts and resource URIs as the upstream names them), so a client sees the broker as that server. Default false.")]
    public bool? Transparent { get; init; }
}

[JsonConverter(typeof(SnakeCaseEnumConverter<OverBudgetAction>))]
public enum OverBudgetAction
{
    Error,
    Compact,
}

/// <summary>Written <c>true</c>, <c>false</c> or <c>auto</c>.</summary>
[JsonConverter(typeof(MutatingSettingConverter))]
public enum MutatingSetting
{
    Auto,
    True,
    False,
}

/// <summary>Written <c>false</c>, <c>trust_on_first_use</c> or <c>true</c>: ordered from least to most strict, so the stricter of two settings is the larger.</summary>
[JsonConverter(typeof(PinSettingConverter))]
public enum PinSetting
{
    False,
    TrustOnFirstUse,
    True,
}

[JsonConverter(typeof(SnakeCaseEnumConverter<UpstreamTransport>))]
public enum UpstreamTransport
{
    Stdio,
    Http,
    Sse,
}

[JsonConverter(typeof(SnakeCaseEnumConverter<UpstreamMode>))]
public enum UpstreamMode
{
    Shared,
    PerSession,
    PerCall,
    Disabled,
}

public sealed record UpstreamConfig
{
    [Description("How the broker talks to the upstream. stdio (default): a local process; http: streamable HTTP at url; sse: the older HTTP+SSE transport at url.")]
    public UpstreamTransport? Transport { get; init; }

    [Description("Executable to start (stdio). Placeholders, $VAR and ~ expand.")]
    public string? Command { get; init; }

    [Description("Arguments, passed without a shell. Placeholders, $VAR and ~ expand.")]
    public List<string>? Args { get; init; }

    [Description("Working directory. Default {upstream.state_dir}.")]
    public string? WorkingDir { get; init; }

    [Description("Literal, non-secret environment values (placeholders expand). Secrets go in env_from or env_files.")]
    public Dictionary<string, string>? Env { get; init; }

    [Description("TARGET: HOST_VARIABLE_NAME — the value is read from the daemon's environment when the upstream starts.")]
    public Dictionary<string, string>? EnvFrom { get; init; }

    [Description("TARGET: path of a file (mode 0600, relative paths under {runtime.secrets_dir}) whose content is the value.")]
    public Dictionary<string, string>? EnvFiles { get; init; }

    [Description("Endpoint of an http or sse upstream (http:// or https://). Placeholders and $VAR expand; no credentials in it: use headers.")]
    public string? Url { get; init; }

    [Description("HTTP headers sent to an http or sse upstream. Values are templates over the upstream's env_from and env_files keys, e.g. Authorization: \"Bearer ${API_TOKEN}\"; no literal secrets.")]
    public Dictionary<string, string>? Headers { get; init; }

    [Description("OAuth 2.1 for an http or sse upstream: 'mcp-broker auth login NAME' gets tokens (authorization code + PKCE, loopback redirect) and stores them 0600 under {runtime.secrets_dir}/oauth/.")]
    public OAuthConfig? Oauth { get; init; }

    [Description("shared (default): one process for every session. per_session: one per client session, stopped when it ends. per_call: a fresh process per call (stateless servers). disabled: kept in the file, never started or shown.")]
    public UpstreamMode? Mode { get; init; }

    [Description("Tool name prefix (letters, digits, _ and -). Default: the upstream's name.")]
    public string? Prefix { get; init; }

    [Description("Profiles that see this upstream. Omitted: every profile that does not list its upstreams explicitly.")]
    public List<string>? Profiles { get; init; }

    [Description("A smoke probe for 'mcp-broker profile validate': a search that must find one of the upstream's tools, with arguments that must fit its schema, and whether to call it.")]
    public SmokeConfig? Smoke { get; init; }

    [Description("One line on what the upstream is for; searched by broker.search_tools.")]
    public string? Purpose { get; init; }

    [Description("Words that help search find this upstream's tools.")]
    public List<string>? Tags { get; init; }

    [Description("Overrides broker.idle_timeout for this upstream.")]
    public Duration? IdleTimeout { get; init; }

    [Description("Start and call time limits for this upstream.")]
    public TimeoutsConfig? Timeouts { get; init; }

    [Description("How crashes are retried: exponential backoff, then an open circuit after max_attempts failures in a row.")]
    public RestartConfig? Restart { get; init; }

    [Description("Most requests in flight to one instance at a time; more wait in a queue. Default: no limit.")]
    public int? MaxConcurrency { get; init; }

    [Description("Most requests that may wait for a slot when max_concurrency is reached; beyond it calls fail with upstream_busy. Default 64.")]
    public int? MaxQueue { get; init; }

    [Description("true: one request at a time (max_concurrency: 1).")]
    public bool? SerializeCalls { get; init; }

    [Description("Most of this upstream's tools the broker keeps (the first, as listed); the rest are left out, with a warning in status. Default 1000.")]
    public int? MaxTools { get; init; }

    [Description("Largest tool definition kept, in bytes of JSON: a longer description is cut to fit, a definition too big even without it is left out, each with a warning in status. Default 262144 (256 KiB).")]
    public int? MaxToolBytes { get; init; }

    [Description("Resource ceilings (stdio, Linux): an upstream whose memory or CPU, summed over its processes, stays over a ceiling for 'over' is restarted once its calls in flight end. Default: none.")]
    public LimitsConfig? Limits { get; init; }

    [Description("Whether the upstream's tools change things: auto (default) reads each tool's annotations (only readOnlyHint: true is read-only); true: all mutating; false: all read-only. Mutating tools are hidden from profiles that do not allow them.")]
    public MutatingSetting? Mutating { get; init; }

    [Description("Pin tool definitions against silent changes: true: a tool is visible only once approved (mcp-broker tools approve); trust_on_first_use: approved when first seen; false (default). A changed tool is quarantined until approved again.")]
    public PinSetting? PinTools { get; init; }

    [Description("Per tool (the upstream's own tool name): hide it, replace its description, or give default arguments.")]
    public Dictionary<string, ToolOverrideConfig?>? Tools { get; init; }
}

public sealed record LimitsConfig
{
    [Description("Resident memory ceiling of the upstream's processes together, e.g. 512MiB or 2GiB (K, M, G and KiB, MiB, GiB are 1024-based; KB, MB, GB 1000-based). Default: none.")]
    public string? Memory { get; init; }

    [Description("CPU ceiling in percent of one core, summed over the upstream's processes (200: two cores busy). Default: none.")]
    public int? CpuPercent { get; init; }

    [Description("How long usage must stay over a ceiling before the upstream is restarted. Default 60s.")]
    public Duration? Over { get; init; }
}

public sealed record OAuthConfig
{
    [Description("A client id registered with the authorization server. Omitted: the broker registers itself (dynamic client registration).")]
    public string? ClientId { get; init; }

    [Description("File (0600, relative paths under {runtime.secrets_dir}) holding the client secret of a confidential client.")]
    public string? ClientSecretFile { get; init; }

    [Description("Scopes to request. Omitted: those the server advertises.")]
    public List<string>? Scopes { get; init; }

    [Description("Loopback port for the login redirect (http://127.0.0.1:PORT/callback). Default: any free port; set it when client_id was registered with a fixed redirect URI.")]
    public int? RedirectPort { get; init; }
}

public sealed record SmokeConfig
{
    [Description("What a model would search for to find the tool, e.g. \"remember a fact\".")]
    public string? Query { get; init; }

    [Description("The upstream's own name of the tool the search must return.")]
    public string? Tool { get; init; }

    [Description("Arguments for the tool; checked against its input schema.")]
    public Dictionary<string, JsonElement>? Arguments { get; init; }

    [Description("true: also call the tool with the arguments (choose a harmless, read-only one). Default false.")]
    public bool? Call { get; init; }
}

public sealed record ToolOverrideConfig
{
    [Description("true: no profile sees or calls this tool.")]
    public bool? Hidden { get; init; }

    [Description("Replaces the tool's description everywhere it is shown and searched.")]
    public string? Description { get; init; }

    [Description("Arguments added to every call that does not pass them itself.")]
    public Dictionary<string, JsonElement>? Defaults { get; init; }

    [Description("Overrides the upstream's mutating setting for this tool: true (changes things) or false (read-only).")]
    public bool? Mutating { get; init; }

    [Description("Overrides the tool's idempotentHint: true lets the broker retry a call that an http/sse upstream answered with HTTP 429 or 5xx.")]
    public bool? Idempotent { get; init; }
}

public sealed record RestartConfig
{
    [Description("Failures in a row before the circuit opens. Default 5.")]
    public int? MaxAttempts { get; init; }

    [Description("Wait before the second restart; doubles each time. Default 1s.")]
    public Duration? Backoff { get; init; }

    [Description("Longest wait between restarts. Default 30s.")]
    public Duration? MaxBackoff { get; init; }

    [Description("How long an open circuit stays open before the next request may try again. Default 60s.")]
    public Duration? Cooldown { get; init; }
}

public sealed record TimeoutsConfig
{
    [Description("Time to start and answer initialize. Overrides broker.start_timeout.")]
    public Duration? Start { get; init; }

    [Description("Time a tool call may take. Overrides broker.call_timeout.")]
    public Duration? Call { get; init; }

    [Description("TOOL: time limit for that tool's calls (the upstream's own tool name).")]
    public Dictionary<string, Duration>? Tools { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    Converters = [typeof(Duration.JsonConverter)])]
[JsonSerializable(typeof(BrokerConfig))]
internal sealed partial class ConfigJsonContext : JsonSerializerContext;

/// <summary>A setting written as a YAML boolean or as one word: <c>true</c> and <c>false</c> map to the members of those names.</summary>
internal abstract class BoolOrWordConverter<T>(params string[] words) : JsonConverter<T>
    where T : struct, Enum
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.TokenType switch
        {
            JsonTokenType.True => "true",
            JsonTokenType.False => "false",
            JsonTokenType.String => reader.GetString(),
            _ => null,
        };
        var index = text is null ? -1 : Array.IndexOf(words, text);
        return index >= 0
            ? Enum.GetValues<T>().Single(v => JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString()) == words[index])
            : throw new JsonException($"expected one of {string.Join(", ", words)}");
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        var word = JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
        switch (word)
        {
            case "true":
                writer.WriteBooleanValue(true);
                break;
            case "false":
                writer.WriteBooleanValue(false);
                break;
            default:
                writer.WriteStringValue(word);
                break;
        }
    }
}

internal sealed class MutatingSettingConverter() : BoolOrWordConverter<MutatingSetting>("true", "false", "auto");

internal sealed class PinSettingConverter() : BoolOrWordConverter<PinSetting>("true", "false", "trust_on_first_use");

/// <summary>Enum values spelled with hyphens, as client format names are: <c>codex-toml</c>.</summary>
internal sealed class KebabCaseEnumConverter<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false)
    where T : struct, Enum;

/// <summary>Enum values as the YAML spells them: <c>per_session</c>, not <c>PerSession</c>.</summary>
internal sealed class SnakeCaseEnumConverter<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false)
    where T : struct, Enum;
