using McpBroker.Cli;
using McpBroker.Shim;

// 'mcp-broker shim ARGS' is mcp-broker-client in this process (a .NET tool package installs one command): taken
// before the command tree is built, so a client session starts as fast as this process can.
if (args is ["shim", .. var shimArgs])
{
    DaemonCommands.ExportSelfForShim();
    return ShimEntry.Run(shimArgs);
}

// The command tree is BrokerCli's; each verb's factory and handler live in its own file and return ExitCodes.
return await BrokerCli.InvokeAsync(args, Console.Out, Console.Error);
