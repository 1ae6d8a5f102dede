using System.Text.Json.Nodes;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Shim;

/// <summary>
/// When the broker cannot serve a session, the real agent CLIs show why: the shim answers the client's requests with a
/// JSON-RPC error that carries the reason and its fix (the shim's FailedSession), instead of exiting.
/// </summary>
public sealed class FailedSessionJourneyTests
{
    [Fact]
    public async Task ClaudeMcpList_ProfileUnknown_TokenRefused_ConfigInvalid_ShowsEachReasonAndFix()
    {
        await NpmClients.EnsureInstalledAsync();
        await using var env = await BrokerEnvironment.CreateAsync(root => BrokerEnvironment.TestUpstreamConfig(root)
            .Replace("profiles:\n", "profiles:\n  ops: { compact_tools_enabled: true, require_token_file: ops.token }\n", StringComparison.Ordinal));
        Directory.CreateDirectory(Path.Combine(env.Root, "secrets"));
        var token = Path.Combine(env.Root, "secrets", "ops.token");
        await File.WriteAllTextAsync(token, "ops-token");
        File.SetUnixFileMode(token, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var broken = Path.Combine(env.Root, "broken.yaml");
        await File.WriteAllTextAsync(broken, $"schema_version: 1\nruntime: {{ root: \"{env.Root}/broken\" }}\nupstreams:\n  x: {{ comand: npx }}\n");
        var home = Directory.CreateDirectory(Path.Combine(env.Root, "home")).FullName;
        env.ExtraEnvironment["HOME"] = home;
        JsonObject Entry(params string[] args) => new() { ["type"] = "stdio", ["command"] = Repo.Shim, ["args"] = new JsonArray([.. args.Select(a => (JsonNode)a)]) };
        var servers = new JsonObject
        {
            ["wrong-profile"] = Entry("--profile", "nope", "--config", env.ConfigPath),
            ["no-token"] = Entry("--profile", "ops", "--config", env.ConfigPath),
            ["broken-config"] = Entry("--profile", "raw", "--config", broken),
            ["working"] = Entry("--profile", "raw", "--config", env.ConfigPath),
        };
        await File.WriteAllTextAsync(Path.Combine(home, ".claude.json"), new JsonObject { ["mcpServers"] = servers }.ToJsonString());

        var claude = await env.RunAsync(NpmClients.Bin("claude"), ["mcp", "list"], stdin: null);

        var lines = claude.Stdout.Split('\n');
        string Line(string server) => lines.SingleOrDefault(l => l.StartsWith(server + ":", StringComparison.Ordinal)) ?? throw new Xunit.Sdk.XunitException($"no line for {server} in: {claude.Stdout}{claude.Stderr}");
        Assert.Contains("✔ Connected", Line("working"));
        // Claude Code masks every value of the entry's args in what it shows ('[redacted]'): the reason must read without them.
        Assert.Matches(@"Failed to connect .*mcp-broker: the broker refused the session: no profile named '.*' in .*; defined: .*raw.*fix: name one of those profiles in this client's mcp-broker entry",
            Line("wrong-profile"));
        Assert.Matches(@"Failed to connect .*profile '.*' requires its token: start the client with mcp-broker-client --token-file PATH", Line("no-token"));
        Assert.Matches(@"Failed to connect .*cannot start the broker daemon: upstreams\.x\.comand: unknown key 'comand'.* \(and 1 more\); .* is invalid; fix these errors \('mcp-broker config validate' checks it\)$", Line("broken-config"));

        // Gemini CLI's 'mcp list' prints a status word and nothing of any error (its testMCPConnection swallows it); its
        // interactive session prints "Error connecting to MCP server '…': <message>", the same message as above.
        Directory.CreateDirectory(Path.Combine(home, ".gemini"));
        servers.Remove("working");
        await File.WriteAllTextAsync(Path.Combine(home, ".gemini", "settings.json"), new JsonObject { ["mcpServers"] = servers.DeepClone() }.ToJsonString());
        env.ExtraEnvironment["GEMINI_CLI_TRUST_WORKSPACE"] = "true";
        var gemini = await env.RunAsync(NpmClients.Bin("gemini"), ["mcp", "list"], stdin: null);
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Count(gemini.Stdout + gemini.Stderr, @"(wrong-profile|no-token|broken-config): .* - Disconnected"));

        Assert.False(Directory.Exists(Path.Combine(env.Root, "broken", "run")) && File.Exists(Path.Combine(env.Root, "broken", "run", "daemon.pid")), "no daemon runs a broken config");
        await env.StopDaemonAndAssertNothingLeftAsync();
    }

    [Fact]
    public async Task Shim_CannotServe_AnswersEveryRequestWithTheReason_UntilInputEnds()
    {
        await using var env = await BrokerEnvironment.CreateAsync();
        const string input = """
            {"jsonrpc":"2.0","id":"d-1","method":"server/discover","params":{}}
            {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
            {"jsonrpc":"2.0","method":"notifications/initialized"}
            {"jsonrpc":"2.0","id":2,"method":"ping"}

            """;

        var result = await env.RunAsync(Repo.Shim, ["--profile", "nope", "--config", env.ConfigPath], input);

        Assert.Equal(1, result.ExitCode);
        var answers = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(["\"d-1\"", "1", "2"], answers.Select(a => a["id"]!.ToJsonString()));
        Assert.All(answers, a =>
        {
            Assert.Equal(-32603, (int)a["error"]!["code"]!);
            Assert.StartsWith("mcp-broker: the broker refused the session: no profile named 'nope'", (string)a["error"]!["message"]!);
        });
        Assert.Contains("no profile named 'nope'", Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
