using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace McpBroker.Catalog;

/// <summary>One searchable tool: its fields as the ranking sees them.</summary>
internal sealed record SearchDocument(
    string Key,
    string Name,
    string? Description,
    IReadOnlyList<string> ParameterNames,
    string? Purpose,
    IReadOnlyList<string> Tags)
{
    /// <summary>The descriptions of the tool's parameters.</summary>
    public IReadOnlyList<string> ParameterDescriptions { get; init; } = [];

    /// <summary>What the index reads of a tool: its name, title and description, and its parameters' names and descriptions.</summary>
    public static SearchDocument From(string key, Tool tool, string? purpose, IReadOnlyList<string> tags)
    {
        var parameters = tool.InputSchema.ValueKind == JsonValueKind.Object && tool.InputSchema.TryGetProperty("properties", out var props) && props.ValueKind == JsonValueKind.Object
            ? props.EnumerateObject().ToList()
            : [];
        return new SearchDocument(key, tool.Name, tool.Title is { } title ? $"{title}. {tool.Description}" : tool.Description,
            [.. parameters.Select(p => p.Name)], purpose, tags)
        {
            ParameterDescriptions = [.. parameters
                .Where(p => p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String)
                .Select(p => p.Value.GetProperty("description").GetString()!)],
        };
    }
}
