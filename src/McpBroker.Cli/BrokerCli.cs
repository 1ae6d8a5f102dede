using System.CommandLine;
using McpBroker.Config;

namespace McpBroker.Cli;

/// <summary>
/// The command tree, one factory per verb, and how it is invoked: parse errors and expected failures become one line
/// and a documented exit code (<see cref="ExitCodes"/>). Output goes to the writers given, so a test invokes a command
/// in process with a <see cref="StringWriter"/>.
/// </summary>
internal static class BrokerCli
{
    public static RootCommand Create()
    {
        var config = CommonOptions.Config();
        return new RootCommand("mcp-broker: one local daemon that owns your MCP servers; clients connect through mcp-broker-client")
        {
            config,
            ConfigCommands.Create(config),
            DaemonCommands.Create(config),
            StatusCommand.Create(config),
            TopCommand.Create(config),
            LogsCommand.Create(config),
            DaemonCommands.CreateUpstream(config),
            ToolsCommands.Create(config),
            MeasureCommand.Create(config),
            ProfileCommands.Create(config),
            ClientCommands.Create(config),
            AuthCommands.Create(config),
            ServiceCommands.Create(config),
            StdioCommand.Create(config),
            ShimCommand.Create(config),
            DoctorCommand.Create(config),
            DemoCommand.Create(),
        };
    }

    /// <summary>Parses and runs one command line; its exit code.</summary>
    public static async Task<int> InvokeAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var root = Create();

        // 'mcp-broker' alone is a request for help, not a mistake: the command list, exit 0.
        var parse = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parse.Errors.Count > 0)
        {
            ReportParseErrors(root, parse, error);
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = output, Error = error }, cancellationToken);
        }
        catch (RuntimeRootException ex)
        {
            // Expected, and the user's to fix: one line (a shim starting a daemon passes it on), not a stack trace.
            error.WriteLine($"mcp-broker: {ex.Message}");
            return ExitCodes.Failure;
        }
        catch (Exception ex)
        {
            // What System.CommandLine's default handler did before.
            if (ex is not OperationCanceledException)
            {
                error.WriteLine($"Unhandled exception: {ex}");
            }

            return ExitCodes.Failure;
        }
    }

    private static void ReportParseErrors(RootCommand root, ParseResult parse, TextWriter error)
    {
        // A mistyped word gets the command's nearest subcommand or option; "required command" beside it is only noise.
        var command = parse.CommandResult.Command;
        var words = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name)
            .Concat(command.Options.Concat(root.Options.Where(o => o.Recursive)).SelectMany(o => o.Aliases.Prepend(o.Name)));
        var unrecognized = parse.Errors.Where(e => e.Message.StartsWith("Unrecognized command or argument", StringComparison.Ordinal)).ToList();
        foreach (var parseError in unrecognized.Count > 0 ? unrecognized : parse.Errors)
        {
            var token = parseError.Message.Split('\'') is [_, var word, ..] ? word : "";
            error.WriteLine($"mcp-broker: {parseError.Message.TrimEnd('.')}{(token.Length > 0 ? DidYouMean.Hint(token, words) : "")}");
        }

        error.WriteLine("Run 'mcp-broker --help' for usage.");
    }
}
