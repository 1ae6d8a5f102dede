using System.Text.Json;
using McpBroker.Config;
using McpBroker.Exposure;
using ModelContextProtocol.Protocol;

namespace McpBroker.Facade;

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

    public static readonly string[] All = [Search, Describe, Call, Status];

    public static string Instructions(ToolNameStyle style) =>
        $"Tools of many MCP servers sit behind this broker. Find one with {ToolNames.BrokerTool(Search, style)}, read its input schema with "
        + $"{ToolNames.BrokerTool(Describe, style)}, run it with {ToolNames.BrokerTool(Call, style)}.";

    public static IList<Tool> Definitions(ToolNameStyle style) =>
    [
        Define(Search, style,
            $"Find tools of the MCP servers behind this broker. Start here: describe the task in a few words; then get a tool's schema with {ToolNames.BrokerTool(Describe, style)} and run it with {ToolNames.BrokerTool(Call, style)}.",
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

    /// <summary>The broker tool a name refers to (either naming style), or null.</summary>
    public static string? Match(string name) =>
        name.StartsWith("broker.", StringComparison.Ordinal) || name.StartsWith("broker_", StringComparison.Ordinal)
            ? All.FirstOrDefault(t => string.Equals(t, name[7..], StringComparison.Ordinal))
            : null;

    private static Tool Define(string name, ToolNameStyle style, string description, string schema, bool readOnly) => new()
    {
        Name = ToolNames.BrokerTool(name, style),
        Description = description,
        InputSchema = JsonElement.Parse(schema),
        Annotations = new ToolAnnotations { ReadOnlyHint = readOnly, OpenWorldHint = !readOnly },
    };
}

