using System.Collections.Frozen;
using System.Text;
using System.Text.RegularExpressions;

namespace McpBroker.Config;

/// <summary>
/// The semantic rules that a JSON Schema cannot state: names, references between sections, placeholders,
/// secrets hygiene. Every rule runs and reports all it finds; a model is built only when no error was found.
/// </summary>
internal static partial class ConfigValidator
{
    public static BrokerModel? Validate(BrokerConfig config, string sourcePath, Func<string, string?> getEnv, List<ConfigIssue> issues, out RuntimeModel? runtime)
    {
        var errorsBefore = issues.Count(i => i.Severity == IssueSeverity.Error);
        if (config.SchemaVersion != 1)
        {
            issues.Add(ConfigIssue.Error("schema_version", $"{config.SchemaVersion} is not supported; this broker reads schema_version: 1"));
        }

        runtime = ValidateRuntime(config.Runtime, getEnv, issues);
        var settings = ValidateSettings(config.Broker, issues) with
        {
            Http = ValidateHttp(config.Broker?.Http, runtime, getEnv, issues),
            StatusPage = ValidateStatusPage(config.Broker?.StatusPage, runtime, getEnv, issues),
        };
        var telemetry = ValidateTelemetry(config.Telemetry, config.Broker?.StatusPage is not null, issues);
        var profileConfigs = config.Profiles is { Count: > 0 } p
            ? p
            : new Dictionary<string, ProfileConfig?> { [ProfileModel.DefaultName] = null };
        var upstreamConfigs = config.Upstreams ?? [];

        foreach (var name in profileConfigs.Keys.Where(n => !NameRegex().IsMatch(n)))
        {
            issues.Add(ConfigIssue.Error($"profiles.{name}", "a profile name uses only letters, digits, '_' and '-'"));
        }

        var upstreams = new List<UpstreamModel>();
        foreach (var (name, upstream) in upstreamConfigs)
        {
            var model = ValidateUpstream(name, upstream ?? new UpstreamConfig(), runtime, settings, profileConfigs, getEnv, issues);
            if (model is not null)
            {
                upstreams.Add(model);
            }
        }

        CheckPrefixesUnique(upstreams, issues);
        var profiles = new Dictionary<string, ProfileModel>(StringComparer.Ordinal);
        foreach (var (name, profile) in profileConfigs)
        {
            profiles[name] = ValidateProfile(name, profile ?? new ProfileConfig(), upstreamConfigs, upstreams, issues) with
            {
                RequireTokenFile = TokenFile(profile?.RequireTokenFile, $"profiles.{name}.require_token_file", runtime, getEnv, issues),
                MaxSearchQueryChars = settings.MaxSearchQueryChars,
            };
        }

        // Pinning is kept per upstream, so the strictest setting of any profile that sees an upstream applies to it.
        upstreams = [.. upstreams.Select(u => u with
        {
            PinTools = profileConfigs
                .Where(p => profiles[p.Key].Upstreams.Contains(u.Name))
                .Select(p => p.Value?.PinTools ?? PinSetting.False)
                .Append(upstreamConfigs[u.Name]?.PinTools ?? PinSetting.False)
                .Max(),
        })];

        var clients = new Dictionary<string, ClientModel>(StringComparer.Ordinal);
        foreach (var (name, client) in config.Clients ?? [])
        {
            if (ValidateClient(name, client ?? new ClientConfig(), profiles, runtime, getEnv, issues) is { } model)
            {
                clients[name] = model;
            }
        }

        if (issues.Count(i => i.Severity == IssueSeverity.Error) > errorsBefore || runtime is null)
        {
            return null;
        }

        return new BrokerModel(sourcePath, runtime, settings, profiles.ToFrozenDictionary(StringComparer.Ordinal), upstreams,
            issues.Where(i => i.Severity == IssueSeverity.Warning).ToList())
        {
            Clients = clients.ToFrozenDictionary(StringComparer.Ordinal),
            Telemetry = telemetry,
        };
    }

    private static StatusPageModel? ValidateStatusPage(StatusPageConfig? page, RuntimeModel? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        if (page is null)
        {
            return null;
        }

        const string path = "broker.status_page";
        if (page.Port is not { } port)
        {
            issues.Add(ConfigIssue.Error($"{path}.port", "say which port to serve the page on (127.0.0.1 only), e.g. port: 8766"));
        }
        else if (port is < 1 or > 65535)
        {
            issues.Add(ConfigIssue.Error($"{path}.port", $"{port} is not a port from 1 to 65535, e.g. port: 8766"));
        }

        var tokenFile = TokenFile(page.TokenFile ?? StatusPageModel.DefaultTokenFile, $"{path}.token_file", runtime, getEnv, issues);
        return page.Port is { } p and >= 1 and <= 65535 && tokenFile is not null
            ? new StatusPageModel(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, p), tokenFile)
            : null;
    }

    private static TelemetryModel? ValidateTelemetry(TelemetryConfig? telemetry, bool statusPage, List<ConfigIssue> issues)
    {
        if (telemetry is null)
        {
            return null;
        }

        Uri? endpoint = null;
        if (telemetry.OtlpEndpoint is { } raw)
        {
            if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                issues.Add(ConfigIssue.Error("telemetry.otlp_endpoint", $"'{raw}' is not an http(s) URL, e.g. http://127.0.0.1:4318"));
            }
            else if (uri.UserInfo.Length > 0 || uri.Query.Length > 0)
            {
                // The value is not repeated: it may hold a credential.
                issues.Add(ConfigIssue.Error("telemetry.otlp_endpoint", "must carry no user name, password or query (they would be a secret in the config); use a receiver on this machine that forwards with its own credentials"));
            }
            else
            {
                endpoint = uri;
            }
        }

        var interval = telemetry.ExportInterval?.Value ?? TelemetryModel.DefaultExportInterval;
        if (interval < TimeSpan.FromMilliseconds(100))
        {
            issues.Add(ConfigIssue.Error("telemetry.export_interval", $"{new Duration(interval)} is too short; use at least 100ms (e.g. 15s)"));
        }

        var prometheus = telemetry.Prometheus ?? false;
        if (prometheus && !statusPage)
        {
            issues.Add(ConfigIssue.Error("telemetry.prometheus", "/metrics is served by the status page: set broker.status_page (port, token_file) too, or prometheus: false"));
        }

        if (endpoint is null && !prometheus && telemetry.OtlpEndpoint is null)
        {
            issues.Add(ConfigIssue.Warning("telemetry", "neither otlp_endpoint nor prometheus: true is set, so nothing is exported"));
        }

        return new TelemetryModel(endpoint, telemetry.OtlpProtocol ?? OtlpProtocolSetting.HttpProtobuf, interval, prometheus);
    }

    private static RuntimeModel? ValidateRuntime(RuntimeConfig? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        var raw = runtime?.Root ?? RuntimeModel.DefaultRoot;
        var root = Placeholders.Expand(raw, null, null, getEnv, out var error);
        if (root is null)
        {
            issues.Add(ConfigIssue.Error("runtime.root", error!));
            return null;
        }

        if (root.Where(char.IsControl).Select(c => (int?)c).FirstOrDefault() is { } control)
        {
            // A newline or an escape in a path ends up in logs, service units and terminals; a NUL cannot be in a path at all.
            issues.Add(ConfigIssue.Error("runtime.root", $"contains the control character U+{control:X4}; write the path without control characters (newlines, tabs, escapes)"));
            return null;
        }

        if (!Path.IsPathFullyQualified(root))
        {
            issues.Add(ConfigIssue.Error("runtime.root", $"'{raw}' is not an absolute path; write it from '/' or '~/'"));
            return null;
        }

        // A Unix socket path is limited to 107 bytes; fail here, not at bind time.
        var runtimeModel = new RuntimeModel(Path.GetFullPath(root));
        if (System.Text.Encoding.UTF8.GetByteCount(runtimeModel.SocketPath) > 107)
        {
            issues.Add(ConfigIssue.Error("runtime.root", $"the socket path '{runtimeModel.SocketPath}' is longer than the 107 bytes a Unix socket allows; choose a shorter root"));
        }

        return runtimeModel;
    }

    private static BrokerSettingsModel ValidateSettings(BrokerSettingsConfig? broker, List<ConfigIssue> issues)
    {
        var d = BrokerSettingsModel.Defaults;
        return new BrokerSettingsModel(
            broker?.IdleTimeout?.Value ?? d.IdleTimeout,
            Positive(broker?.StartTimeout, d.StartTimeout, "broker.start_timeout", issues),
            Positive(broker?.CallTimeout, d.CallTimeout, "broker.call_timeout", issues))
        {
            MaxMessageBytes = InRange(broker?.MaxMessageBytes, d.MaxMessageBytes, BrokerSettingsModel.MinMaxMessageBytes, BrokerSettingsModel.MaxMaxMessageBytes,
                "broker.max_message_bytes", "bytes; 16777216 (16 MiB) is the default", issues),
            MaxSearchQueryChars = InRange(broker?.MaxSearchQueryChars, d.MaxSearchQueryChars, BrokerSettingsModel.MinMaxSearchQueryChars, BrokerSettingsModel.MaxMaxSearchQueryChars,
                "broker.max_search_query_chars", "characters; 1000 is the default", issues),
        };
    }

    private static int InRange(int? value, int fallback, int min, int max, string path, string unit, List<ConfigIssue> issues)
    {
        if (value is not { } v)
        {
            return fallback;
        }

        if (v < min || v > max)
        {
            issues.Add(ConfigIssue.Error(path, $"{v} is out of range: use {min} to {max} {unit}"));
            return fallback;
        }

        return v;
    }

    private static HttpFrontDoorModel? ValidateHttp(HttpFrontDoorConfig? http, RuntimeModel? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        if (http is null)
        {
            return null;
        }

        const string path = "broker.http";
        System.Net.IPEndPoint? endpoint = null;
        var colon = http.Listen?.LastIndexOf(':') ?? -1;
        if (http.Listen is null)
        {
            issues.Add(ConfigIssue.Error($"{path}.listen", "say where to listen, e.g. listen: 127.0.0.1:8765"));
        }
        else if (colon <= 0 || !int.TryParse(http.Listen.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
        {
            issues.Add(ConfigIssue.Error($"{path}.listen", $"'{http.Listen}' is not HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8765"));
        }
        else
        {
            var host = http.Listen[..colon];
            var address = host == "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var a) ? a : null;
            if (address is null || !System.Net.IPAddress.IsLoopback(address))
            {
                issues.Add(ConfigIssue.Error($"{path}.listen",
                    $"'{host}' is not a loopback address; the front door serves only this machine (127.0.0.1, another 127.x.x.x address, ::1 or localhost)"));
            }
            else
            {
                endpoint = new System.Net.IPEndPoint(address, port);
            }
        }

        var origins = http.AllowedOrigins ?? [];
        foreach (var (i, origin) in origins.Index())
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.PathAndQuery != "/" || origin.EndsWith('/'))
            {
                issues.Add(ConfigIssue.Error($"{path}.allowed_origins[{i}]", $"'{origin}' is not an origin; write scheme://host[:port] with no path, e.g. http://localhost:6274"));
            }
        }

        var tokenFile = TokenFile(http.TokenFile ?? HttpFrontDoorModel.DefaultTokenFile, $"{path}.token_file", runtime, getEnv, issues);
        return endpoint is null || tokenFile is null ? null : new HttpFrontDoorModel(endpoint, tokenFile, origins);
    }

    private static TimeSpan Positive(Duration? value, TimeSpan fallback, string path, List<ConfigIssue> issues)
    {
        if (value is { Value: var v } && v <= TimeSpan.Zero)
        {
            issues.Add(ConfigIssue.Error(path, "must be more than 0"));
        }

        return value?.Value ?? fallback;
    }

    private static UpstreamModel? ValidateUpstream(string name, UpstreamConfig u, RuntimeModel? runtime, BrokerSettingsModel settings,
        IReadOnlyDictionary<string, ProfileConfig?> profiles, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        var path = $"upstreams.{name}";
        var before = issues.Count;
        if (!NameRegex().IsMatch(name))
        {
            issues.Add(ConfigIssue.Error(path, "an upstream name uses only letters, digits, '_' and '-' (no dots: tool names are prefix.tool)"));
        }

        if (u.Smoke is { } smokeConfig)
        {
            if (string.IsNullOrWhiteSpace(smokeConfig.Query))
            {
                issues.Add(ConfigIssue.Error($"{path}.smoke.query", "say what a model would search for to find the tool, e.g. query: \"remember a fact\""));
            }

            if (string.IsNullOrWhiteSpace(smokeConfig.Tool))
            {
                issues.Add(ConfigIssue.Error($"{path}.smoke.tool", "name the tool the search must find (the upstream's own name, without the prefix)"));
            }
        }

        var prefix = u.Prefix ?? name;
        if (prefix == "broker")
        {
            issues.Add(ConfigIssue.Error(u.Prefix is null ? path : $"{path}.prefix", "the prefix 'broker' is reserved for the broker's own tools; set another prefix:"));
        }

        if (u.Prefix is not null && !NameRegex().IsMatch(u.Prefix))
        {
            issues.Add(ConfigIssue.Error($"{path}.prefix", $"'{u.Prefix}' may use only letters, digits, '_' and '-'"));
        }

        foreach (var (i, profile) in (u.Profiles ?? []).Index())
        {
            if (!profiles.ContainsKey(profile))
            {
                issues.Add(ConfigIssue.Error($"{path}.profiles[{i}]", $"no profile named '{profile}'{DidYouMean.Hint(profile, profiles.Keys)}; defined: {Names(profiles.Keys)}"));
            }
        }

        string? Expand(string value, string at)
        {
            var expanded = Placeholders.Expand(value, runtime, name, getEnv, out var error);
            if (expanded is null)
            {
                issues.Add(ConfigIssue.Error(at, error!));
            }

            return expanded;
        }

        var transport = u.Transport ?? UpstreamTransport.Stdio;
        string command = "";
        RemoteModel? remote = null;
        if (transport == UpstreamTransport.Stdio)
        {
            if (string.IsNullOrWhiteSpace(u.Command))
            {
                issues.Add(ConfigIssue.Error($"{path}.command", u.Url is null
                    ? "a stdio upstream needs a command, e.g. command: npx with args: [-y, \"@modelcontextprotocol/server-memory\"]"
                    : "a stdio upstream needs a command; for a server at a URL set transport: http (streamable HTTP) or transport: sse"));
            }
            else
            {
                command = Expand(u.Command, $"{path}.command") ?? "";
            }

            foreach (var (key, set) in new[] { ("url", u.Url is not null), ("headers", u.Headers is not null), ("oauth", u.Oauth is not null) })
            {
                if (set)
                {
                    issues.Add(ConfigIssue.Error($"{path}.{key}", $"{key} is for transport: http or sse; this upstream is stdio"));
                }
            }
        }
        else
        {
            remote = ValidateRemote(path, name, u, runtime, getEnv, issues);
        }

        if (transport != UpstreamTransport.Stdio)
        {
            foreach (var (key, set) in new[] { ("command", u.Command is not null), ("args", u.Args is not null), ("working_dir", u.WorkingDir is not null), ("env", u.Env is not null), ("limits", u.Limits is not null) })
            {
                if (set)
                {
                    issues.Add(ConfigIssue.Error($"{path}.{key}", $"{key} is for stdio upstreams; a {Word(transport)} upstream is reached at its url (secrets for its headers go in env_from or env_files)"));
                }
            }
        }

        // ${KEY} naming a key of env_from or env_files stays in the model as written and is filled in at start
        // (SecretFile.ResolveArgs), so a credential a server takes as an argument is never in the config or its output.
        var secretKeys = (u.EnvFrom ?? []).Keys.Concat((u.EnvFiles ?? []).Keys).ToHashSet(StringComparer.Ordinal);
        var args = (u.Args ?? []).Select((a, i) => ExpandKeepingSecrets(a, $"{path}.args[{i}]")).ToList();
        string ExpandKeepingSecrets(string value, string at)
        {
            var result = new StringBuilder();
            var pos = 0;
            foreach (Match m in SecretReferenceOrEscape().Matches(value))
            {
                if (m.Value == "$$" || !secretKeys.Contains(m.Groups["key"].Value))
                {
                    continue;
                }

                result.Append(Expand(value[pos..m.Index], at)).Append(m.Value);
                pos = m.Index + m.Length;
            }

            return result.Append(Expand(value[pos..], at)).ToString();
        }

        var workingDir = u.WorkingDir is null ? runtime?.UpstreamStateDir(name) ?? "" : Expand(u.WorkingDir, $"{path}.working_dir") ?? "";
        if (workingDir.Length > 0 && !Path.IsPathFullyQualified(workingDir))
        {
            issues.Add(ConfigIssue.Error($"{path}.working_dir", $"'{u.WorkingDir}' is not an absolute path"));
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in u.Env ?? [])
        {
            CheckEnvName(key, $"{path}.env.{key}", issues);
            if (Expand(value, $"{path}.env.{key}") is { } expanded)
            {
                env[key] = expanded;
                if (!value.Contains('{') && !value.Contains('$') && SecretHeuristics.LooksLikeSecret(value))
                {
                    issues.Add(ConfigIssue.Warning($"{path}.env.{key}",
                        $"this value looks like a secret; env holds literal, non-secret values — move it to env_from ({key}: HOST_VARIABLE) or env_files ({key}: file under {{runtime.secrets_dir}})"));
                }
            }
        }

        foreach (var (key, variable) in u.EnvFrom ?? [])
        {
            CheckEnvName(key, $"{path}.env_from.{key}", issues);
            if (!EnvNameRegex().IsMatch(variable))
            {
                issues.Add(ConfigIssue.Error($"{path}.env_from.{key}", $"'{variable}' is not an environment variable name; write the NAME of the host variable, not its value"));
            }
            else if (getEnv(variable) is null)
            {
                issues.Add(ConfigIssue.Warning($"{path}.env_from.{key}", $"host variable '{variable}' is not set here; the upstream will not start unless the daemon's environment has it"));
            }
        }

        var envFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, file) in u.EnvFiles ?? [])
        {
            CheckEnvName(key, $"{path}.env_files.{key}", issues);
            if (Expand(file, $"{path}.env_files.{key}") is { } expanded && runtime is not null)
            {
                envFiles[key] = Path.IsPathFullyQualified(expanded) ? expanded : Path.Combine(runtime.SecretsDir, expanded);
            }
        }

        foreach (var key in env.Keys.Intersect((u.EnvFrom ?? []).Keys).Concat(env.Keys.Intersect(envFiles.Keys)).Concat((u.EnvFrom ?? []).Keys.Intersect(envFiles.Keys)))
        {
            issues.Add(ConfigIssue.Error($"{path}", $"'{key}' is set in more than one of env, env_from and env_files; keep one"));
        }

        var toolTimeouts = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var (tool, limit) in u.Timeouts?.Tools ?? [])
        {
            toolTimeouts[tool] = Positive(limit, settings.CallTimeout, $"{path}.timeouts.tools.{tool}", issues);
        }

        var d = RestartPolicy.Default;
        var restart = new RestartPolicy(
            u.Restart?.MaxAttempts ?? d.MaxAttempts,
            Positive(u.Restart?.Backoff, d.Backoff, $"{path}.restart.backoff", issues),
            Positive(u.Restart?.MaxBackoff, d.MaxBackoff, $"{path}.restart.max_backoff", issues),
            Positive(u.Restart?.Cooldown, d.Cooldown, $"{path}.restart.cooldown", issues));
        if (restart.MaxAttempts < 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.restart.max_attempts", "must be at least 1"));
        }

        if (u.MaxConcurrency is < 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_concurrency", "must be at least 1 (omit it for no limit)"));
        }

        if (u.MaxQueue is < 0)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_queue", "must be 0 or more"));
        }

        if (u.MaxTools is < 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_tools", $"must be at least 1 (the default is {Catalog.CatalogLimits.DefaultMaxTools})"));
        }

        if (u.MaxToolBytes is < Catalog.CatalogLimits.MinMaxToolBytes)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_tool_bytes", $"must be at least {Catalog.CatalogLimits.MinMaxToolBytes} (the default is {Catalog.CatalogLimits.DefaultMaxToolBytes})"));
        }

        if (u.SerializeCalls == true && u.MaxConcurrency is > 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.serialize_calls", $"contradicts max_concurrency: {u.MaxConcurrency}; keep one"));
        }

        var limits = ValidateLimits($"{path}.limits", u.Limits, issues);
        var idle = u.IdleTimeout?.Value ?? settings.IdleTimeout;
        var start = Positive(u.Timeouts?.Start, settings.StartTimeout, $"{path}.timeouts.start", issues);
        var call = Positive(u.Timeouts?.Call, settings.CallTimeout, $"{path}.timeouts.call", issues);
        if (issues.Skip(before).Any(i => i.Severity == IssueSeverity.Error))
        {
            return null;
        }

        return new UpstreamModel(name, prefix, transport, u.Mode ?? UpstreamMode.Shared,
            command, args, workingDir, env.ToFrozenDictionary(StringComparer.Ordinal),
            (u.EnvFrom ?? []).ToFrozenDictionary(StringComparer.Ordinal), envFiles.ToFrozenDictionary(StringComparer.Ordinal),
            u.Purpose, u.Tags ?? [], idle, start, call)
        {
            DeclaredProfiles = u.Profiles,
            Smoke = u.Smoke is { Query: { Length: > 0 } probeQuery, Tool: { Length: > 0 } probeTool } probe
                ? new SmokeModel(probeQuery, probeTool, probe.Arguments ?? [], probe.Call ?? false)
                : null,
            Remote = remote,
            ToolTimeouts = toolTimeouts.ToFrozenDictionary(StringComparer.Ordinal),
            Restart = restart,
            MaxConcurrency = u.SerializeCalls == true ? 1 : u.MaxConcurrency,
            MaxQueue = u.MaxQueue ?? 64,
            MaxTools = u.MaxTools ?? Catalog.CatalogLimits.DefaultMaxTools,
            MaxToolBytes = u.MaxToolBytes ?? Catalog.CatalogLimits.DefaultMaxToolBytes,
            Limits = limits,
            MaxMessageBytes = settings.MaxMessageBytes,
            Mutating = u.Mutating ?? MutatingSetting.Auto,
            ToolOverrides = (u.Tools ?? []).ToFrozenDictionary(
                t => t.Key,
                t => new ToolOverride(t.Value?.Hidden ?? false, t.Value?.Description, t.Value?.Defaults ?? []) { Mutating = t.Value?.Mutating, Idempotent = t.Value?.Idempotent },
                StringComparer.Ordinal),
        };
    }

    /// <summary>Ceilings on memory and CPU; null when neither is set (over alone sets nothing).</summary>
    private static ResourceLimits? ValidateLimits(string path, LimitsConfig? limits, List<ConfigIssue> issues)
    {
        if (limits is null)
        {
            return null;
        }

        long? memory = null;
        if (limits.Memory is { } text && (memory = ResourceLimits.ParseSize(text)) is null or < 1 << 20)
        {
            issues.Add(ConfigIssue.Error($"{path}.memory", $"'{text}' is not a memory size of at least 1MiB; write a number with a unit, e.g. 512MiB or 2GiB"));
        }

        if (limits.CpuPercent is < 1 or > 100_000)
        {
            issues.Add(ConfigIssue.Error($"{path}.cpu_percent", $"{limits.CpuPercent} is out of range; write a percentage of one core from 1 (200 means two cores)"));
        }

        var over = Positive(limits.Over, ResourceLimits.DefaultOver, $"{path}.over", issues);
        return memory is null && limits.CpuPercent is null ? null : new ResourceLimits(memory, limits.CpuPercent, over);
    }

    private static string Word(UpstreamTransport transport) => transport.ToString().ToLowerInvariant();

    /// <summary>
    /// An http/sse upstream's url, headers and oauth. The url may not carry credentials (it is logged and shown);
    /// header values are templates whose <c>${KEY}</c> names a key of env_from or env_files, resolved at connect time.
    /// </summary>
    private static RemoteModel? ValidateRemote(string path, string name, UpstreamConfig u, RuntimeModel? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        var before = issues.Count;
        Uri? url = null;
        var secretKeys = (u.EnvFrom ?? []).Keys.Concat((u.EnvFiles ?? []).Keys).ToHashSet(StringComparer.Ordinal);
        string? urlTemplate = null;
        if (string.IsNullOrWhiteSpace(u.Url))
        {
            issues.Add(ConfigIssue.Error($"{path}.url", $"a {Word(u.Transport!.Value)} upstream needs a url, e.g. url: https://example.com/mcp"));
        }
        else if (ExpandUrl(u.Url, runtime, name, getEnv, secretKeys, out var error, out urlTemplate) is not { } expanded)
        {
            issues.Add(ConfigIssue.Error($"{path}.url", error!));
        }
        else if (!Uri.TryCreate(expanded, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https"))
        {
            issues.Add(ConfigIssue.Error($"{path}.url", $"'{u.Url}' is not an absolute http:// or https:// URL"));
            url = null;
        }
        else if (url.UserInfo.Length > 0)
        {
            issues.Add(ConfigIssue.Error($"{path}.url", "the url carries a user name or password; remove it and send credentials in headers (from env_from or env_files)"));
        }
        else if (System.Web.HttpUtility.ParseQueryString(url.Query) is var query
            && query.AllKeys.FirstOrDefault(k => k is not null && query[k] != SecretMarker
                && (SecretHeuristics.LooksLikeSecretName(k) || SecretHeuristics.LooksLikeSecret(query[k] ?? ""))) is { } secretKey)
        {
            issues.Add(ConfigIssue.Error($"{path}.url", $"the query parameter '{secretKey}' looks like a credential; the url is logged and shown, so send it in headers (from env_from or env_files) instead"));
        }
        else if (url.Segments.Select(Uri.UnescapeDataString).Any(segment => SecretHeuristics.LooksLikeSecret(segment.Trim('/'))))
        {
            // Checked after $VAR expansion, so a token pulled in from a host variable is caught too; the message never quotes it.
            issues.Add(ConfigIssue.Error($"{path}.url", "a part of the url's path looks like a credential; the url is logged and shown, so send the credential in headers (from env_from or env_files)"));
        }

        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in HeaderReferenceRegex().Matches(urlTemplate ?? ""))
        {
            used.Add(m.Groups["key"].Value);
        }

        foreach (var (header, template) in u.Headers ?? [])
        {
            var at = $"{path}.headers.{header}";
            if (!HeaderNameRegex().IsMatch(header))
            {
                issues.Add(ConfigIssue.Error(at, $"'{header}' is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"));
            }

            if (template.Contains('\r') || template.Contains('\n'))
            {
                issues.Add(ConfigIssue.Error(at, "a header value cannot contain a line break"));
                continue;
            }

            var literal = HeaderReferenceRegex().Replace(template, m =>
            {
                var key = m.Groups["key"].Value;
                used.Add(key);
                if (!secretKeys.Contains(key))
                {
                    issues.Add(ConfigIssue.Error(at, $"${{{key}}} names no key of env_from or env_files; add {key}: HOST_VARIABLE under env_from (or {key}: FILE under env_files)"));
                }

                return "";
            });
            if (literal.Contains('$', StringComparison.Ordinal))
            {
                issues.Add(ConfigIssue.Error(at, "write references as ${KEY}, where KEY is a key of env_from or env_files"));
            }
            else if (HeaderLiteralPieces().Split(literal).Any(SecretHeuristics.LooksLikeSecret)
                || (SecretHeuristics.LooksLikeSecretName(header) && HeaderLiteralValue(literal)))
            {
                issues.Add(ConfigIssue.Error(at, $"header values come only from env_from or env_files; move the value out of the file and write e.g. {header}: \"Bearer ${{TOKEN}}\" with env_from: {{TOKEN: HOST_VARIABLE}}"));
            }
        }

        foreach (var key in secretKeys.Where(k => !used.Contains(k)).Order(StringComparer.Ordinal))
        {
            issues.Add(ConfigIssue.Warning($"{path}", $"'{key}' (env_from/env_files) is used by no header; an {Word(u.Transport!.Value)} upstream gets secrets only through headers: ${{{key}}}"));
        }

        OAuthModel? oauth = null;
        if (u.Oauth is { } o)
        {
            if (u.Headers?.Keys.FirstOrDefault(h => h.Equals("Authorization", StringComparison.OrdinalIgnoreCase)) is { } auth)
            {
                issues.Add(ConfigIssue.Error($"{path}.headers.{auth}", "oauth sets the Authorization header itself; remove this header or the oauth block"));
            }

            if (o.RedirectPort is < 1 or > 65535)
            {
                issues.Add(ConfigIssue.Error($"{path}.oauth.redirect_port", "must be a TCP port (1-65535); omit it for any free port"));
            }

            string? secretFile = null;
            if (o.ClientSecretFile is not null)
            {
                if (Placeholders.Expand(o.ClientSecretFile, runtime, name, getEnv, out var fileError) is { } file)
                {
                    secretFile = Path.IsPathFullyQualified(file) || runtime is null ? file : Path.Combine(runtime.SecretsDir, file);
                }
                else
                {
                    issues.Add(ConfigIssue.Error($"{path}.oauth.client_secret_file", fileError!));
                }
            }

            if (o.ClientSecretFile is not null && o.ClientId is null)
            {
                issues.Add(ConfigIssue.Error($"{path}.oauth.client_secret_file", "a client secret needs its client_id"));
            }

            oauth = new OAuthModel(runtime?.OAuthTokenFile(name) ?? "", o.ClientId, secretFile, o.Scopes, o.RedirectPort);
        }

        return url is null || issues.Skip(before).Any(i => i.Severity == IssueSeverity.Error)
            ? null
            : new RemoteModel(url, (u.Headers ?? []).ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), oauth) { UrlTemplate = urlTemplate };
    }

    private static ProfileModel ValidateProfile(string name, ProfileConfig p, IReadOnlyDictionary<string, UpstreamConfig?> upstreamConfigs,
        List<UpstreamModel> upstreams, List<ConfigIssue> issues)
    {
        var path = $"profiles.{name}";
        foreach (var (i, upstream) in (p.Upstreams ?? []).Index())
        {
            if (!upstreamConfigs.ContainsKey(upstream))
            {
                issues.Add(ConfigIssue.Error($"{path}.upstreams[{i}]", $"no upstream named '{upstream}'{DidYouMean.Hint(upstream, upstreamConfigs.Keys)}; defined: {Names(upstreamConfigs.Keys)}"));
            }
        }

        if (p.MaxTools is <= 0)
        {
            issues.Add(ConfigIssue.Error($"{path}.max_tools", "must be at least 1"));
        }

        if (p.ToolsPageSize is < 0)
        {
            issues.Add(ConfigIssue.Error($"{path}.tools_page_size", "must be 0 (one page) or more"));
        }

        // An upstream is seen by the profiles it names; one that names none is seen by every profile
        // that does not list its upstreams itself. A profile's own list adds to that.
        var visible = upstreams
            .Where(u => u.Mode != UpstreamMode.Disabled)
            .Where(u => u.DeclaredProfiles?.Contains(name) ?? p.Upstreams is null || p.Upstreams.Contains(u.Name))
            .Select(u => u.Name)
            .ToList();
        CheckMutatingAllowances(path, p, upstreams.Where(u => visible.Contains(u.Name)).ToList(), upstreams, upstreamConfigs, issues);
        var transparent = p.Transparent == true;
        if (transparent && p.CompactToolsEnabled == true)
        {
            issues.Add(ConfigIssue.Error($"{path}.transparent", "a transparent profile lists the upstream's own tools; remove compact_tools_enabled: true or transparent: true"));
        }

        if (transparent && visible.Count != 1)
        {
            issues.Add(ConfigIssue.Error($"{path}.transparent",
                $"a transparent profile shows one upstream without renaming anything, and this one sees {visible.Count} ({Names(visible)}); list exactly one under {path}.upstreams"));
        }

        return new ProfileModel(name, p.Description, p.CompactToolsEnabled ?? !transparent, p.MaxTools ?? ProfileModel.DefaultMaxTools,
            p.BrokerToolNameStyle ?? ToolNameStyle.Dotted, visible)
        {
            AllowMutatingUpstreams = p.AllowMutatingUpstreams ?? [],
            AllowMutatingTools = p.AllowMutatingTools ?? [],
            OnOverBudget = p.OnOverBudget ?? OverBudgetAction.Error,
            ToolsPageSize = p.ToolsPageSize ?? ProfileModel.DefaultToolsPageSize,
            Transparent = transparent,
        };
    }

    /// <summary>
    /// Warns about allowances that can never apply (a typo leaves tools hidden) and about a profile that sees an
    /// upstream declared <c>mutating: true</c> without allowing any of it: that upstream is hidden from it entirely.
    /// </summary>
    /// <param name="declared">Every upstream written in the config, valid or not: one with an error of its own (a missing
    /// command) is still the one an allowance names, and that error says what to fix.</param>
    private static void CheckMutatingAllowances(string path, ProfileConfig p, List<UpstreamModel> visible, List<UpstreamModel> all,
        IReadOnlyDictionary<string, UpstreamConfig?> declared, List<ConfigIssue> issues)
    {
        foreach (var (i, pattern) in (p.AllowMutatingUpstreams ?? []).Index())
        {
            if (!declared.Keys.Any(name => Globs.Match(pattern, name)))
            {
                issues.Add(ConfigIssue.Warning($"{path}.allow_mutating_upstreams[{i}]",
                    $"'{pattern}' matches no upstream{DidYouMean.Hint(pattern, declared.Keys)}; defined: {Names(declared.Keys)}"));
            }
        }

        foreach (var (i, pattern) in (p.AllowMutatingTools ?? []).Index())
        {
            if (!pattern.Contains('.', StringComparison.Ordinal))
            {
                issues.Add(ConfigIssue.Error($"{path}.allow_mutating_tools[{i}]", $"'{pattern}' is not a canonical tool pattern; write prefix.tool, e.g. memory.create_* or *.write_file"));
            }
            else if (!all.Any(u => Globs.Match(pattern[..pattern.IndexOf('.', StringComparison.Ordinal)], u.Prefix))
                && !declared.Any(d => Globs.Match(pattern[..pattern.IndexOf('.', StringComparison.Ordinal)], d.Value?.Prefix ?? d.Key)))
            {
                issues.Add(ConfigIssue.Warning($"{path}.allow_mutating_tools[{i}]", $"'{pattern}' matches no upstream prefix; prefixes: {Names(all.Select(u => u.Prefix))}"));
            }
        }

        foreach (var u in visible.Where(u => u.Mutating == MutatingSetting.True && u.ToolOverrides.Values.All(o => o.Mutating != false)))
        {
            var allowed = (p.AllowMutatingUpstreams ?? []).Any(g => Globs.Match(g, u.Name))
                || (p.AllowMutatingTools ?? []).Any(g => g.Contains('.', StringComparison.Ordinal) && Globs.Match(g[..g.IndexOf('.', StringComparison.Ordinal)], u.Prefix));
            if (!allowed)
            {
                issues.Add(ConfigIssue.Warning(path,
                    $"sees upstream '{u.Name}' (mutating: true) but allows none of its tools, so it shows nothing of it; add '{u.Name}' to allow_mutating_upstreams, or stop showing it to this profile"));
            }
        }
    }

    private static ClientModel? ValidateClient(string name, ClientConfig c, Dictionary<string, ProfileModel> profiles, RuntimeModel? runtime,
        Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        var path = $"clients.{name}";
        var before = issues.Count;
        if (!NameRegex().IsMatch(name))
        {
            issues.Add(ConfigIssue.Error(path, "a client name uses only letters, digits, '_' and '-'"));
        }

        if (c.Format is not { } format)
        {
            return null; // the schema reports the missing format
        }

        var profile = c.Profile ?? ProfileModel.DefaultName;
        if (!profiles.ContainsKey(profile))
        {
            issues.Add(ConfigIssue.Error(c.Profile is null ? path : $"{path}.profile", $"no profile named '{profile}'{DidYouMean.Hint(profile, profiles.Keys)}; defined: {Names(profiles.Keys)}"));
        }

        var entry = c.EntryName ?? ClientModel.DefaultEntryName;
        if (!NameRegex().IsMatch(entry))
        {
            issues.Add(ConfigIssue.Error($"{path}.entry_name", $"'{entry}' may use only letters, digits, '_' and '-' (every client accepts those as a server name)"));
        }

        var raw = c.ConfigPath ?? ClientModel.DefaultPath(format);
        var configPath = Placeholders.Expand(raw, runtime, null, getEnv, out var error);
        if (configPath is null)
        {
            issues.Add(ConfigIssue.Error($"{path}.config_path", error!));
        }
        else if (!Path.IsPathFullyQualified(configPath))
        {
            issues.Add(ConfigIssue.Error($"{path}.config_path", $"'{raw}' is not an absolute path; write it from '/' or '~/'"));
        }

        if (c.McpAllowedServers is not null && format is not (ClientFormat.GeminiSettings or ClientFormat.Qwen))
        {
            issues.Add(ConfigIssue.Warning($"{path}.mcp_allowed_servers", "only gemini-settings and qwen clients have mcp.allowed; this list is ignored"));
        }

        CodexAppsPolicyModel? appsPolicy = null;
        if (c.CodexAppsPolicy is { } policy)
        {
            if (format != ClientFormat.CodexToml)
            {
                issues.Add(ConfigIssue.Error($"{path}.codex_apps_policy", $"only codex-toml clients have hosted apps; remove codex_apps_policy from this {System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(format.ToString())} client"));
            }
            else if (configPath is not null && Path.IsPathFullyQualified(configPath))
            {
                appsPolicy = ValidateAppsPolicy($"{path}.codex_apps_policy", policy, Path.GetDirectoryName(Path.GetFullPath(configPath))!, runtime, getEnv, issues);
            }
        }

        return issues.Skip(before).Any(i => i.Severity == IssueSeverity.Error)
            ? null
            : new ClientModel(name, format, Path.GetFullPath(configPath!), entry, profile, c.McpAllowedServers) { CodexAppsPolicy = appsPolicy };
    }

    /// <summary>
    /// A Codex hosted-app policy: each glob absolute after expansion with wildcards in its file name only (the folder is
    /// read, not searched), and each connector named by id or name, with a reason.
    /// </summary>
    private static CodexAppsPolicyModel ValidateAppsPolicy(string path, CodexAppsPolicyConfig p, string codexHome, RuntimeModel? runtime,
        Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        List<string> Globs(List<string>? globs, string key, string fallback)
        {
            if (globs is null)
            {
                return [Path.Combine(codexHome, fallback)];
            }

            var expanded = new List<string>();
            foreach (var (i, glob) in globs.Index())
            {
                var at = $"{path}.{key}[{i}]";
                var value = Placeholders.Expand(glob, runtime, null, getEnv, out var error);
                if (value is null)
                {
                    issues.Add(ConfigIssue.Error(at, error!));
                }
                else if (!Path.IsPathFullyQualified(value))
                {
                    issues.Add(ConfigIssue.Error(at, $"'{glob}' is not an absolute path; write it from '/' or '~/', e.g. ~/.codex/{fallback}"));
                }
                else if (Path.GetDirectoryName(value) is { } folder && folder.IndexOfAny(['*', '?']) >= 0)
                {
                    issues.Add(ConfigIssue.Error(at, $"'{glob}' has a wildcard in a folder name; only the file name may have * or ?, e.g. ~/.codex/{fallback}"));
                }
                else
                {
                    expanded.Add(Path.GetFullPath(value));
                }
            }

            return expanded;
        }

        var rules = new List<ConnectorRule>();
        foreach (var (i, rule) in (p.DisableConnectors ?? []).Index())
        {
            var at = $"{path}.disable_connectors[{i}]";
            if (string.IsNullOrWhiteSpace(rule.Id) && string.IsNullOrWhiteSpace(rule.Name))
            {
                issues.Add(ConfigIssue.Error(at, "name the connector: id: connector_… (as Codex's files spell it) or name: GitHub"));
            }
            else if (string.IsNullOrWhiteSpace(rule.Reason))
            {
                issues.Add(ConfigIssue.Error($"{at}.reason", "say why it is disabled, e.g. reason: \"the broker serves github\""));
            }
            else
            {
                rules.Add(new ConnectorRule(NullIfBlank(rule.Id), NullIfBlank(rule.Name), rule.Reason.Trim()));
            }
        }

        if (p.Enabled != false && (p.DisableConnectors?.Count ?? 0) == 0)
        {
            issues.Add(ConfigIssue.Warning(p.DisableConnectors is null ? path : $"{path}.disable_connectors",
                "names no connector, so apps-policy changes nothing; add disable_connectors: [{ name: GitHub, reason: \"the broker serves github\" }]"));
        }

        return new CodexAppsPolicyModel(p.Enabled ?? true,
            Globs(p.AppDirectory, "app_directory", Path.Combine("cache", "codex_app_directory", "*.json")),
            Globs(p.ToolsCache, "tools_cache", Path.Combine("cache", "codex_apps_tools", "*.json")),
            rules);
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string? TokenFile(string? raw, string path, RuntimeModel? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        if (raw is null || runtime is null)
        {
            return null;
        }

        var expanded = Placeholders.Expand(raw, runtime, null, getEnv, out var error);
        if (expanded is null)
        {
            issues.Add(ConfigIssue.Error(path, error!));
            return null;
        }

        return Path.IsPathFullyQualified(expanded) ? expanded : Path.Combine(runtime.SecretsDir, expanded);
    }

    private static void CheckPrefixesUnique(List<UpstreamModel> upstreams, List<ConfigIssue> issues)
    {
        foreach (var group in upstreams.Where(u => u.Mode != UpstreamMode.Disabled).GroupBy(u => u.Prefix, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            issues.Add(ConfigIssue.Error($"upstreams.{group.Last().Name}.prefix",
                $"prefix '{group.Key}' is used by {string.Join(" and ", group.Select(u => u.Name))}; tool names would collide — set a distinct prefix:"));
        }
    }

    private static void CheckEnvName(string key, string path, List<ConfigIssue> issues)
    {
        if (!EnvNameRegex().IsMatch(key))
        {
            issues.Add(ConfigIssue.Error(path, $"'{key}' is not a valid environment variable name (letters, digits and '_', not starting with a digit)"));
        }
    }

    private static string Names(IEnumerable<string> names) => names.Any() ? string.Join(", ", names) : "(none)";

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex NameRegex();

    [GeneratedRegex(@"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")]
    private static partial Regex HeaderNameRegex();

    /// <summary>
    /// True when the literal text of a credential header (its template without references) holds more than an auth
    /// scheme word and parameter names: "Bearer ${T}" and "sid=${S}" are fine, "sid=${S}; x=abc123" is not.
    /// </summary>
    private static bool HeaderLiteralValue(string literal) =>
        HeaderParameterName().Replace(AuthScheme().Replace(literal, ""), "").Trim(' ', ';', ',').Length > 0;

    [GeneratedRegex(@"^\s*(Bearer|Basic|Token|Digest|Key)\b", RegexOptions.IgnoreCase)]
    private static partial Regex AuthScheme();

    [GeneratedRegex(@"[A-Za-z0-9_.\-]+=")]
    private static partial Regex HeaderParameterName();

    /// <summary>What separates the pieces of a header's literal text that could each be a credential (cookie pairs, lists).</summary>
    [GeneratedRegex(@"[\s;,=]+")]
    private static partial Regex HeaderLiteralPieces();

    /// <summary>What a url's <c>${KEY}</c> secret reference stands for while the url is checked (the value is not known yet).</summary>
    private const string SecretMarker = "mcp-broker-secret";

    /// <summary>
    /// A url with its placeholders expanded, and each <c>${KEY}</c> naming a key of env_from or env_files (a query
    /// value a server takes its credential in) replaced by a marker for the checks; <paramref name="template"/> is the
    /// expanded url keeping those references (filled in at connect time), or null when it has none.
    /// </summary>
    private static string? ExpandUrl(string raw, RuntimeModel? runtime, string name, Func<string, string?> getEnv, HashSet<string> secretKeys,
        out string? error, out string? template)
    {
        error = null;
        template = null;
        var expanded = new StringBuilder();
        var kept = new StringBuilder();
        var pos = 0;
        foreach (Match m in SecretReferenceOrEscape().Matches(raw).Where(m => m.Value != "$$" && secretKeys.Contains(m.Groups["key"].Value)))
        {
            if (Placeholders.Expand(raw[pos..m.Index], runtime, name, getEnv, out error) is not { } piece)
            {
                return null;
            }

            expanded.Append(piece).Append(SecretMarker);
            kept.Append(piece).Append(m.Value);
            pos = m.Index + m.Length;
        }

        if (Placeholders.Expand(raw[pos..], runtime, name, getEnv, out error) is not { } rest)
        {
            return null;
        }

        template = pos == 0 ? null : kept.Append(rest).ToString();
        return expanded.Append(rest).ToString();
    }

    /// <summary><c>$$</c> (a literal '$'), or <c>${KEY}</c>: in an argument, a reference to a key of env_from or env_files when KEY is one.</summary>
    [GeneratedRegex(@"\$\$|\$\{(?<key>[A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex SecretReferenceOrEscape();

    /// <summary><c>${KEY}</c> in a header value: KEY is a key of the upstream's env_from or env_files.</summary>
    [GeneratedRegex(@"\$\{(?<key>[A-Za-z_][A-Za-z0-9_]*)\}")]
    public static partial Regex HeaderReferenceRegex();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvNameRegex();
}
