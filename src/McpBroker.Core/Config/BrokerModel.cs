using System.Collections.Frozen;
using System.Text;

namespace McpBroker.Config;

// Validated, resolved and immutable: what the daemon runs on. Built only by ConfigValidator.

public sealed record BrokerModel(
    string SourcePath,
    RuntimeModel Runtime,
    BrokerSettingsModel Settings,
    FrozenDictionary<string, ProfileModel> Profiles,
    IReadOnlyList<UpstreamModel> Upstreams,
    IReadOnlyList<ConfigIssue> Warnings)
{
    public UpstreamModel? FindUpstream(string name) => Upstreams.FirstOrDefault(u => u.Name == name);

    /// <summary>The upstreams a profile sees that are not disabled (every enabled upstream without a profile).</summary>
    public IReadOnlyList<UpstreamModel> EnabledUpstreams(ProfileModel? profile) =>
        [.. (profile?.Upstreams.Select(FindUpstream).OfType<UpstreamModel>() ?? Upstreams).Where(u => u.Mode != UpstreamMode.Disabled)];

    /// <summary>The clients whose config files the CLI manages, by name.</summary>
    public FrozenDictionary<string, ClientModel> Clients { get; init; } = FrozenDictionary<string, ClientModel>.Empty;

    /// <summary>OTLP export and the Prometheus endpoint; null when off.</summary>
    public TelemetryModel? Telemetry { get; init; }
}

/// <summary>Where metrics and traces go: an OTLP receiver (null: none), and whether the status page serves /metrics.</summary>
public sealed record TelemetryModel(Uri? OtlpEndpoint, OtlpProtocolSetting OtlpProtocol, TimeSpan ExportInterval, bool Prometheus)
{
    public static readonly TimeSpan DefaultExportInterval = TimeSpan.FromSeconds(60);
}

/// <summary>The status page's listener: 127.0.0.1 only, and the file holding its access token.</summary>
public sealed record StatusPageModel(System.Net.IPEndPoint Listen, string TokenFile)
{
    public const string DefaultTokenFile = "status-token";

    public string Url => $"http://{Listen}/";
}

/// <summary>One managed client: where its config file is, and the broker entry it gets.</summary>
public sealed record ClientModel(string Name, ClientFormat Format, string ConfigPath, string EntryName, string Profile, IReadOnlyList<string>? McpAllowedServers)
{
    public const string DefaultEntryName = "mcp-broker";

    /// <summary>codex-toml only: the hosted-app policy, when the config has one.</summary>
    public CodexAppsPolicyModel? CodexAppsPolicy { get; init; }

    /// <summary>The client's usual user-scope config file, relative to the home directory.</summary>
    public static string DefaultPath(ClientFormat format) => format switch
    {
        ClientFormat.CodexToml => "~/.codex/config.toml",
        ClientFormat.ClaudeJson => "~/.claude.json",
        ClientFormat.ClaudeDesktop => OperatingSystem.IsMacOS() ? "~/Library/Application Support/Claude/claude_desktop_config.json" : "~/.config/Claude/claude_desktop_config.json",
        ClientFormat.GeminiSettings => "~/.gemini/settings.json",
        ClientFormat.Cursor => "~/.cursor/mcp.json",
        ClientFormat.Vscode => AppSupport("Code/User/mcp.json"),
        ClientFormat.Opencode => "~/.config/opencode/opencode.json",
        ClientFormat.Copilot => "~/.copilot/mcp-config.json",
        ClientFormat.Qwen => "~/.qwen/settings.json",
        ClientFormat.Windsurf => "~/.codeium/windsurf/mcp_config.json",
        ClientFormat.WindsurfJetbrains => "~/.codeium/mcp_config.json",
        ClientFormat.Zed => "~/.config/zed/settings.json",
        ClientFormat.Cline => AppSupport("Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"),
        ClientFormat.RooCode => AppSupport("Code/User/globalStorage/rooveterinaryinc.roo-cline/settings/mcp_settings.json"),
        ClientFormat.Kiro => "~/.kiro/settings/mcp.json",
        ClientFormat.Goose => "~/.config/goose/config.yaml",
        ClientFormat.LmStudio => "~/.lmstudio/mcp.json",
        ClientFormat.VscodeInsiders => AppSupport("Code - Insiders/User/mcp.json"),
        ClientFormat.VscodeServer => "~/.vscode-server/data/User/mcp.json",
        ClientFormat.Amp => "~/.config/amp/settings.json",
        ClientFormat.Trae => AppSupport("Trae/User/mcp.json"),
        ClientFormat.Antigravity => "~/.gemini/antigravity/mcp_config.json",
        ClientFormat.Kimi => "~/.kimi/mcp.json",
        ClientFormat.Factory => "~/.factory/mcp.json",
        ClientFormat.Qoder => "~/.qoder/mcp.json",
        _ => "~/.config/mcp/mcp_settings.json",
    };

    /// <summary>An editor's per-user folder: ~/Library/Application Support on macOS, ~/.config elsewhere.</summary>
    private static string AppSupport(string rest) => (OperatingSystem.IsMacOS() ? "~/Library/Application Support/" : "~/.config/") + rest;
}

/// <summary>
/// Codex hosted apps (connectors) to switch off: the file-name globs of Codex's app directory and tools-cache files
/// (absolute, expanded) and the connectors, each matched by id or by name.
/// </summary>
public sealed record CodexAppsPolicyModel(bool Enabled, IReadOnlyList<string> AppDirectory, IReadOnlyList<string> ToolsCache, IReadOnlyList<ConnectorRule> DisableConnectors);

/// <summary>One connector to disable: by id (exact) or by display name (any case), and why.</summary>
public sealed record ConnectorRule(string? Id, string? Name, string Reason)
{
    public bool Matches(string? id, string? name) =>
        (Id is not null && id == Id) || (Name is not null && name is not null && string.Equals(name, Name, StringComparison.OrdinalIgnoreCase));

    public override string ToString() => Id is not null && Name is not null ? $"{Name} ({Id})" : Id ?? Name ?? "";
}

public sealed record RuntimeModel(string Root)
{
    public const string DefaultRoot = "~/mcp/mcp-broker";

    public string SocketsDir => Path.Combine(Root, "sockets");
    public string SocketPath => Path.Combine(SocketsDir, "broker.sock");
    public string RunDir => Path.Combine(Root, "run");
    public string StateDir => Path.Combine(Root, "state");
    public string SecretsDir => Path.Combine(Root, "secrets");
    public string LogsDir => Path.Combine(Root, "logs");
    public string CacheDir => Path.Combine(Root, "cache");
    public string LockPath => Path.Combine(RunDir, "daemon.lock");
    public string PidPath => Path.Combine(RunDir, "daemon.pid");

    public string UpstreamStateDir(string upstream) => Path.Combine(StateDir, "upstreams", upstream);

    /// <summary>Where <c>mcp-broker auth login</c> keeps an upstream's OAuth tokens (0600).</summary>
    public string OAuthTokenFile(string upstream) => Path.Combine(SecretsDir, "oauth", upstream + ".json");

    /// <summary>Creates the root and its folders with mode 0700 (owner only); <see cref="RuntimeRootException"/> saying why it cannot.</summary>
    public void EnsureCreated()
    {
        foreach (var dir in new[] { Root, SocketsDir, RunDir, StateDir, SecretsDir, LogsDir, CacheDir })
        {
            try
            {
                Directory.CreateDirectory(dir);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new RuntimeRootException($"cannot create the runtime folder {dir}: {ex.Message.TrimEnd('.')}; set runtime.root to a folder this user can create and write");
            }
        }
    }
}

/// <summary>An upstream's ceilings: resident memory in bytes and CPU in percent of one core (null: none), and how long usage may stay over one.</summary>
public sealed record ResourceLimits(long? MemoryBytes, int? CpuPercent, TimeSpan Over)
{
    public static readonly TimeSpan DefaultOver = TimeSpan.FromSeconds(60);

    /// <summary>Reads 512MiB, 2G, 1.5GiB, 300MB: K/M/G and KiB/MiB/GiB are 1024-based, KB/MB/GB 1000-based, a bare number is bytes.</summary>
    public static long? ParseSize(string text)
    {
        var match = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^([0-9]+(?:\.[0-9]+)?)\s*(B|K|KB|KiB|M|MB|MiB|G|GB|GiB|T|TB|TiB)?$", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        if (!match.Success || !double.TryParse(match.Groups[1].Value, System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }

        var unit = match.Groups[2].Value.ToUpperInvariant();
        var power = unit.Length == 0 || unit == "B" ? 0 : "KMGT".IndexOf(unit[0], StringComparison.Ordinal) + 1;
        var bytes = n * Math.Pow(unit.EndsWith("IB", StringComparison.Ordinal) || unit.Length == 1 ? 1024 : 1000, power);
        return bytes is >= 1 and < long.MaxValue ? (long)bytes : null;
    }

    /// <summary>1.5 GiB, 300 MiB: what status and logs show.</summary>
    public static string FormatSize(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.#} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.#} MiB",
        _ => $"{bytes / 1024.0:0.#} KiB",
    };
}

/// <summary>The runtime root (or one of its folders) cannot be created or made private; the message says which and why.</summary>
public sealed class RuntimeRootException(string message) : IOException(message);

public sealed record ToolOverride(bool Hidden, string? Description, IReadOnlyDictionary<string, System.Text.Json.JsonElement> Defaults)
{
    /// <summary>Overrides the upstream's mutating setting for this tool; null: the upstream's setting decides.</summary>
    public bool? Mutating { get; init; }

    /// <summary>Overrides the tool's idempotentHint; null: the annotation decides.</summary>
    public bool? Idempotent { get; init; }
}

/// <summary>An http/sse upstream's endpoint and the headers it gets; header values are templates over secret keys.</summary>
public sealed record RemoteModel(Uri Url, FrozenDictionary<string, string> Headers, OAuthModel? OAuth)
{
    /// <summary>The URL without query or fragment: what logs and status show.</summary>
    public string DisplayUrl => Url.GetLeftPart(UriPartial.Path);

    /// <summary>
    /// The url as configured when it holds <c>${KEY}</c> references to env_from/env_files keys (a credential the server
    /// takes in its query): filled in at connect time; <see cref="Url"/> then has a marker in their place.
    /// </summary>
    public string? UrlTemplate { get; init; }
}

/// <summary>OAuth settings of a remote upstream; the tokens live in <see cref="TokenFile"/>.</summary>
public sealed record OAuthModel(string TokenFile, string? ClientId, string? ClientSecretFile, IReadOnlyList<string>? Scopes, int? RedirectPort);

public sealed record RestartPolicy(int MaxAttempts, TimeSpan Backoff, TimeSpan MaxBackoff, TimeSpan Cooldown)
{
    public static readonly RestartPolicy Default = new(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60));

    /// <summary>
    /// How long to wait before the next start after <paramref name="failures"/> failures in a row: none after the first
    /// (the next request restarts at once), then Backoff doubling up to MaxBackoff.
    /// </summary>
    public TimeSpan DelayAfter(int failures) => failures <= 1
        ? TimeSpan.Zero
        : TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, Backoff.Ticks * (1L << Math.Min(failures - 2, 30))));
}

public sealed record BrokerSettingsModel(TimeSpan IdleTimeout, TimeSpan StartTimeout, TimeSpan CallTimeout)
{
    /// <summary>The HTTP front door; null when off.</summary>
    public HttpFrontDoorModel? Http { get; init; }

    /// <summary>The status page; null when off.</summary>
    public StatusPageModel? StatusPage { get; init; }

    /// <summary>The longest message any reader takes (broker.max_message_bytes).</summary>
    public int MaxMessageBytes { get; init; } = DefaultMaxMessageBytes;

    /// <summary>The longest search_tools query (broker.max_search_query_chars).</summary>
    public int MaxSearchQueryChars { get; init; } = DefaultMaxSearchQueryChars;

    /// <summary>16 MiB: room for a tool result carrying a 10 MB image in base64, and a bound on what one session can make the daemon hold.</summary>
    public const int DefaultMaxMessageBytes = Shared.LineBuffer.DefaultLimit;
    public const int MinMaxMessageBytes = 64 * 1024;
    public const int MaxMaxMessageBytes = 1024 * 1024 * 1024;

    /// <summary>1,000 characters: a search query is a few words; the longest ones seen from models are a few hundred.</summary>
    public const int DefaultMaxSearchQueryChars = 1000;
    public const int MinMaxSearchQueryChars = 16;
    public const int MaxMaxSearchQueryChars = 100_000;

    public static readonly BrokerSettingsModel Defaults = new(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120));
}

public sealed record ProfileModel(
    string Name,
    string? Description,
    bool CompactToolsEnabled,
    int MaxTools,
    ToolNameStyle NameStyle,
    IReadOnlyList<string> Upstreams)
{
    public const string DefaultName = "default";

    public const int DefaultMaxTools = 200;
    public const int DefaultToolsPageSize = 100;

    /// <summary>The longest search_tools query (broker.max_search_query_chars, the same for every profile).</summary>
    public int MaxSearchQueryChars { get; init; } = BrokerSettingsModel.DefaultMaxSearchQueryChars;

    /// <summary>When set, a client must present this file's content in its hello to use the profile.</summary>
    public string? RequireTokenFile { get; init; }

    /// <summary>Glob patterns over upstream names whose mutating tools this profile may use.</summary>
    public IReadOnlyList<string> AllowMutatingUpstreams { get; init; } = [];

    /// <summary>Glob patterns over canonical tool names (<c>prefix.tool</c>) this profile may use although they mutate.</summary>
    public IReadOnlyList<string> AllowMutatingTools { get; init; } = [];

    public OverBudgetAction OnOverBudget { get; init; } = OverBudgetAction.Error;

    /// <summary>Tools per raw tools/list page; 0 for one page.</summary>
    public int ToolsPageSize { get; init; } = DefaultToolsPageSize;

    /// <summary>A raw view of its one upstream with nothing renamed: tools, prompts and resource URIs as the upstream names them.</summary>
    public bool Transparent { get; init; }
}

public sealed record UpstreamModel(
    string Name,
    string Prefix,
    UpstreamTransport Transport,
    UpstreamMode Mode,
    string Command,
    IReadOnlyList<string> Args,
    string WorkingDir,
    FrozenDictionary<string, string> Env,
    FrozenDictionary<string, string> EnvFrom,
    FrozenDictionary<string, string> EnvFiles,
    string? Purpose,
    IReadOnlyList<string> Tags,
    TimeSpan IdleTimeout,
    TimeSpan StartTimeout,
    TimeSpan CallTimeout)
{
    public FrozenDictionary<string, TimeSpan> ToolTimeouts { get; init; } = FrozenDictionary<string, TimeSpan>.Empty;

    public RestartPolicy Restart { get; init; } = RestartPolicy.Default;

    /// <summary>Most requests in flight to one instance; null for no limit.</summary>
    public int? MaxConcurrency { get; init; }

    public int MaxQueue { get; init; } = 64;

    /// <summary>Most of its tools the catalog keeps (<see cref="Catalog.CatalogLimits"/>).</summary>
    public int MaxTools { get; init; } = Catalog.CatalogLimits.DefaultMaxTools;

    /// <summary>Largest tool definition the catalog keeps, in bytes of JSON (<see cref="Catalog.CatalogLimits"/>).</summary>
    public int MaxToolBytes { get; init; } = Catalog.CatalogLimits.DefaultMaxToolBytes;

    /// <summary>Memory and CPU ceilings (null: none).</summary>
    public ResourceLimits? Limits { get; init; }

    public MutatingSetting Mutating { get; init; } = MutatingSetting.Auto;

    /// <summary>The pinning in force: the stricter of the upstream's own setting and those of the profiles that see it.</summary>
    public PinSetting PinTools { get; init; } = PinSetting.False;

    /// <summary>Where an http/sse upstream lives (null for stdio).</summary>
    public RemoteModel? Remote { get; init; }

    /// <summary>Per-tool overrides by the upstream's own tool name.</summary>
    public FrozenDictionary<string, ToolOverride> ToolOverrides { get; init; } = FrozenDictionary<string, ToolOverride>.Empty;

    /// <summary>The longest line read from the upstream's stdout (broker.max_message_bytes).</summary>
    public int MaxMessageBytes { get; init; } = BrokerSettingsModel.DefaultMaxMessageBytes;

    public TimeSpan CallTimeoutFor(string tool) => ToolTimeouts.TryGetValue(tool, out var t) ? t : CallTimeout;

    /// <summary>The probe 'profile validate' runs for this upstream; null when it has none (a validation failure).</summary>
    public SmokeModel? Smoke { get; init; }

    /// <summary>The profiles the upstream names itself (null: open to profiles that do not list upstreams).</summary>
    public IReadOnlyList<string>? DeclaredProfiles { get; init; }

    /// <summary>
    /// Identifies what would be started: a cached tool catalog is only trusted for the same fingerprint.
    /// Env values are hashed, never stored.
    /// </summary>
    public string Fingerprint => ComputeFingerprint(Remote is null ? Command : Remote.Url.ToString(), Args, WorkingDir, Env, EnvFrom, EnvFiles);

    private static string ComputeFingerprint(string command, IReadOnlyList<string> args, string workingDir,
        IReadOnlyDictionary<string, string> env, IReadOnlyDictionary<string, string> envFrom, IReadOnlyDictionary<string, string> envFiles)
    {
        var sb = new StringBuilder().Append(command).Append('\0').AppendJoin('\0', args).Append('\0').Append(workingDir);
        foreach (var map in new[] { env, envFrom, envFiles })
        {
            foreach (var (k, v) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                sb.Append('\0').Append(k).Append('=').Append(v);
            }

            sb.Append('\u0001');
        }

        return Convert.ToHexStringLower(Shared.Sha256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
    }
}

/// <summary>The daemon's MCP-over-HTTP listener: loopback only, a bearer token, and the browser origins it admits.</summary>
public sealed record HttpFrontDoorModel(System.Net.IPEndPoint Listen, string TokenFile, IReadOnlyList<string> AllowedOrigins)
{
    public const string DefaultTokenFile = "http-token";

    /// <summary>The URL a client of <paramref name="profile"/> connects to.</summary>
    public string Url(string profile) => $"http://{Listen}/mcp/{profile}";
}

/// <summary>A smoke probe: <paramref name="Query"/> must find <paramref name="Tool"/> (the upstream's own name), whose schema must accept the arguments.</summary>
public sealed record SmokeModel(string Query, string Tool, IReadOnlyDictionary<string, System.Text.Json.JsonElement> Arguments, bool Call);
