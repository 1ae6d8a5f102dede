using System.Text.Json.Nodes;
using McpBroker.Daemon;

namespace McpBroker.Cli;

internal static class ToolsCommands
{
    /// <summary>
    /// Approves an upstream's tools as the upstream lists them now (all, or one), through the daemon, which starts if
    /// needed: only the daemon can ask the upstream what it serves, and it must take the approval in at once.
    /// </summary>
    public static async Task<int> ApproveAsync(string? configOption, string upstream, string? tool)
    {
        if (ConfigCommands.Load(configOption) is not { } model)
        {
            return 1;
        }

        if (model.FindUpstream(upstream) is not { } found)
        {
            Console.Error.WriteLine($"mcp-broker: no upstream named '{upstream}' in {model.SourcePath}; defined: {string.Join(", ", model.Upstreams.Select(u => u.Name))}");
            return 1;
        }

        if (await DaemonCommands.DetachAsync(model, quiet: true) != 0)
        {
            return 1;
        }

        var answer = await DaemonClient.ControlAsync(model.Runtime.SocketPath, "approve", found.StartTimeout + TimeSpan.FromSeconds(30), upstream, tool);
        if (answer is { Ok: true })
        {
            Console.WriteLine(answer.Message);
            return 0;
        }

        Console.Error.WriteLine($"mcp-broker: {answer?.Error?.Message ?? "the daemon did not answer"}");
        return 1;
    }

    /// <summary>
    /// Fills the daemon's catalog for a profile (or every enabled upstream): one line per upstream with its tool count
    /// or why it could not be listed (a live table on a terminal); exit 1 if any failed.
    /// </summary>
    public static async Task<int> WarmAsync(string? configOption, string? profile, bool json, CancellationToken ct)
    {
        if (ConfigCommands.Load(configOption) is not { } model)
        {
            return 1;
        }

        if (profile is not null && !model.Profiles.ContainsKey(profile))
        {
            Console.Error.WriteLine($"mcp-broker: no profile named '{profile}' in {model.SourcePath}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return 1;
        }

        if (await DaemonCommands.DetachAsync(model, quiet: true) != 0)
        {
            return 1;
        }

        var interactive = !json && !Console.IsOutputRedirected;
        if (await CatalogFill.RunAsync(model, profile, show: interactive, ct) is not { } upstreams)
        {
            Console.Error.WriteLine($"mcp-broker: the daemon did not answer the request to list tools; see 'mcp-broker logs'");
            return 1;
        }

        var failed = upstreams.Count(u => u.Value?["error"] is not null);
        if (json)
        {
            Console.WriteLine(new JsonObject { ["profile"] = profile, ["upstreams"] = upstreams.DeepClone() }.ToJsonString());
        }
        else if (!interactive)
        {
            foreach (var (name, outcome) in upstreams)
            {
                Console.WriteLine(outcome?["error"] is { } error ? $"{name}: failed: {error}" : $"{name}: {outcome?["tools"]} tool(s)");
            }
        }

        if (!json)
        {
            var total = upstreams.Sum(u => u.Value?["tools"]?.GetValue<int>() ?? 0);
            Console.WriteLine($"{upstreams.Count - failed} of {upstreams.Count} upstream(s) listed, {total} tool(s) in the catalog");
        }

        return failed == 0 ? 0 : 1;
    }
}
