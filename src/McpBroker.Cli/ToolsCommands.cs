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
}
