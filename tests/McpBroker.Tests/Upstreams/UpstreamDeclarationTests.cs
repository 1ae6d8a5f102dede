using System.Text.Json.Nodes;
using McpBroker.Tests.Support;
using McpBroker.Upstreams;

namespace McpBroker.Tests.Upstreams;

/// <summary>What an upstream declared at its last start, as a transparent session asks for it: learned once, then remembered.</summary>
public sealed class UpstreamDeclarationTests
{
    [Fact]
    public async Task Declaration_IsLearnedByStartingOnce_RememberedAfter_AndNullForAnUnknownOrBrokenUpstream()
    {
        var methods = Path.Combine(Directory.CreateTempSubdirectory("mb-decl-").FullName, "methods");
        await using var broker = await InProcessBroker.CreateAsync($$"""
            profiles:
              p: { compact_tools_enabled: false }
            upstreams:
              good: { command: "{{Repo.TestUpstream}}", args: [--record-methods, "{{methods}}"], mode: per_call }
              broken: { command: "{{Repo.TestUpstream}}", args: [--exit-at-start, "3"], restart: { max_attempts: 1 } }
            """);

        Assert.Null(await broker.Registry.DeclarationAsync("nope", null, CancellationToken.None));
        Assert.Null(await broker.Registry.DeclarationAsync("broken", null, CancellationToken.None));
        broker.RememberProcesses();

        var learned = await broker.Registry.DeclarationAsync("good", null, CancellationToken.None);
        broker.RememberProcesses();
        Assert.Equal("2026-07-28", learned!.Version);
        Assert.NotNull(learned.Capabilities!["tools"]);

        // Remembered: asked again, nothing is started (a per-call upstream would start a process, which probes first). A
        // start of a 2026-07-28 upstream may also open its subscriptions/listen stream; the probes are what count starts.
        int Probes() => File.ReadAllLines(methods).Count(m => m == "server/discover");
        Assert.Equal(1, Probes());
        var again = await broker.Registry.DeclarationAsync("good", null, CancellationToken.None);
        Assert.True(JsonNode.DeepEquals(learned.Capabilities, again!.Capabilities));
        Assert.Equal(1, Probes());
    }

    [Fact]
    public void WireExtras_ArraysOfAnotherLength_AndFieldsAlreadySet_AreLeftAsTheTypedObjectHasThem()
    {
        var raw = JsonNode.Parse("""{"name":"p","arguments":[{"name":"a","x":1},{"name":"b","x":2}],"title":"raw title","extra":{"k":1}}""")!.AsObject();
        var prompt = WireExtras.Attach(new ModelContextProtocol.Protocol.Prompt { Name = "p", Title = "typed title", Arguments = [new() { Name = "a" }] }, raw);

        var written = WireExtras.Serialize(prompt, withExtras: true);

        Assert.Equal("typed title", written["title"]!.GetValue<string>()); // never overwritten
        Assert.Equal(1, written["extra"]!["k"]!.GetValue<int>());          // a field the type lacks
        Assert.Null(written["arguments"]![0]!["x"]);                        // arrays of another length are not matched item by item

        var serialized = new JsonObject { ["name"] = "p", ["arguments"] = new JsonArray(), ["extra"] = "already" };
        WireExtras.MergeInto(serialized, prompt);
        Assert.Equal("already", serialized["extra"]!.GetValue<string>());
        WireExtras.MergeInto(serialized, new ModelContextProtocol.Protocol.Prompt { Name = "plain" });
        Assert.Equal(3, serialized.Count);
    }
}
