using System.CommandLine;
using McpBroker.Shim;

namespace McpBroker.Cli;

/// <summary>
/// <c>shim ARGS</c>: mcp-broker-client in this process, what client configs run when only the .NET tool is installed.
/// Program takes <c>shim</c> before the tree is built; this command is the same for a tree that is given it (hidden
/// from the listing: people run the other commands, clients run this one).
/// </summary>
internal static class ShimCommand
{
    public static Command Create(Option<string?> config)
    {
        var shim = new Command("shim", "Run mcp-broker-client in this process")
        {
            Hidden = true,
            TreatUnmatchedTokensAsErrors = false,
        };
        shim.SetAction(r =>
        {
            DaemonCommands.ExportSelfForShim();
            return ShimEntry.Run([.. r.GetValue(config) is { } c ? new[] { "--config", c } : [], .. r.UnmatchedTokens]);
        });
        return shim;
    }
}
