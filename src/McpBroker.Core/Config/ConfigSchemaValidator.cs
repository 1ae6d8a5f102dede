using System.Globalization;
using System.Text.Json;

namespace McpBroker.Config;

/// <summary>
/// Judges a config's JSON against <c>config/broker.schema.json</c>. The checks themselves are generated from the schema
/// into <c>ConfigSchemaValidator.g.cs</c> (by the tests' <c>SchemaValidatorGenerator</c>: a test keeps the committed copy
/// equal to what the schema generates, and a differential test keeps every verdict and message equal to JsonSchema.Net's
/// on thousands of documents). This half words each error in terms of YAML paths, what is wrong and what is allowed.
/// </summary>
/// <remarks>
/// Generated rather than a schema library at run time: an idle daemon then carries no validator's assemblies, type data
/// or JIT'd code, single-file binaries included (decision 0062; docs/benchmarks.md, "One config validator").
/// </remarks>
internal static partial class ConfigSchemaValidator
{
    private const string DurationMessage = "is not a duration; write seconds (30) or a number with ms, s, m or h (10m)";

    /// <summary>The errors of a compact JSON document, in the order the schema's keywords find them; empty when it is valid.</summary>
    public static List<SchemaError> Judge(string json)
    {
        using var document = JsonDocument.Parse(json);
        var found = new List<SchemaError>();
        Root(document.RootElement, SchemaLocation.Root, found);
        return found;
    }

    // As JsonSchema.Net judges it: through a double, so 4.0000000000000000001 counts as whole, and a number beyond a
    // double's range (1e400) too; the records' reader then refuses what does not fit its field.
    private static bool IsInteger(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number && (!value.TryGetDouble(out var x) || Math.Floor(x) == x);

    private static bool IsOneOf(JsonElement value, HashSet<string> allowed) =>
        value.ValueKind == JsonValueKind.String && allowed.Contains(value.GetString()!);

    private static void WrongType(List<SchemaError> found, JsonElement value, SchemaLocation at, string expected, bool duration) =>
        found.Add(new(at, duration ? $"'{Text(value)}' {DurationMessage}" : $"expected {expected}, found {Describe(value)}"));

    private static void NoMatch(List<SchemaError> found, JsonElement value, SchemaLocation at, string pattern, bool duration) =>
        found.Add(new(at, duration ? $"'{Text(value)}' {DurationMessage}" : $"'{Text(value)}' does not match {pattern}"));

    private static void NotAllowed(List<SchemaError> found, JsonElement value, SchemaLocation at, string allowed) =>
        found.Add(new(at, $"'{Text(value)}' is not one of {allowed}"));

    private static void TooShort(List<SchemaError> found, JsonElement value, SchemaLocation at, int minimum) =>
        found.Add(new(at, $"'{Text(value)}' is too short: write at least {minimum.ToString(CultureInfo.InvariantCulture)} character(s)"));

    /// <summary>Each required key the value lacks (all of them, when it is not a mapping), at the key's own path.</summary>
    private static void Missing(List<SchemaError> found, JsonElement value, SchemaLocation at, string[] required)
    {
        foreach (var name in required)
        {
            if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(name, out _))
            {
                // Nothing is there to remove.
                found.Add(new(at.Key(name) with { Pointer = null }, $"missing required key '{name}'"));
            }
        }
    }

    private static void UnknownKey(List<SchemaError> found, SchemaLocation at, string key, string allowedKeys) =>
        found.Add(new(at, $"unknown key '{key}'" + (allowedKeys.Length > 0 ? $"; allowed keys here: {allowedKeys}" : "")));

    /// <summary>A value as the messages quote it: a string's text, anything else as JSON.</summary>
    private static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Null => "",
        _ => value.GetRawText(),
    };

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => "nothing",
        JsonValueKind.Object => "a mapping",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => $"the string '{value.GetString()}'",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {value.GetRawText()}",
        _ => $"'{value.GetRawText()}'",
    };
}

/// <summary>One refused value: the JSON pointer to remove it by (null when nothing is there, as a missing key), its YAML path, the message.</summary>
internal readonly record struct SchemaError(string? Pointer, string Path, string Message)
{
    public SchemaError(SchemaLocation at, string message)
        : this(at.Pointer, at.Path, message)
    {
    }
}

/// <summary>Where a value is: its JSON pointer and the YAML path <see cref="YamlDocument"/> names positions by (<c>upstreams.memory.args[0]</c>).</summary>
internal readonly record struct SchemaLocation(string? Pointer, string Path)
{
    public static readonly SchemaLocation Root = new("", "");

    public SchemaLocation Key(string name) =>
        new($"{Pointer}/{name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal)}", Path.Length == 0 ? name : $"{Path}.{name}");

    public SchemaLocation Item(int index) =>
        new($"{Pointer}/{index.ToString(CultureInfo.InvariantCulture)}", $"{Path}[{index.ToString(CultureInfo.InvariantCulture)}]");
}
