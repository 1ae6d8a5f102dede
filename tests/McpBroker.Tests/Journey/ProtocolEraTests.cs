using System.Text.Json;
using McpBroker.Tests.Support;
using ModelContextProtocol.Client;

namespace McpBroker.Tests.Journey;

/// <summary>
/// Upstreams of both protocol eras through the real daemon: session-era servers answering each revision the SDK speaks,
/// a server that speaks only the stateless 2026-07-28 revision, over stdio and HTTP. The revision is negotiated, shown in
/// status, remembered across daemon restarts (a session-era server is not probed with server/discover again), and
/// probed afresh when the remembered one is refused. The servers record every method they receive, so the tests see
/// exactly what the broker sent.
/// </summary>
public sealed class ProtocolEraTests
{
    private static readonly string[] s_sessionRevisions = ["2024-11-05", "2025-03-26", "2025-06-18"];

    private static Func<string, string> Config(string upstreams) => root => $$"""
        schema_version: 1
        runtime: { root: "{{root}}" }
        broker: { idle_timeout: 10m, start_timeout: 30s }
        profiles:
          raw: { compact_tools_enabled: false, max_tools: 500 }
        upstreams:
        {{upstreams}}
        """;

    private static string Stdio(string name, string methodsFile, params string[] args) =>
        $"  {name}: {{ command: \"{Repo.TestUpstream}\", args: [{string.Join(", ", args.Append("--record-methods").Append(methodsFile).Select(a => $"\"{a}\""))}] }}\n";

    [Fact]
    public async Task SessionEraAndStatelessUpstreams_OverStdio_AreNegotiatedShownAndRememberedAcrossARestart()
    {
        var logs = Directory.CreateTempSubdirectory("mb-methods-").FullName;
        string Log(string name) => Path.Combine(logs, name + ".log");
        var upstreams = string.Concat(s_sessionRevisions.Select((r, i) => Stdio($"s{i}", Log($"s{i}"), "--session-revision", r)))
            + Stdio("stateless", Log("stateless"), "--stateless-only");
        await using var env = await BrokerEnvironment.CreateAsync(Config(upstreams));

        var client = await env.ConnectAsync("raw");
        await EchoEachAsync(client);
        var protocols = await ProtocolsAsync(env);
        for (var i = 0; i < s_sessionRevisions.Length; i++)
        {
            Assert.Equal(s_sessionRevisions[i], protocols[$"s{i}"]);

            // Unknown era: the stateless probe first, then initialize.
            Assert.Equal(["server/discover", "initialize"], Methods(Log($"s{i}")).Take(2));
        }

        Assert.Equal("2026-07-28", protocols["stateless"]);
        Assert.Equal(protocols, (await BrokerEnvironment.UpstreamStatusAsync(client))
            .ToDictionary(u => u.GetProperty("name").GetString()!, u => u.GetProperty("protocol").GetString()));
        Assert.Equal("server/discover", Methods(Log("stateless"))[0]);
        Assert.DoesNotContain("initialize", Methods(Log("stateless")));

        // What was learned is on disk, keyed by hashes: no command line or argument is written there.
        var remembered = Directory.GetFiles(Path.Combine(env.Root, "cache", "protocols"));
        Assert.Equal(4, remembered.Length);
        Assert.All(remembered, f => Assert.DoesNotContain("mcp-test-upstream", File.ReadAllText(f) + Path.GetFileName(f)));

        // A new daemon (the tool catalog forgotten, so each upstream starts for its tools): no probe for the session era.
        Assert.Equal(0, (await env.RunCliAsync("daemon", "stop", "--config", env.ConfigPath)).ExitCode);
        Directory.Delete(Path.Combine(env.Root, "cache", "tools"), recursive: true);
        foreach (var file in Directory.GetFiles(logs))
        {
            File.Delete(file);
        }

        client = await env.ConnectAsync("raw");
        await EchoEachAsync(client);
        for (var i = 0; i < s_sessionRevisions.Length; i++)
        {
            Assert.Equal("initialize", Methods(Log($"s{i}"))[0]);
            Assert.DoesNotContain("server/discover", Methods(Log($"s{i}")));
        }

        Assert.Equal("server/discover", Methods(Log("stateless"))[0]);
        Assert.Equal(["2024-11-05", "2025-03-26", "2025-06-18", "2026-07-28"], (await ProtocolsAsync(env)).OrderBy(p => p.Key).Select(p => p.Value));
    }

    [Fact]
    public async Task RememberedRevisionRefused_AfterTheServerChanged_IsProbedAfreshAndTheNewOneSpoken()
    {
        var logs = Directory.CreateTempSubdirectory("mb-methods-").FullName;
        var revision = Path.Combine(logs, "revision");
        var log = Path.Combine(logs, "u.log");
        File.WriteAllText(revision, "2024-11-05");
        await using var env = await BrokerEnvironment.CreateAsync(Config(Stdio("u", log, "--session-revision-from", revision)));
        var client = await env.ConnectAsync("raw");
        Assert.Equal("echo: one", await BrokerEnvironment.CallTextAsync(client, "u.echo", new() { ["message"] = "one" }));
        Assert.Equal("2024-11-05", (await ProtocolsAsync(env))["u"]);

        // The server is "upgraded": it now speaks only 2025-06-18, and answers the remembered 2024-11-05 with that.
        Assert.Equal(0, (await env.RunCliAsync("daemon", "stop", "--config", env.ConfigPath)).ExitCode);
        File.WriteAllText(revision, "2025-06-18");
        File.Delete(log);
        client = await env.ConnectAsync("raw");
        Assert.Equal("echo: two", await BrokerEnvironment.CallTextAsync(client, "u.echo", new() { ["message"] = "two" }));

        // The remembered revision was tried first, refused, and a fresh process negotiated.
        Assert.Equal(["initialize", "server/discover", "initialize"], Methods(log).Where(m => m is "initialize" or "server/discover"));
        Assert.Equal("2025-06-18", (await ProtocolsAsync(env))["u"]);
    }

    [Fact]
    public async Task UpstreamAnsweringARevisionNobodySpeaks_FailsWithAnErrorNamingBoth_AndOthersStillWork()
    {
        var logs = Directory.CreateTempSubdirectory("mb-methods-").FullName;
        await using var env = await BrokerEnvironment.CreateAsync(Config(
            Stdio("alien", Path.Combine(logs, "alien.log"), "--session-revision", "2023-01-01") + Stdio("fine", Path.Combine(logs, "fine.log"))));
        var client = await env.ConnectAsync("raw");

        var result = await client.CallToolAsync("alien.echo", new Dictionary<string, object?> { ["message"] = "x" });
        var message = BrokerEnvironment.ErrorOf(result).GetProperty("message").GetString()!;
        Assert.Contains("'2023-01-01'", message);
        Assert.Contains("offered 2025-11-25", message);
        Assert.Equal("echo: ok", await BrokerEnvironment.CallTextAsync(client, "fine.echo", new() { ["message"] = "ok" }));

        var status = JsonDocument.Parse((await env.RunCliAsync("status", "--json", "--config", env.ConfigPath)).Stdout).RootElement;
        var alien = status.GetProperty("upstreams").EnumerateArray().Single(u => u.GetProperty("name").GetString() == "alien");
        Assert.Contains("'2023-01-01'", alien.GetProperty("last_error").GetString());
    }

    [Fact]
    public async Task HttpUpstreamAnsweringARevisionNobodySpeaks_FailsWithAnErrorNamingBoth()
    {
        await using var server = await TestHttpServer.StartAsync(sessionRevision: "2023-01-01");
        await using var env = await BrokerEnvironment.CreateAsync(Config($"  web: {{ transport: http, url: \"{server.McpUrl}\" }}\n"));
        var client = await env.ConnectAsync("raw");

        var message = BrokerEnvironment.ErrorOf(await client.CallToolAsync("web.echo", new Dictionary<string, object?> { ["text"] = "x" }))
            .GetProperty("message").GetString()!;
        Assert.Contains("'2023-01-01', which the broker does not speak (it offered 2025-11-25", message);
    }

    [Fact]
    public async Task StatelessAndSessionEraServers_OverHttp_AreNegotiatedAndRememberedPerUrl()
    {
        await using var stateless = await TestHttpServer.StartAsync(statelessOnly: true);
        // The SDK's HTTP server keeps the revision its session negotiated and checks every request's header against it, so
        // the session-era server here answers the revision the broker asks for at first (older revisions over stdio above).
        await using var legacy = await TestHttpServer.StartAsync(sessionRevision: "2025-11-25");
        await using var env = await BrokerEnvironment.CreateAsync(Config($$"""
              new: { transport: http, url: "{{stateless.McpUrl}}" }
              old: { transport: http, url: "{{legacy.McpUrl}}" }
            """));
        var client = await env.ConnectAsync("raw");
        Assert.Equal("a", await BrokerEnvironment.CallTextAsync(client, "new.echo", new() { ["text"] = "a" }));
        Assert.Equal("b", await BrokerEnvironment.CallTextAsync(client, "old.echo", new() { ["text"] = "b" }));
        Assert.Equal(new Dictionary<string, string?> { ["new"] = "2026-07-28", ["old"] = "2025-11-25" }, await ProtocolsAsync(env));
        Assert.DoesNotContain("initialize", stateless.Methods);
        Assert.Equal(["server/discover", "initialize"], legacy.Methods.Take(2));

        Assert.Equal(0, (await env.RunCliAsync("daemon", "stop", "--config", env.ConfigPath)).ExitCode);
        var before = legacy.Methods.Count;
        client = await env.ConnectAsync("raw");
        Assert.Equal("c", await BrokerEnvironment.CallTextAsync(client, "old.echo", new() { ["text"] = "c" }));
        Assert.Equal("initialize", legacy.Methods.Skip(before).First());
        Assert.DoesNotContain("server/discover", legacy.Methods.Skip(before));
    }

    [Fact]
    public async Task RememberedRevisionRefused_OverHttp_IsProbedAfreshOnTheSameStart()
    {
        await using var server = await TestHttpServer.StartAsync(sessionRevision: "2025-11-25");
        await using var env = await BrokerEnvironment.CreateAsync(Config($"  web: {{ transport: http, url: \"{server.McpUrl}\" }}\n"));

        // What an earlier daemon learned of this URL (remembered per URL, under a hash of it): a revision it no longer speaks.
        var key = "url-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(server.McpUrl.ToString())))[..16];
        Directory.CreateDirectory(Path.Combine(env.Root, "cache", "protocols"));
        File.WriteAllText(Path.Combine(env.Root, "cache", "protocols", key + ".json"), """{"version":"2025-06-18","learned_at":"2026-12-01T00:00:00Z"}""");

        var client = await env.ConnectAsync("raw");
        Assert.Equal("again", await BrokerEnvironment.CallTextAsync(client, "web.echo", new() { ["text"] = "again" }));
        Assert.Equal(["initialize", "server/discover", "initialize"], server.Methods.Where(m => m is "initialize" or "server/discover").Take(3));
        Assert.Equal("2025-11-25", (await ProtocolsAsync(env))["web"]);
    }

    private static async Task EchoEachAsync(McpClient client)
    {
        foreach (var name in s_sessionRevisions.Select((_, i) => $"s{i}").Append("stateless"))
        {
            Assert.Equal($"echo: {name}", await BrokerEnvironment.CallTextAsync(client, $"{name}.echo", new() { ["message"] = name }));
        }
    }

    /// <summary>Each upstream's negotiated revision, as <c>mcp-broker status --json</c> shows it.</summary>
    private static async Task<Dictionary<string, string?>> ProtocolsAsync(BrokerEnvironment env)
    {
        var status = await env.RunCliAsync("status", "--json", "--config", env.ConfigPath);
        Assert.Equal(0, status.ExitCode);
        return JsonDocument.Parse(status.Stdout).RootElement.GetProperty("upstreams").EnumerateArray()
            .ToDictionary(u => u.GetProperty("name").GetString()!, u => u.GetProperty("protocol").GetString());
    }

    private static List<string> Methods(string file) => File.Exists(file) ? [.. File.ReadAllLines(file)] : [];
}
