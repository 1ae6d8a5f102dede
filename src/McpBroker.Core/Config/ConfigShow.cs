using YamlDotNet.Serialization;

namespace McpBroker.Config;

/// <summary>
/// The resolved model as YAML, for <c>config show</c>: defaults filled in, placeholders expanded, and no secret
/// value anywhere — env_from and env_files show where a value comes from, literal values that look like
/// secrets are masked.
/// </summary>
public static class ConfigShow
{
    public const string Redacted = "<redacted>";

    public static string Render(BrokerModel model, Func<string, string?>? getEnv = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        var doc = new Dictionary<string, object?>
        {
            ["schema_version"] = 1,
            ["source"] = model.SourcePath,
            ["runtime"] = new Dictionary<string, object?>
            {
                ["root"] = model.Runtime.Root,
                ["socket_path"] = model.Runtime.SocketPath,
                ["state_dir"] = model.Runtime.StateDir,
                ["secrets_dir"] = model.Runtime.SecretsDir,
            },
            ["broker"] = new Dictionary<string, object?>
            {
                ["idle_timeout"] = new Duration(model.Settings.IdleTimeout).ToString(),
                ["start_timeout"] = new Duration(model.Settings.StartTimeout).ToString(),
                ["call_timeout"] = new Duration(model.Settings.CallTimeout).ToString(),
                ["http"] = model.Settings.Http is { } http ? new Dictionary<string, object?>
                {
                    ["listen"] = http.Listen.ToString(),
                    ["token_file"] = http.TokenFile,
                    ["allowed_origins"] = http.AllowedOrigins.Count == 0 ? null : http.AllowedOrigins.ToList(),
                } : null,
                ["status_page"] = model.Settings.StatusPage is { } page ? new Dictionary<string, object?>
                {
                    ["port"] = page.Listen.Port,
                    ["token_file"] = page.TokenFile,
                    ["url"] = page.Url,
                } : null,
            },
            ["telemetry"] = model.Telemetry is { } telemetry ? new Dictionary<string, object?>
            {
                ["otlp_endpoint"] = telemetry.OtlpEndpoint?.ToString(),
                ["otlp_protocol"] = telemetry.OtlpEndpoint is null ? null : Word(telemetry.OtlpProtocol),
                ["export_interval"] = telemetry.OtlpEndpoint is null ? null : new Duration(telemetry.ExportInterval).ToString(),
                ["prometheus"] = telemetry.Prometheus,
            } : null,
            ["profiles"] = model.Profiles.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary(p => p.Key, p => (object?)new Dictionary<string, object?>
            {
                ["description"] = p.Value.Description,
                ["compact_tools_enabled"] = p.Value.CompactToolsEnabled,
                ["max_tools"] = p.Value.MaxTools,
                ["broker_tool_name_style"] = p.Value.NameStyle.ToString().ToLowerInvariant(),
                ["upstreams"] = p.Value.Upstreams.ToList(),
                ["require_token_file"] = p.Value.RequireTokenFile,
                ["allow_mutating_upstreams"] = p.Value.AllowMutatingUpstreams.ToList(),
                ["allow_mutating_tools"] = p.Value.AllowMutatingTools.ToList(),
                ["on_over_budget"] = Word(p.Value.OnOverBudget),
                ["tools_page_size"] = p.Value.ToolsPageSize,
            }),
            ["clients"] = model.Clients.Count == 0 ? null : model.Clients.OrderBy(c => c.Key, StringComparer.Ordinal).ToDictionary(c => c.Key, c => (object?)new Dictionary<string, object?>
            {
                ["format"] = System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(c.Value.Format.ToString()),
                ["config_path"] = c.Value.ConfigPath,
                ["entry_name"] = c.Value.EntryName,
                ["profile"] = c.Value.Profile,
                ["mcp_allowed_servers"] = c.Value.Format is ClientFormat.GeminiSettings or ClientFormat.Qwen ? c.Value.McpAllowedServers?.ToList() : null,
                ["codex_apps_policy"] = c.Value.CodexAppsPolicy is { } apps ? new Dictionary<string, object?>
                {
                    ["enabled"] = apps.Enabled,
                    ["app_directory"] = apps.AppDirectory.ToList(),
                    ["tools_cache"] = apps.ToolsCache.ToList(),
                    ["disable_connectors"] = apps.DisableConnectors.Select(r => (object?)new Dictionary<string, object?> { ["id"] = r.Id, ["name"] = r.Name, ["reason"] = r.Reason }).ToList(),
                } : null,
            }),
            ["upstreams"] = model.Upstreams.ToDictionary(u => u.Name, u => (object?)new Dictionary<string, object?>
            {
                ["transport"] = u.Transport.ToString().ToLowerInvariant(),
                ["mode"] = u.Mode switch { UpstreamMode.PerSession => "per_session", UpstreamMode.PerCall => "per_call", var m => m.ToString().ToLowerInvariant() },
                ["prefix"] = u.Prefix,
                ["command"] = u.Remote is null ? u.Command : null,
                ["args"] = u.Remote is null ? u.Args.Select(a => SecretHeuristics.LooksLikeSecret(a) ? Redacted : a).ToList() : null,
                ["working_dir"] = u.Remote is null ? u.WorkingDir : null,
                ["env"] = u.Remote is null ? u.Env.OrderBy(e => e.Key, StringComparer.Ordinal).ToDictionary(e => e.Key, e => SecretHeuristics.LooksLikeSecret(e.Value) ? Redacted : e.Value) : null,
                ["url"] = u.Remote?.Url.ToString(),
                ["headers"] = u.Remote is { Headers.Count: > 0 } r ? r.Headers.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase).ToDictionary(h => h.Key, h => h.Value) : null,
                ["oauth"] = u.Remote?.OAuth is { } o ? new Dictionary<string, object?>
                {
                    ["client_id"] = o.ClientId,
                    ["client_secret_file"] = o.ClientSecretFile,
                    ["scopes"] = o.Scopes?.ToList(),
                    ["redirect_port"] = o.RedirectPort,
                    ["token_file"] = o.TokenFile,
                } : null,
                ["env_from"] = u.EnvFrom.OrderBy(e => e.Key, StringComparer.Ordinal).ToDictionary(e => e.Key, e => $"${e.Value} ({(getEnv(e.Value) is null ? "not set" : "set")})"),
                ["env_files"] = u.EnvFiles.OrderBy(e => e.Key, StringComparer.Ordinal).ToDictionary(e => e.Key, e => e.Value),
                ["purpose"] = u.Purpose,
                ["tags"] = u.Tags.ToList(),
                ["smoke"] = u.Smoke is { } smoke ? new Dictionary<string, object?>
                {
                    ["query"] = smoke.Query,
                    ["tool"] = smoke.Tool,
                    ["arguments"] = smoke.Arguments.Count == 0 ? null : System.Text.Json.JsonSerializer.Serialize(smoke.Arguments),
                    ["call"] = smoke.Call,
                } : null,
                ["idle_timeout"] = new Duration(u.IdleTimeout).ToString(),
                ["timeouts"] = new Dictionary<string, object?>
                {
                    ["start"] = new Duration(u.StartTimeout).ToString(),
                    ["call"] = new Duration(u.CallTimeout).ToString(),
                    ["tools"] = u.ToolTimeouts.Count == 0 ? null : u.ToolTimeouts.OrderBy(t => t.Key, StringComparer.Ordinal).ToDictionary(t => t.Key, t => new Duration(t.Value).ToString()),
                },
                ["restart"] = new Dictionary<string, object?>
                {
                    ["max_attempts"] = u.Restart.MaxAttempts,
                    ["backoff"] = new Duration(u.Restart.Backoff).ToString(),
                    ["max_backoff"] = new Duration(u.Restart.MaxBackoff).ToString(),
                    ["cooldown"] = new Duration(u.Restart.Cooldown).ToString(),
                },
                ["max_concurrency"] = u.MaxConcurrency,
                ["max_queue"] = u.MaxConcurrency is null ? null : u.MaxQueue,
                ["max_tools"] = u.MaxTools == Catalog.CatalogLimits.DefaultMaxTools ? null : u.MaxTools,
                ["max_tool_bytes"] = u.MaxToolBytes == Catalog.CatalogLimits.DefaultMaxToolBytes ? null : u.MaxToolBytes,
                ["mutating"] = Word(u.Mutating),
                ["pin_tools"] = Word(u.PinTools),
                ["tools"] = u.ToolOverrides.Count == 0 ? null : u.ToolOverrides.OrderBy(t => t.Key, StringComparer.Ordinal).ToDictionary(t => t.Key, t => (object?)new Dictionary<string, object?>
                {
                    ["hidden"] = t.Value.Hidden ? true : null,
                    ["description"] = t.Value.Description,
                    ["mutating"] = t.Value.Mutating,
                    ["idempotent"] = t.Value.Idempotent,
                    ["defaults"] = t.Value.Defaults.Count == 0 ? null : t.Value.Defaults.OrderBy(d => d.Key, StringComparer.Ordinal).ToDictionary(d => d.Key, d => SecretHeuristics.LooksLikeSecret(d.Value.GetRawText()) ? Redacted : d.Value.GetRawText()),
                }),
            }),
        };
        return new SerializerBuilder()
            .WithIndentedSequences()
            .Build()
            .Serialize(WithoutNulls(doc));
    }

    /// <summary>An enum as the YAML spells it: per_session, trust_on_first_use, auto.</summary>
    private static string Word<T>(T value)
        where T : struct, Enum => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    private static Dictionary<string, object?> WithoutNulls(Dictionary<string, object?> map) =>
        map.Where(p => p.Value is not null)
            .ToDictionary(p => p.Key, p => p.Value is Dictionary<string, object?> child ? WithoutNulls(child) : p.Value);
}
