using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace McpBroker.Config;

/// <summary>
/// The JSON Schema of broker.yaml and its one validator. <c>config/broker.schema.json</c> is embedded and judged by
/// JsonSchema.Net over <c>System.Text.Json</c>; a golden test generates the schema from the <see cref="BrokerConfig"/>
/// records and keeps the committed copy equal to it, so it cannot drift from the code. Each error is explained in terms
/// of YAML paths, what is wrong and what is allowed (McpBroker.ConfigSchema's <c>SchemaJudge</c>).
/// </summary>
/// <remarks>
/// The validator lives in its own assembly, loaded with JsonSchema.Net into a collectible load context for each check
/// and unloaded after it: a config is read at start and on reload, and an idle daemon keeps none of the validator —
/// its files, type data and JIT'd code (5.8 MB of an idle daemon's RSS otherwise; docs/benchmarks.md, "One config
/// validator"). Only strings cross the boundary: the document's JSON in, the errors out. A single-file bundle is the
/// exception: its assemblies load only into the default context, where the validator stays.
/// </remarks>
public static class ConfigSchema
{
    private const string ResourceName = "McpBroker.broker.schema.json";

    // Non-ASCII text stays as written in the YAML (tool defaults and smoke arguments are shown by 'config show' and
    // sent to upstreams). A float JSON has no number for would be written as a string instead of failing (YamlDocument
    // reads .inf and .nan as strings already).
    private static readonly JsonSerializerOptions s_compact = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static readonly JsonSerializerOptions s_indented = new(s_compact) { WriteIndented = true };

    // A test process loads hundreds of configs, and each new context JITs the validator again (8 s of config tests
    // became 46 s): the test project sets this switch to keep one context for the process. The daemon and the CLI never do.
    private static readonly Lazy<Func<string, string, string?[]>>? s_kept =
        AppContext.TryGetSwitch("McpBroker.Config.KeepSchemaValidatorLoaded", out var keep) && keep
            ? new(() => JudgeOf(new ValidatorContext().LoadFromAssemblyName(new AssemblyName(ValidatorContext.Entry))))
            : null;

    /// <summary>The last check's load context, once unloaded; for tests that the validator does not stay.</summary>
    internal static WeakReference? LastContext { get; private set; }

    /// <summary>The committed schema, as <c>mcp-broker config schema</c> prints it.</summary>
    public static string ToJson()
    {
        using var stream = typeof(ConfigSchema).Assembly.GetManifestResourceStream(ResourceName)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Checks a document against the schema. Returns the compact JSON the config records are read from — without the
    /// values the schema refused — and the paths of those; every error is added to <paramref name="issues"/>.
    /// </summary>
    public static (string Json, List<string> ErrorPaths) Check(JsonNode? document, List<ConfigIssue> issues)
    {
        var json = Compact(document);
        var found = s_kept is { } kept ? kept.Value(json, Duration.Pattern) : JudgeAndUnload(json);
        if (found.Length == 0)
        {
            return (json, []);
        }

        var refused = new List<(string? Pointer, string Path)>();
        for (var i = 0; i + 2 < found.Length; i += 3)
        {
            var issue = ConfigIssue.Error(found[i + 1]!, found[i + 2]!);
            if (!issues.Contains(issue))
            {
                issues.Add(issue);
            }

            refused.Add((found[i], issue.Path));
        }

        var copy = document?.DeepClone();
        foreach (var pointer in refused.Select(r => r.Pointer).OfType<string>().Distinct().OrderByDescending(p => p, PointerOrder.Instance))
        {
            copy = Remove(copy, pointer);
        }

        return (Compact(copy), [.. refused.Select(r => r.Path).Distinct()]);
    }

    /// <summary>The indented JSON of a node (how a mapping or list used as a YAML key is named).</summary>
    public static string IndentedJson(JsonNode? node) => node?.ToJsonString(s_indented) ?? "null";

    private static string Compact(JsonNode? node) => node?.ToJsonString(s_compact) ?? "null";

    // An unloaded context goes when a collection finds nothing referring to it; an idle daemon may not collect for hours,
    // so the check collects until it has gone (twice, usually: the context's objects, then its loader's).
    internal static string?[] JudgeAndUnload(string json)
    {
        var found = Judge(json, out var context);
        if (context is null)
        {
            return found;
        }

        for (var i = 0; i < 10 && context.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        // What the validator's run left: the GC's free regions (an aggressive collection decommits them) and the
        // native heap the runtime's type loader and JIT used (docs/benchmarks.md, "One config validator").
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Platform.Native.TrimNativeHeap();
        LastContext = context;
        return found;
    }

    // Not inlined: nothing of the context may stay on this frame once it returns.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string?[] Judge(string json, out WeakReference? unloaded)
    {
        // A single-file bundle (the release binaries) holds the validator's assemblies inside itself, where only the
        // default context finds them: there the validator is loaded once and stays (docs/benchmarks.md, "One config
        // validator"). Everywhere else (scripts/publish OUTDIR, dotnet run, the tests) they are files beside the app.
        if (!File.Exists(ValidatorContext.PathOf(ValidatorContext.Entry)))
        {
            unloaded = null;
            return JudgeOf(Assembly.Load(new AssemblyName(ValidatorContext.Entry)))(json, Duration.Pattern);
        }

        var context = new ValidatorContext();
        unloaded = new WeakReference(context);
        try
        {
            return JudgeOf(context.LoadFromAssemblyName(new AssemblyName(ValidatorContext.Entry)))(json, Duration.Pattern);
        }
        finally
        {
            context.Unload();
        }
    }

    private static Func<string, string, string?[]> JudgeOf(Assembly validator) =>
        validator.GetType("McpBroker.SchemaValidation.SchemaJudge", throwOnError: true)!
            .GetMethod("Judge", BindingFlags.Public | BindingFlags.Static)!
            .CreateDelegate<Func<string, string, string?[]>>();

    /// <summary>
    /// The validator's assemblies, from the app's directory. Everything else (System.Text.Json, the framework) is the
    /// default context's, shared.
    /// </summary>
    private sealed class ValidatorContext() : AssemblyLoadContext("config schema", isCollectible: true)
    {
        public const string Entry = "McpBroker.ConfigSchema";

        // McpBroker.ConfigSchema and what it brings (JsonPointer.Net references Humanizer, which the checks never load).
        private static readonly HashSet<string> s_own = [Entry, "JsonSchema.Net", "JsonPointer.Net", "Json.More", "Humanizer"];

        public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, name + ".dll");

        protected override Assembly? Load(AssemblyName assemblyName) =>
            assemblyName.Name is { } name && s_own.Contains(name) ? LoadFromAssemblyPath(PathOf(name)) : null;
    }

    /// <summary>The tree without the value at <paramref name="pointer"/> (the whole tree, for the root: null).</summary>
    private static JsonNode? Remove(JsonNode? root, string pointer)
    {
        var segments = Segments(pointer);
        if (segments.Count == 0)
        {
            return null;
        }

        var parent = root;
        foreach (var segment in segments.Take(segments.Count - 1))
        {
            parent = parent switch
            {
                JsonObject obj => obj.TryGetPropertyValue(segment, out var child) ? child : null,
                JsonArray array when int.TryParse(segment, out var i) && i < array.Count => array[i],
                _ => null,
            };
        }

        var last = segments[^1];
        switch (parent)
        {
            case JsonObject obj:
                obj.Remove(last);
                break;
            case JsonArray array when int.TryParse(last, out var index) && index < array.Count:
                array.RemoveAt(index);
                break;
        }

        return root;
    }

    private static List<string> Segments(string pointer) =>
        pointer.Length == 0 ? [] : [.. pointer[1..].Split('/').Select(s => s.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))];

    /// <summary>Deeper values first, and within a list the later items first, so removing one leaves the others' indexes.</summary>
    private sealed class PointerOrder : IComparer<string>
    {
        public static readonly PointerOrder Instance = new();

        public int Compare(string? x, string? y)
        {
            var a = Segments(x ?? "");
            var b = Segments(y ?? "");
            for (var i = 0; i < Math.Min(a.Count, b.Count); i++)
            {
                var order = int.TryParse(a[i], out var m) && int.TryParse(b[i], out var n) ? m.CompareTo(n) : string.CompareOrdinal(a[i], b[i]);
                if (order != 0)
                {
                    return order;
                }
            }

            return a.Count.CompareTo(b.Count);
        }
    }
}
