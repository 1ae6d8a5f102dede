using McpBroker.Tests.Support;

namespace McpBroker.Tests.Architecture;

/// <summary>
/// The layers of McpBroker.Core point one way (docs/architecture.md, "Layers"): every type-level reference — base
/// types, fields, signatures, attributes, locals and what method bodies (lambdas and async methods included) call or
/// construct — goes to the type's own layer or one below it.
/// </summary>
public sealed class ArchitectureTests
{
    /// <summary>The order, bottom first. A change here is a design decision: write it down in docs/architecture.md.</summary>
    internal static readonly LayerRule CoreLayers = new([
        new Layer("Shared", 0, ["McpBroker", "McpBroker.Shared"]),
        new Layer("Platform", 1, ["McpBroker.Platform"]),
        new Layer("Transports", 1, ["McpBroker.Transports"]),
        new Layer("Telemetry (diagnostics)", 1, ["McpBroker.Telemetry"]),
        new Layer("Config", 2, ["McpBroker.Config"]),
        new Layer("Auth", 3, ["McpBroker.Auth"]),
        new Layer("Upstreams", 4, ["McpBroker.Upstreams"]),
        new Layer("Catalog", 5, ["McpBroker.Catalog"]),
        new Layer("Exposure", 6, ["McpBroker.Exposure"]),
        new Layer("Measure", 7, ["McpBroker.Measure"]),
        new Layer("Facade", 8, ["McpBroker.Facade"]),
        new Layer("Sessions", 9, ["McpBroker.Sessions"]),
        new Layer("Daemon", 10, ["McpBroker.Daemon"]),
        // CLI-side wiring: use what they need below, and nothing in the daemon uses them.
        new Layer("Clients", 8, ["McpBroker.Clients"], Leaf: true),
        new Layer("Service", 8, ["McpBroker.Service"], Leaf: true),
    ]);

    [Fact]
    public void McpBrokerCore_EveryReference_PointsDownward()
    {
        var violations = CoreLayers.Violations(TypeDependencies.Edges(typeof(BrokerInfo).Assembly));

        Assert.True(violations.Count == 0,
            $"{violations.Count} reference(s) against the layer order (invert them with an interface the lower layer owns, or move the type):\n" +
            string.Join("\n", violations));
    }

    [Fact]
    public void McpBrokerCore_EveryNamespace_IsInALayer()
    {
        var unplaced = typeof(BrokerInfo).Assembly.GetTypes()
            .Select(t => t.Namespace)
            .Where(ns => ns is not null && (ns == "McpBroker" || ns.StartsWith("McpBroker.", StringComparison.Ordinal)))
            .Distinct()
            .Where(ns => CoreLayers.Of(ns) is null)
            .ToList();

        Assert.Empty(unplaced);
    }

    private static readonly LayerRule s_samples = new([
        new Layer("Low", 1, ["McpBroker.Tests.LayerSamples.Low"]),
        new Layer("High", 2, ["McpBroker.Tests.LayerSamples.High"]),
    ]);

    private static IEnumerable<(Type From, Type To)> SampleEdges() =>
        TypeDependencies.Edges(typeof(ArchitectureTests).Assembly)
            .Where(e => e.From.Namespace?.StartsWith("McpBroker.Tests.LayerSamples", StringComparison.Ordinal) == true);

    [Fact]
    public void Violations_UpwardReferenceInSignatureBodyLambdaOrAsync_NamesEachTypePair()
    {
        var violations = s_samples.Violations(SampleEdges());

        string Up(string from) =>
            $"McpBroker.Tests.LayerSamples.Low.{from} (Low) uses McpBroker.Tests.LayerSamples.High.Target (High), a layer above it";
        Assert.Equal([Up("AsyncUp"), Up("BodyUp"), Up("LambdaUp"), Up("SignatureUp")], violations);
    }

    [Fact]
    public void Violations_DownwardReference_IsAllowed()
    {
        Assert.Contains((typeof(LayerSamples.High.User), typeof(LayerSamples.Low.Clean)), SampleEdges());
        Assert.Empty(s_samples.Violations([(typeof(LayerSamples.High.User), typeof(LayerSamples.Low.Clean))]));
    }

    [Fact]
    public void Violations_SiblingOrLeafReference_IsRefused()
    {
        var siblings = new LayerRule([
            new Layer("Low", 1, ["McpBroker.Tests.LayerSamples.Low"]),
            new Layer("High", 1, ["McpBroker.Tests.LayerSamples.High"]),
        ]);
        var leaf = new LayerRule([
            new Layer("Low", 1, ["McpBroker.Tests.LayerSamples.Low"], Leaf: true),
            new Layer("High", 2, ["McpBroker.Tests.LayerSamples.High"]),
        ]);
        var edge = (typeof(LayerSamples.High.User), typeof(LayerSamples.Low.Clean));

        Assert.Equal(["McpBroker.Tests.LayerSamples.High.User (High) uses McpBroker.Tests.LayerSamples.Low.Clean (Low), a layer beside it"],
            siblings.Violations([edge]));
        Assert.Equal(["McpBroker.Tests.LayerSamples.High.User (High) uses McpBroker.Tests.LayerSamples.Low.Clean (Low), a leaf nothing may use"],
            leaf.Violations([edge]));
    }

    [Fact]
    public void Violations_NamespaceInNoLayer_SaysToPlaceIt()
    {
        var partial = new LayerRule([new Layer("High", 2, ["McpBroker.Tests.LayerSamples.High"])]);

        Assert.Equal(["McpBroker.Tests.LayerSamples.Low.Clean: namespace McpBroker.Tests.LayerSamples.Low is in no layer; add it to the layer order"],
            partial.Violations([(typeof(LayerSamples.High.User), typeof(LayerSamples.Low.Clean))]));
    }
}
