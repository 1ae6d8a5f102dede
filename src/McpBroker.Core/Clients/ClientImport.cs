using System.Text;
using System.Text.Json;
using System.Text.Encodings.Web;
using System.Text.RegularExpressions;
using McpBroker.Config;

namespace McpBroker.Clients;

/// <summary>What importing one client's servers did: the YAML added, and a line for each server.</summary>
internal sealed record ImportPlan(string Yaml, IReadOnlyList<string> Added, IReadOnlyList<string> Lines);

/// <summary>
/// Turns a client's server entries into broker upstreams and adds them to broker.yaml as text (after the last
/// upstream, in the file's own indentation), so its comments and layout stay. Servers the broker already runs (same
/// command and arguments, or URL) are not added twice. Env values that look like secrets are never copied: they
/// become <c>env_from</c> references to a variable of the same name, with a note saying where to set it.
/// </summary>
internal static partial class ClientImport
{
    private static readonly JsonSerializerOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static ImportPlan Plan(string yaml, BrokerModel model, ClientModel client, ClientEntry entry, IReadOnlyList<ClientServer> servers)
    {
        var known = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var upstream in model.Upstreams)
        {
            known.TryAdd(Identity(upstream), upstream.Name);
        }

        var names = model.Upstreams.Select(u => u.Name).ToHashSet(StringComparer.Ordinal);
        var lines = new List<string>();
        var added = new List<string>();
        var blocks = new StringBuilder();
        foreach (var server in servers.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            if (server.Name == entry.Name || IsBroker(server))
            {
                continue;
            }

            if (known.TryGetValue(server.Identity, out var existing) || Covering(model.Upstreams, server) is { Name: var covering } && (existing = covering) is not null)
            {
                lines.Add($"{server.Name}: already an upstream ('{existing}'), not added again");
                continue;
            }

            if (server.Url is null && server.Command is null)
            {
                lines.Add($"{server.Name}: skipped — neither a command nor a url; it stays in the client");
                continue;
            }

            var name = UniqueName(server.Name, names);
            names.Add(name);
            known[server.Identity] = name;
            added.Add(name);
            var notes = new List<string>();
            blocks.Append(Block(name, server, client, notes));
            lines.Add($"{server.Name}: added as upstream '{name}'" + (notes.Count == 0 ? "" : "; " + string.Join("; ", notes)));
        }

        return new ImportPlan(blocks.Length == 0 ? yaml : Insert(yaml, blocks.ToString()), added, lines);
    }

    /// <summary>True for an entry that already launches the broker's shim: mcp-broker-client, or 'mcp-broker shim|stdio'.</summary>
    public static bool IsBroker(ClientServer server) =>
        server.Command is { } command && Path.GetFileNameWithoutExtension(command) switch
        {
            "mcp-broker-client" => true,
            "mcp-broker" => server.Args is ["shim" or "stdio", ..],
            _ => false,
        };

    /// <summary>What makes an upstream the same server as a client's entry: its URL, or its command and arguments as written.</summary>
    public static string Identity(UpstreamModel upstream) => upstream.Remote is { } remote
        ? UrlIdentity(remote.Url.ToString())
        : CommandIdentity(upstream.Command, upstream.Args);

    /// <summary>
    /// The upstream that runs the client's server: the same identity, or — for an upstream whose arguments or url hold
    /// <c>${KEY}</c> references (a credential import took out) — the same text with each reference standing for any value.
    /// </summary>
    public static UpstreamModel? Covering(IEnumerable<UpstreamModel> upstreams, ClientServer server)
    {
        var list = upstreams as IReadOnlyCollection<UpstreamModel> ?? [.. upstreams];
        return list.FirstOrDefault(u => Identity(u) == server.Identity) ?? list.FirstOrDefault(u => Matches(u, server));
    }

    private static bool Matches(UpstreamModel upstream, ClientServer server)
    {
        static bool Same(string template, string value) => !template.Contains("${", StringComparison.Ordinal)
            ? template == value
            : Regex.IsMatch(value, "^" + string.Join(".*", ConfigValidator.HeaderReferenceRegex().Split(template).Where((_, i) => i % 2 == 0).Select(Regex.Escape)) + "$", RegexOptions.Singleline);

        return upstream.Remote is { } remote
            ? server.Url is { } url && remote.UrlTemplate is { } template && Same(template.TrimEnd('/'), url.TrimEnd('/'))
            : server.Url is null && server.Command == upstream.Command && server.Args.Count == upstream.Args.Count && upstream.Args.Zip(server.Args).All(p => Same(p.First, p.Second));
    }

    /// <summary>A local server as an identity: its command and arguments as written.</summary>
    public static string CommandIdentity(string command, IEnumerable<string> args) => string.Join('\0', ["cmd", command, .. args]);

    /// <summary>A URL as an identity: parsed (so host case and a bare host's slash do not matter), without a trailing slash.</summary>
    public static string UrlIdentity(string url) =>
        "url\0" + (Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.ToString() : url).TrimEnd('/');

    private static string UniqueName(string raw, HashSet<string> taken)
    {
        var name = NotNameChars().Replace(raw, "-").Trim('-');
        name = name.Length == 0 ? "imported" : name;
        var candidate = name;
        for (var n = 2; taken.Contains(candidate); n++)
        {
            candidate = $"{name}-{n}";
        }

        return candidate;
    }

    /// <summary>One upstream as YAML, at two spaces under <c>upstreams:</c> (re-indented to the file's own step on insert).</summary>
    private static string Block(string name, ClientServer server, ClientModel client, List<string> notes)
    {
        var yaml = new StringBuilder();
        yaml.Append($"  {name}:\n");
        yaml.Append($"    purpose: {Quote($"imported from {client.Name} ({server.Name})")}\n");
        var envFrom = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (server.Url is { } url)
        {
            yaml.Append($"    transport: {(server.Sse ? "sse" : "http")}\n");
            yaml.Append($"    url: {Quote(ImportSecrets.Url(name, url, envFrom, notes, "the url") ?? url)}\n");
            if (server.Headers.Count > 0)
            {
                yaml.Append("    headers:\n");
                foreach (var (header, value) in server.Headers.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase))
                {
                    yaml.Append($"      {Key(header)}: {Quote(HeaderTemplate(header, value, envFrom, notes))}\n");
                }
            }
        }
        else
        {
            yaml.Append($"    command: {Quote(server.Command!)}\n");
            if (server.Args.Count > 0)
            {
                yaml.Append($"    args: [{string.Join(", ", ImportSecrets.Args(name, server.Args, envFrom, notes).Select(Quote))}]\n");
            }

            if (server.WorkingDir is { } cwd)
            {
                yaml.Append($"    working_dir: {Quote(cwd)}\n");
            }
        }

        var env = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in server.Env)
        {
            if (Reference().Match(value) is { Success: true } reference)
            {
                // ${VAR}, $VAR, ${env:VAR}: already a reference; ${input:x} (VS Code prompts) has no variable to name.
                var variable = reference.Groups["input"].Success ? key : reference.Groups["name"].Value;
                envFrom[key] = variable;
                notes.Add($"{key} is read from ${variable} in the daemon's environment");
            }
            else if (SecretHeuristics.LooksLikeSecretName(key) || SecretHeuristics.LooksLikeSecret(value))
            {
                envFrom[key] = key;
                notes.Add($"{key} looked like a secret and was not copied: set ${key} in the daemon's environment, or use env_files with a 0600 file under secrets/");
            }
            else
            {
                env[key] = value;
            }
        }

        if (env.Count > 0)
        {
            yaml.Append("    env:\n");
            foreach (var (key, value) in env)
            {
                yaml.Append($"      {Key(key)}: {Quote(value)}\n");
            }
        }

        if (envFrom.Count > 0)
        {
            yaml.Append("    env_from:\n");
            foreach (var (key, variable) in envFrom)
            {
                yaml.Append($"      {Key(key)}: {Key(variable)}\n");
            }
        }

        if (!server.Enabled)
        {
            yaml.Append("    mode: disabled\n");
            notes.Add("it was disabled in the client, so it is imported with mode: disabled");
        }

        return yaml.ToString();
    }

    /// <summary>
    /// A client's header value as a broker header template: its variable references (<c>${VAR}</c>, <c>${env:VAR}</c>,
    /// <c>$VAR</c>) become <c>${VAR}</c> over env_from; a literal credential is not copied but becomes a reference to a
    /// variable named after the header, keeping a <c>Bearer </c> prefix.
    /// </summary>
    private static string HeaderTemplate(string header, string value, SortedDictionary<string, string> envFrom, List<string> notes)
    {
        var template = InlineReference().Replace(value, m =>
        {
            var variable = m.Groups["name"].Value;
            envFrom[variable] = variable;
            notes.Add($"header {header} reads ${variable} from the daemon's environment");
            return $"${{{variable}}}";
        });
        var literal = InlineReference().Replace(value, "");
        var bearer = literal.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase);
        var secret = literal.Contains("${input:", StringComparison.Ordinal) || SecretHeuristics.LooksLikeSecret(literal.Trim())
            || (bearer ? literal.Trim().Length > "Bearer".Length : SecretHeuristics.LooksLikeSecretName(header) && literal.Trim().Length > 0);
        if (!secret)
        {
            return template;
        }

        var key = NotEnvChars().Replace(header, "_").ToUpperInvariant();
        envFrom[key] = key;
        notes.Add($"header {header} held a credential, which was not copied: set ${key} in the daemon's environment (or use env_files with a 0600 file under secrets/)");
        return (bearer ? "Bearer " : "") + $"${{{key}}}";
    }

    /// <summary>An env name as a plain YAML key when it is a plain name, else quoted.</summary>
    private static string Key(string name) => PlainName().IsMatch(name) ? name : Quote(name);

    /// <summary>A YAML double-quoted scalar: JSON string syntax is one.</summary>
    private static string Quote(string value) => JsonSerializer.Serialize(value, s_json);

    /// <summary>
    /// Puts upstream blocks at the end of the top-level <c>upstreams:</c> mapping (re-indented to its step), or adds
    /// the mapping at the end of the file. A flow-style <c>upstreams: {…}</c> with entries is left alone with an error.
    /// </summary>
    internal static string Insert(string yaml, string blocks)
    {
        var nl = yaml.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        var lines = yaml.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var header = lines.FindIndex(l => UpstreamsKey().IsMatch(l));
        if (header < 0)
        {
            var prefix = yaml.Length == 0 || yaml.EndsWith('\n') ? yaml : yaml + nl;
            return prefix + (prefix.Length == 0 ? "" : nl) + "upstreams:" + nl + blocks.ReplaceLineEndings(nl);
        }

        var rest = UpstreamsKey().Match(lines[header]).Groups["rest"].Value.Trim();
        if (rest is not ("" or "{}") && !rest.StartsWith('#'))
        {
            throw new ClientConfigException("broker.yaml writes 'upstreams:' in flow style ({ … }); write it as a block mapping, then import again");
        }

        // The block ends before the next line that starts at column 0 (a comment there belongs to what follows it).
        var end = header + 1;
        var lastContent = header;
        for (; end < lines.Count; end++)
        {
            var line = lines[end];
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]))
            {
                break;
            }

            if (line.Trim().Length > 0)
            {
                lastContent = end;
            }
        }

        var step = lines.Skip(header + 1).Take(end - header - 1)
            .FirstOrDefault(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#')) is { } child
            ? child.Length - child.TrimStart().Length
            : 2;
        var indented = string.Join(nl, blocks.TrimEnd('\n').Split('\n').Select(l => Reindent(l, step)));
        if (rest == "{}")
        {
            lines[header] = UpstreamsKey().Match(lines[header]).Groups["key"].Value;
        }

        lines.Insert(lastContent + 1, indented);
        return string.Join(nl, lines);
    }

    /// <summary>Scales a line's two-space indentation steps to <paramref name="step"/> spaces.</summary>
    private static string Reindent(string line, int step)
    {
        var spaces = line.Length - line.TrimStart(' ').Length;
        return new string(' ', spaces / 2 * step) + line.TrimStart(' ');
    }

    [GeneratedRegex(@"^(?<key>upstreams\s*:)(?<rest>.*)$")]
    private static partial Regex UpstreamsKey();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex PlainName();

    [GeneratedRegex(@"[^A-Za-z0-9_-]+")]
    private static partial Regex NotNameChars();

    [GeneratedRegex(@"^\$(\{(env:)?(?<name>[A-Za-z_][A-Za-z0-9_]*)\}|(?<name>[A-Za-z_][A-Za-z0-9_]*))$|^\$\{(?<input>input:[^}]+)\}$")]
    private static partial Regex Reference();

    [GeneratedRegex(@"\$\{(env:)?(?<name>[A-Za-z_][A-Za-z0-9_]*)\}|\$(?<name>[A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex InlineReference();

    [GeneratedRegex(@"[^A-Za-z0-9_]")]
    private static partial Regex NotEnvChars();
}
