using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Exposure;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

/// <summary>
/// A server behind a compact profile as <c>search_tools</c>' description names it: its purpose and tags as the config
/// says, and, once catalogued, how many tools it has and a few of their names.
/// </summary>
internal sealed record FacadeServer(string Name, string? Purpose, IReadOnlyList<string> Tags, int? Tools = null, IReadOnlyList<string>? Examples = null);

/// <summary>
/// The four broker tools a compact profile lists. Their definitions are what every session loads up front,
/// so each word in them is paid for on every session: keep them short and keep them telling the model the
/// search → describe → call path.
/// </summary>
internal static class FacadeTools
{
    public const string Search = "search_tools";
    public const string Describe = "describe_tool";
    public const string Call = "call_tool";
    public const string Status = "status";

    public const string ListResources = "list_resources";
    public const string ReadResource = "read_resource";
    public const string ListPrompts = "list_prompts";
    public const string GetPrompt = "get_prompt";

    public static readonly string[] All = [Search, Describe, Call, Status];

    /// <summary>
    /// How a compact profile reaches resources and prompts: broker tools that are not listed (they cost nothing up
    /// front), found by search_tools, read with describe_tool and run with call_tool like any tool.
    /// </summary>
    public static readonly string[] Unlisted = [ListResources, ReadResource, ListPrompts, GetPrompt];

    /// <summary>The words a search must use to find each unlisted tool.</summary>
    private static readonly Dictionary<string, string[]> s_unlistedWords = new(StringComparer.Ordinal)
    {
        [ListResources] = ["resource", "resources", "file", "files", "document", "documents", "uri", "list", "browse", "template", "templates"],
        [ReadResource] = ["resource", "resources", "file", "files", "document", "documents", "uri", "read", "open", "content", "contents"],
        [ListPrompts] = ["prompt", "prompts", "template", "templates", "list"],
        [GetPrompt] = ["prompt", "prompts", "template", "templates", "get", "use"],
    };

    /// <summary>
    /// What tells a client to keep a tool loaded rather than defer it behind the client's own tool search (Claude Code
    /// reads it): the tool that finds the others must never be the one deferred.
    /// </summary>
    public const string AlwaysLoadMeta = "anthropic/alwaysLoad";

    /// <summary>At most this many servers are named in search_tools' description; the rest are counted.</summary>
    private const int NamedServers = 16;

    /// <summary>A server's purpose is cut to this many characters in search_tools' description.</summary>
    private const int PurposeLength = 70;

    /// <summary>How to use the four, in two sentences: the server instructions of a compact session.</summary>
    public static string Instructions(ToolNameStyle style) =>
        $"The tools of the MCP servers behind this broker are found with {ToolNames.BrokerTool(Search, style)} (describe the task; name a server to see its tools first), "
        + $"read with {ToolNames.BrokerTool(Describe, style)} (the input schema) and run with {ToolNames.BrokerTool(Call, style)}. "
        + $"When a server seems missing or failing, {ToolNames.BrokerTool(Status, style)} shows its state and last error without starting anything.";

    /// <summary>
    /// search_tools' description: what it does, the servers and kinds of tools behind it (agents pass over a search tool
    /// whose description is generic), and the search → describe → call path.
    /// </summary>
    public static string SearchDescription(ToolNameStyle style, IReadOnlyList<FacadeServer>? servers = null)
    {
        var text = new StringBuilder("Find tools of the MCP servers behind this broker");
        if (servers is { Count: > 0 })
        {
            text.Append(": ").AppendJoin("; ", servers.Take(NamedServers).Select(About));
            if (servers.Count > NamedServers)
            {
                text.Append($"; and {servers.Count - NamedServers} more");
            }
        }

        return text.Append($". Start here: describe the task in a few words; then get a tool's schema with {ToolNames.BrokerTool(Describe, style)} and run it with {ToolNames.BrokerTool(Call, style)}.").ToString();

        static string About(FacadeServer server)
        {
            var about = server.Purpose is { Length: > 0 } purpose ? Cut(purpose)
                : server.Tags.Count > 0 ? string.Join(", ", server.Tags)
                : server.Examples is { Count: > 0 } examples ? string.Join(", ", examples.Take(3)) + (examples.Count > 3 ? ", …" : "")
                : null;
            var count = server.Tools is { } n ? $"{n} tool{(n == 1 ? "" : "s")}" : null;
            var inner = string.Join(", ", new[] { about, count }.Where(p => p is not null));
            return inner.Length == 0 ? server.Name : $"{server.Name} ({inner})";
        }

        static string Cut(string purpose)
        {
            var line = string.Join(' ', purpose.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.');
            return line.Length <= PurposeLength ? line : line[..line.LastIndexOf(' ', PurposeLength)] + "…";
        }
    }

    /// <summary>The four listed tools; <paramref name="servers"/> are named in search_tools' description.</summary>
    public static IList<Tool> Definitions(ToolNameStyle style, IReadOnlyList<FacadeServer>? servers = null) =>
    [
        Define(Search, style,
            SearchDescription(style, servers),
            """{"type":"object","properties":{"query":{"type":"string","description":"What you want to do"},"limit":{"type":"integer","minimum":1,"maximum":50,"description":"Most matches to return (default 8)"},"detail":{"type":"boolean","description":"Include the input schemas of the top 3"}},"required":["query"]}""",
            readOnly: true),
        Define(Describe, style,
            "Full definition of a tool found by search: description, input schema, annotations.",
            """{"type":"object","properties":{"name":{"type":"string","description":"Tool name as search returned it"}},"required":["name"]}""",
            readOnly: true),
        Define(Call, style,
            "Run a tool found by search, with arguments that match its input schema.",
            """{"type":"object","properties":{"name":{"type":"string","description":"Tool name as search returned it"},"arguments":{"type":"object","description":"The tool's arguments"}},"required":["name"]}""",
            readOnly: false),
        Define(Status, style,
            "Health of the MCP servers behind this broker: state, pid, sessions, restarts, last error. Starts nothing.",
            """{"type":"object","properties":{}}""",
            readOnly: true),
    ];

    /// <summary>The broker tool a name refers to (either naming style, listed or not), or null.</summary>
    public static string? Match(string name) =>
        name.StartsWith("broker.", StringComparison.Ordinal) || name.StartsWith("broker_", StringComparison.Ordinal)
            ? All.Concat(Unlisted).FirstOrDefault(t => string.Equals(t, name[7..], StringComparison.Ordinal))
            : null;

    public static IList<Tool> UnlistedDefinitions(ToolNameStyle style) =>
    [
        Define(ListResources, style,
            $"List the resources (files, documents, records) and resource templates of the MCP servers behind this broker: URI, name, description. Read one with {ToolNames.BrokerTool(ReadResource, style)}.",
            """{"type":"object","properties":{"upstream":{"type":"string","description":"Only this server's (optional)"}}}""",
            readOnly: true),
        Define(ReadResource, style,
            $"Read a resource of the MCP servers behind this broker by its URI, as {ToolNames.BrokerTool(ListResources, style)} gave it (or a template filled in).",
            """{"type":"object","properties":{"uri":{"type":"string","description":"The resource URI"}},"required":["uri"]}""",
            readOnly: true),
        Define(ListPrompts, style,
            $"List the prompts (message templates) of the MCP servers behind this broker, with their arguments. Get one with {ToolNames.BrokerTool(GetPrompt, style)}.",
            """{"type":"object","properties":{"upstream":{"type":"string","description":"Only this server's (optional)"}}}""",
            readOnly: true),
        Define(GetPrompt, style,
            "Get a prompt of the MCP servers behind this broker, filled in with its arguments: the messages it makes.",
            """{"type":"object","properties":{"name":{"type":"string","description":"The prompt name"},"arguments":{"type":"object","description":"The prompt's arguments (strings)"}},"required":["name"]}""",
            readOnly: true),
    ];

    /// <summary>The unlisted tools a search query asks for, best first (by how many of their words it uses).</summary>
    public static IEnumerable<string> UnlistedMatching(string query)
    {
        var words = query.ToLowerInvariant().Split([' ', '\t', ',', '.', '/', '-', '_'], StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var asksForThem = words.Overlaps(["resource", "resources", "prompt", "prompts", "document", "documents", "uri"]);
        return asksForThem
            ? Unlisted.Select(t => (Tool: t, Score: s_unlistedWords[t].Count(words.Contains))).Where(m => m.Score > 0).OrderByDescending(m => m.Score).Select(m => m.Tool)
            : [];
    }

    private static Tool Define(string name, ToolNameStyle style, string description, string schema, bool readOnly) => new()
    {
        Name = ToolNames.BrokerTool(name, style),
        Description = description,
        InputSchema = JsonElement.Parse(schema),
        Annotations = new ToolAnnotations { ReadOnlyHint = readOnly, OpenWorldHint = !readOnly },
        Meta = All.Contains(name) ? new JsonObject { [AlwaysLoadMeta] = true } : null,
    };
}

