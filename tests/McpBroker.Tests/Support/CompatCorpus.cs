using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace McpBroker.Tests.Support;

/// <summary>One server of the compatibility corpus (tests/compat/corpus.json).</summary>
/// <param name="BrokerEnv">Added to <paramref name="Env"/> on the broker's side only: a control, which must then differ at <paramref name="ExpectDiffers"/>.</param>
internal sealed record CorpusServer(string Name, string? Package, string? Bin, string? Main, IReadOnlyList<string> Args, IReadOnlyDictionary<string, string> Env, string? Note,
    IReadOnlyDictionary<string, string> BrokerEnv, string? ExpectDiffers)
{
    /// <summary>How both sides start it (differential.mjs's launchOf does the same): a bin of tests/compat, or a file run with node.</summary>
    public (string Command, IReadOnlyList<string> Args, IReadOnlyDictionary<string, string> Env) Launch(string work)
    {
        string Expand(string s) => s.Replace("{work}", work, StringComparison.Ordinal);
        var env = new Dictionary<string, string> { ["HOME"] = Path.Combine(work, "home") };
        foreach (var (key, value) in Env)
        {
            env[key] = Expand(value);
        }

        var args = Args.Select(Expand).ToList();
        return Main is not null
            ? ("node", [Path.Combine(CompatCorpus.Dir, Main), .. args], env)
            : (Path.Combine(CompatCorpus.Dir, "node_modules", ".bin", Bin!), args, env);
    }
}

/// <summary>A package tried for the corpus and left out, with why.</summary>
internal sealed record DroppedServer(string Package, string? Version, string Why);

/// <summary>
/// The compatibility corpus: real MCP servers pinned in tests/compat (installed once per test run with npm ci, scripts
/// off), the broker config that puts each behind its own transparent profile, and docs/compatibility.md.
/// </summary>
internal static partial class CompatCorpus
{
    private static readonly Lazy<Task> s_install = new(InstallAsync);

    public static string Dir => Path.Combine(Repo.Root, "tests", "compat");

    public static string DocPath => Path.Combine(Repo.Root, "docs", "compatibility.md");

    /// <summary>The command that regenerates docs/compatibility.md (also printed in it).</summary>
    public const string RegenerateCommand = "scripts/compat";

    public static Task EnsureInstalledAsync() => s_install.Value;

    public static (IReadOnlyList<CorpusServer> Servers, IReadOnlyList<DroppedServer> Dropped) Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "corpus.json")));
        var servers = doc.RootElement.GetProperty("servers").EnumerateArray().Select(s => new CorpusServer(
            s.GetProperty("name").GetString()!,
            Optional(s, "package"),
            Optional(s, "bin"),
            Optional(s, "main"),
            s.TryGetProperty("args", out var args) ? args.EnumerateArray().Select(a => a.GetString()!).ToList() : [],
            s.TryGetProperty("env", out var env) ? env.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!) : [],
            Optional(s, "note"),
            s.TryGetProperty("brokerEnv", out var brokerEnv) ? brokerEnv.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!) : [],
            Optional(s, "expectDiffers"))).ToList();
        var dropped = doc.RootElement.GetProperty("dropped").EnumerateArray()
            .Select(d => new DroppedServer(d.GetProperty("package").GetString()!, Optional(d, "version"), d.GetProperty("why").GetString()!)).ToList();
        return (servers, dropped);
    }

    /// <summary>
    /// Every server as an upstream of the same name, each the one upstream of a transparent profile of that name. The
    /// profiles allow every tool (mutating ones are hidden otherwise) and raise the tools budget over the default 200
    /// (large-schemas lists 240): both are the profile's policy, not what the comparison is about.
    /// </summary>
    public static string BrokerConfig(string root, IEnumerable<CorpusServer> servers, Func<CorpusServer, string> workOf)
    {
        static string Q(string s) => JsonSerializer.Serialize(s);
        var yaml = new StringBuilder()
            .AppendLine("schema_version: 1")
            .AppendLine(CultureInfo.InvariantCulture, $"runtime: {{ root: {Q(root)} }}")
            .AppendLine("broker: { idle_timeout: 10m, start_timeout: 60s, call_timeout: 60s }")
            .AppendLine("profiles:");
        foreach (var server in servers)
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"  {server.Name}: {{ transparent: true, upstreams: [{server.Name}], allow_mutating_upstreams: [{server.Name}], max_tools: 1000 }}");
        }

        yaml.AppendLine("upstreams:");
        foreach (var server in servers)
        {
            var work = workOf(server);
            var (command, args, launchEnv) = server.Launch(work);
            var env = launchEnv.Concat(server.BrokerEnv).ToDictionary(e => e.Key, e => e.Value);
            yaml.AppendLine(CultureInfo.InvariantCulture, $"  {server.Name}:")
                .AppendLine(CultureInfo.InvariantCulture, $"    command: {Q(command)}")
                .AppendLine(CultureInfo.InvariantCulture, $"    args: [{string.Join(", ", args.Select(Q))}]")
                .AppendLine(CultureInfo.InvariantCulture, $"    working_dir: {Q(work)}")
                .AppendLine(CultureInfo.InvariantCulture, $"    env: {{ {string.Join(", ", env.Select(e => $"{e.Key}: {Q(e.Value)}"))} }}")
                .AppendLine(CultureInfo.InvariantCulture, $"    profiles: [{server.Name}]");
        }

        return yaml.ToString();
    }

    /// <summary>docs/compatibility.md from one run's JSON lines (one per server, in corpus order).</summary>
    public static string Render(IReadOnlyList<CorpusServer> servers, IReadOnlyList<JsonElement> results, IReadOnlyList<DroppedServer> dropped, TimeSpan elapsed, int concurrency)
    {
        static string Cell(string? s) => (s ?? "").Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
        static string Count(JsonElement counts, string key) =>
            counts.TryGetProperty(key, out var v) ? v.ValueKind switch { JsonValueKind.Number => v.GetInt32().ToString(CultureInfo.InvariantCulture), JsonValueKind.Null => "–", _ => v.ToString() } : "–";

        var same = results.Count(r => Result(r) is "same" or "known");
        var md = new StringBuilder()
            .AppendLine("# Compatibility corpus")
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Generated by `{RegenerateCommand}` (the test `TransparentProfileCorpusJourneyTests` with `MCP_BROKER_WRITE_COMPAT=1`); do not edit by hand.")
            .AppendLine(CultureInfo.InvariantCulture, $"Last run: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {results.Count(r => !r.TryGetProperty("control", out _))} servers and a control, {same} of them the same through the broker, {elapsed.TotalSeconds:0} s with {concurrency} at a time.")
            .AppendLine()
            .AppendLine("Each server of [tests/compat/corpus.json](../tests/compat/corpus.json) (pinned in `tests/compat/package-lock.json`, installed")
            .AppendLine("with `npm ci --ignore-scripts`, started offline with dummy credentials) is run by")
            .AppendLine("[tests/compat/differential.mjs](../tests/compat/differential.mjs) with the official TypeScript SDK client (1.32.2, which asks for")
            .AppendLine("protocol 2025-11-25 and offers sampling and elicitation, as the broker offers every upstream): once directly over stdio,")
            .AppendLine("once through `mcp-broker-client` and one daemon whose config has every server as an upstream behind its own")
            .AppendLine("`transparent: true` profile. Both answers are compared as raw JSON.")
            .AppendLine()
            .AppendLine("**Equal, names aside**, means:")
            .AppendLine()
            .AppendLine("- `initialize`: the same `instructions`. `serverInfo` is not compared: the broker presents its own name and version.")
            .AppendLine("  Nor is `protocolVersion` (the table shows both): the broker negotiates with the client itself and speaks to each")
            .AppendLine("  upstream in the upstream's own revision; what matters is what is said in it. Of the capabilities, what a client")
            .AppendLine("  decides on must match: whether tools, resources, prompts and completions are offered, and whether resources can be")
            .AppendLine("  subscribed to. `listChanged` flags, `logging` and `experimental` are the broker's own to declare (it re-reads lists")
            .AppendLine("  and notifies sessions itself, and filters logs per session).")
            .AppendLine("- `tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`: every page (`nextCursor` followed), deeply")
            .AppendLine("  equal and in the same order; a list the server does not offer must not be offered through the broker either; an")
            .AppendLine("  error must be the same error (code and message).")
            .AppendLine("- One harmless tool call where one works offline (`call` in corpus.json), and for some servers one `resources/read`")
            .AppendLine("  (`read`) and one `prompts/get` (`prompt`): the raw results deeply equal (*calls* says how each went directly).")
            .AppendLine()
            .AppendLine("A difference listed under `known` in corpus.json (with why) does not count: such a server's result is *known*.")
            .AppendLine()
            .AppendLine("*direct* is the protocol revision the server negotiated with the client directly, *client* the one the broker")
            .AppendLine("negotiated with the same client, *upstream* the one the broker negotiated with the server (`mcp-broker status`);")
            .AppendLine("counts are what the server listed directly (– not offered, `error` when listing failed).")
            .AppendLine()
            .AppendLine("| server | package | version | direct | client | upstream | tools | resources | templates | prompts | calls | result |")
            .AppendLine("|---|---|---|---|---|---|---:|---:|---:|---:|---|---|");
        for (var i = 0; i < servers.Count; i++)
        {
            var server = servers[i];
            var r = results[i];
            var counts = r.TryGetProperty("counts", out var c) ? c : default;
            var protocol = r.TryGetProperty("protocol", out var p) ? p : default;
            var direct = protocol.ValueKind == JsonValueKind.Object ? protocol.GetProperty("direct").GetString() : null;
            var broker = protocol.ValueKind == JsonValueKind.Object ? protocol.GetProperty("broker").GetString() : null;
            var upstream = protocol.ValueKind == JsonValueKind.Object && protocol.TryGetProperty("upstream", out var u) ? u.GetString() : null;
            var negotiated = $"{direct ?? "–"} | {broker ?? "–"} | {upstream ?? "–"}";
            var package = server.Package ?? $"[{server.Main}](../tests/compat/{server.Main})";
            var version = r.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : "";
            var calls = counts.ValueKind != JsonValueKind.Object ? [] : new[] { "call", "read", "prompt" }
                .Where(k => counts.TryGetProperty(k, out var v) && v.ValueKind == JsonValueKind.String).Select(k => $"{k} {counts.GetProperty(k).GetString()}").ToList();
            var callText = calls.Count == 0 ? "–" : string.Join(", ", calls);
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {Cell(server.Name)} | {Cell(package)} | {Cell(version)} | {negotiated} | {(counts.ValueKind == JsonValueKind.Object ? Count(counts, "tools") : "–")} | " +
                $"{(counts.ValueKind == JsonValueKind.Object ? Count(counts, "resources") : "–")} | {(counts.ValueKind == JsonValueKind.Object ? Count(counts, "resourceTemplates") : "–")} | " +
                $"{(counts.ValueKind == JsonValueKind.Object ? Count(counts, "prompts") : "–")} | {callText} | {Cell(Describe(r))} |");
        }

        var byField = results
            .Where(r => !r.TryGetProperty("control", out _))
            .SelectMany(r => r.TryGetProperty("differences", out var d) ? d.EnumerateArray().Select(x => (Field: General(x.GetProperty("path").GetString()!), Server: r.GetProperty("server").GetString()!)) : [])
            .GroupBy(x => x.Field).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        if (byField.Count > 0)
        {
            md.AppendLine().AppendLine("## Differences by field").AppendLine()
                .AppendLine("The first difference of each compared part (initialize, each list, the call), counted over the servers:").AppendLine()
                .AppendLine("| field | servers | which |").AppendLine("|---|---:|---|");
            foreach (var group in byField)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| `{Cell(group.Key)}` | {group.Count()} | {Cell(string.Join(", ", group.Select(g => g.Server)))} |");
            }
        }

        var noisy = results.Where(r => r.TryGetProperty("stdoutErrors", out _))
            .Select(r => r.GetProperty("server").GetString()!).ToList();
        md.AppendLine().AppendLine(CultureInfo.InvariantCulture,
            $"Servers that wrote lines other than JSON-RPC to stdout (run directly): {(noisy.Count == 0 ? "none" : string.Join(", ", noisy))}.");

        var notes = servers.Where(s => s.Note is not null).ToList();
        if (notes.Count > 0)
        {
            md.AppendLine().AppendLine("Notes on single servers:").AppendLine();
            foreach (var server in notes)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- **{server.Name}**: {server.Note}");
            }
        }

        md.AppendLine()
            .AppendLine("## Left out")
            .AppendLine()
            .AppendLine("Tried and not in the corpus, each with why:")
            .AppendLine();
        foreach (var d in dropped)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- `{d.Package}`{(d.Version is null ? "" : $" {d.Version}")}: {d.Why}");
        }

        md.AppendLine()
            .AppendLine("## Regenerate")
            .AppendLine()
            .AppendLine("```bash")
            .AppendLine(RegenerateCommand + "    # = MCP_BROKER_WRITE_COMPAT=1 dotnet test McpBroker.slnx --filter FullyQualifiedName~TransparentProfileCorpusJourneyTests")
            .AppendLine("```")
            .AppendLine()
            .AppendLine("One server by hand, with its full answers both ways in a file: start a daemon on a generated config (or run the test")
            .AppendLine("with `MCP_BROKER_KEEP_TEST_ROOT=1` and use its `broker.yaml`), then")
            .AppendLine("`node tests/compat/differential.mjs --server NAME --work DIR --shim mcp-broker-client --config broker.yaml --profile NAME --dump out.json`;")
            .AppendLine("without `--shim` it only runs the server directly (a quick check that it starts offline).");
        return md.ToString();
    }

    /// <summary>same / known (the same but for differences listed under "known" in corpus.json) / differs / fails, from one JSON line.</summary>
    public static string Result(JsonElement line) => line.TryGetProperty("result", out var r) ? r.GetString() ?? "fails" : "fails";

    /// <summary>The result and, when not the same, its first differing field with both values, or why it failed.</summary>
    public static string Describe(JsonElement line)
    {
        var result = Result(line);
        if (result == "differs" && line.TryGetProperty("control", out var control))
        {
            return $"differs at `{line.GetProperty("path").GetString()}` (the control must differ at `{control.GetString()}`)";
        }

        if (result == "differs")
        {
            var others = line.GetProperty("differences").EnumerateArray().Skip(1).Select(d => $"`{General(d.GetProperty("path").GetString()!)}`").ToList();
            return $"differs at `{line.GetProperty("path").GetString()}`: directly {Short(line.GetProperty("direct"))}, through the broker {Short(line.GetProperty("broker"))}"
                + (others.Count > 0 ? $"; also {string.Join(", ", others)}" : "");
        }

        if (result == "known")
        {
            return $"same but for known differences: {string.Join("; ", line.GetProperty("known").EnumerateArray().Select(k => k.GetString()))}";
        }

        return result == "fails" ? $"fails: {(line.TryGetProperty("why", out var why) ? why.GetString() : "no result")}" : result;
    }

    /// <summary>A difference's path with its list indexes written [] (as "known" in corpus.json names them).</summary>
    private static string General(string path) => IndexRegex().Replace(path, "[]");

    [System.Text.RegularExpressions.GeneratedRegex("""\[\d+( "[^"]*")?\]""")]
    private static partial System.Text.RegularExpressions.Regex IndexRegex();

    private static string Short(JsonElement value)
    {
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        return text.Length > 120 ? $"`{text[..120]}…`" : $"`{text}`";
    }

    private static string? Optional(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static Task InstallAsync() =>
        NpmUpstreams.NpmCiAsync(Dir, Path.Combine(Dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json"));
}
