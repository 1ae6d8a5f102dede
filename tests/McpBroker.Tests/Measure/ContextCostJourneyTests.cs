using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Daemon;
using McpBroker.Measure;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Measure;

/// <summary>
/// One source for context figures: <c>top</c> and the status page (the daemon's "top" status), <c>broker.status</c>,
/// <c>measure</c> and <c>tools count</c> give the same tools and tokens per profile, and those are what a client's
/// tools/list really costs (the profile's own list, and its raw view for the tools it exposes).
/// </summary>
public sealed class ContextCostJourneyTests
{
    private static readonly string[] s_profiles = ["default", "raw", "raw_ro", "snake", "tiny"];

    [Fact]
    public async Task ContextFigures_EveryRouteAgreesToTheToken_AndMatchesWhatSessionsList()
    {
        await using var env = await BrokerEnvironment.CreateAsync(root => $$"""
            schema_version: 1
            runtime: { root: "{{root}}" }
            profiles:
              default: { compact_tools_enabled: true }
              raw: { compact_tools_enabled: false, allow_mutating_upstreams: ["*"] }
              raw_ro: { compact_tools_enabled: false }
              snake: { compact_tools_enabled: true, broker_tool_name_style: snake, allow_mutating_upstreams: ["*"] }
              tiny: { compact_tools_enabled: false, max_tools: 3, on_over_budget: compact }
            upstreams:
              t: { command: "{{Repo.TestUpstream}}" }
            """);

        var count = await env.RunCliAsync("tools", "count", "--config", env.ConfigPath, "--json");
        Assert.True(count.ExitCode == 0, count.Stdout + count.Stderr);
        var counts = JsonDocument.Parse(count.Stdout).RootElement.GetProperty("profiles").EnumerateArray()
            .ToDictionary(p => p.GetProperty("profile").GetString()!);
        var daemon = await DaemonClient.ControlAsync(env.SocketPath, "top", TimeSpan.FromSeconds(30));
        var context = daemon!.Status!["context"]!.AsArray().ToDictionary(c => c!["profile"]!.GetValue<string>(), c => c!.AsObject());

        foreach (var profile in s_profiles)
        {
            var figures = context[profile];
            int Figure(string key) => figures[key]!.GetValue<int>();

            // What sessions really list: the profile's own tools/list, and its raw view (the tools it exposes).
            var session = await env.ConnectAsync(profile);
            var listed = ContextCost.Of([.. (await session.ListToolsAsync()).Select(t => t.ProtocolTool)]);
            await using var rawView = await RawViewAsync(env.SocketPath, profile);
            var exposed = ContextCost.Of([.. (await rawView.ListToolsAsync()).Select(t => t.ProtocolTool)]);
            Assert.Equal((listed.Tools, listed.Bytes, listed.Tokens), (Figure("listed_tools"), Figure("listed_bytes"), Figure("listed_tokens")));
            Assert.Equal((exposed.Tools, exposed.Bytes, exposed.Tokens), (Figure("raw_tools"), Figure("raw_bytes"), Figure("raw_tokens")));

            // broker.status of a session of the profile.
            var status = JsonNode.Parse(await BrokerEnvironment.CallTextAsync(session, profile == "snake" ? "broker_status" : "broker.status", []))!;
            Assert.True(JsonNode.DeepEquals(figures, status["context"]), $"{profile}: {figures.ToJsonString()} vs {status["context"]?.ToJsonString()}");

            // measure.
            var measure = await env.RunCliAsync("measure", "--config", env.ConfigPath, "--profile", profile, "--json");
            Assert.True(measure.ExitCode == 0, measure.Stdout + measure.Stderr);
            var m = JsonDocument.Parse(measure.Stdout).RootElement;
            Assert.Equal((exposed.Tools, exposed.Bytes, exposed.Tokens),
                (m.GetProperty("before").GetProperty("tools").GetInt32(), m.GetProperty("before").GetProperty("bytes").GetInt32(), m.GetProperty("before").GetProperty("tokens").GetInt32()));
            Assert.Equal((listed.Tools, listed.Bytes, listed.Tokens),
                (m.GetProperty("after").GetProperty("tools").GetInt32(), m.GetProperty("after").GetProperty("bytes").GetInt32(), m.GetProperty("after").GetProperty("tokens").GetInt32()));

            // tools count.
            var c = counts[profile];
            Assert.Equal((listed.Tools, listed.Tokens, exposed.Tools, exposed.Tokens),
                (c.GetProperty("advertised").GetInt32(), c.GetProperty("advertised_tokens").GetInt32(), c.GetProperty("total").GetInt32(), c.GetProperty("total_tokens").GetInt32()));
        }

        // What the figures mean: the gates count (a read-only profile exposes fewer tools than one allowing mutation, and says
        // how many it hides); the names count (snake names cost other tokens than dotted ones); a compact profile lists 4.
        Assert.Equal(11, context["raw"]["raw_tools"]!.GetValue<int>());
        Assert.Equal(7, context["raw_ro"]["raw_tools"]!.GetValue<int>());
        Assert.Equal(4, context["raw_ro"]["mutating_hidden"]!.GetValue<int>());
        Assert.Equal(context["raw_ro"]["raw_tokens"]!.GetValue<int>(), context["default"]["raw_tokens"]!.GetValue<int>());
        Assert.NotEqual(context["raw"]["raw_tokens"]!.GetValue<int>(), context["snake"]["raw_tokens"]!.GetValue<int>());
        Assert.Equal(4, context["default"]["listed_tools"]!.GetValue<int>());
        Assert.Equal(4, context["tiny"]["listed_tools"]!.GetValue<int>());
        Assert.Equal(0, context["raw"]["saved_tokens"]!.GetValue<int>());

        // top shows the same numbers.
        var top = await env.RunCliAsync("top", "--once", "--config", env.ConfigPath);
        Assert.Equal(0, top.ExitCode);
        var rawRo = context["raw_ro"];
        Assert.Matches($@"│\s+raw_ro\s+│\s+raw\s+│\s+1 of 1\s+│\s+7\s+│\s+{rawRo["raw_tokens"]!.GetValue<int>():N0}\s+│\s+4 mutating\s+│\s+7\s+│", top.Stdout);
    }

    /// <summary>A session of <paramref name="profile"/> in its raw view, as <c>mcp-broker measure</c> used to open one.</summary>
    private static async Task<McpClient> RawViewAsync(string socketPath, string profile)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        var stream = new NetworkStream(socket, ownsSocket: true);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(new JsonObject { ["mcp_broker"] = 1, ["profile"] = profile, ["client"] = "xunit", ["view"] = "raw" }.ToJsonString() + "\n"));
        Assert.Contains("\"ok\":true", await SocketLines.ReadLineAsync(socket, TimeSpan.FromSeconds(30)));
        return await McpClient.CreateAsync(new StreamClientTransport(stream, stream));
    }
}
