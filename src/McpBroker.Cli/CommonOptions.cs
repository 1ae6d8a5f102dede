using System.CommandLine;

namespace McpBroker.Cli;

/// <summary>
/// The options many commands share, made one way so they read the same in every command's help: the same name, help
/// name and wording. Each call makes a new option (System.CommandLine gives an option one place in the tree).
/// </summary>
internal static class CommonOptions
{
    /// <summary>--config PATH, on the root and every command below it.</summary>
    public static Option<string?> Config() => new("--config")
    {
        Description = "Config file (default: $MCP_BROKER_CONFIG, else ~/.config/mcp-broker/broker.yaml)",
        HelpName = "PATH",
        Recursive = true,
    };

    /// <summary>--json: one JSON object on stdout carrying the facts the text shows; the exit code is the same either way.</summary>
    public static Option<bool> Json(string what = "Print one JSON object") => new("--json") { Description = what };

    /// <summary>--dry-run: show what would change and change nothing.</summary>
    public static Option<bool> DryRun(string what) => new("--dry-run") { Description = what };

    public static Option<string> Profile(string what, string defaultProfile) => new("--profile")
    {
        Description = what, HelpName = "NAME", DefaultValueFactory = _ => defaultProfile,
    };

    public static Option<string?> OptionalProfile(string what) => new("--profile") { Description = what, HelpName = "NAME" };

    public static Option<string?> TokenFile(string what = "Token file, for a profile with require_token_file") => new("--token-file") { Description = what, HelpName = "PATH" };

    /// <summary>NAME of a client: one in the config's clients section, or a known client.</summary>
    public static Argument<string> ClientName() => new("NAME")
    {
        Description = "A client in the config's clients section, or a known client ('client detect' lists them)",
    };

    /// <summary>The invocation's standard output: the console, or what a test gave it.</summary>
    public static TextWriter Output(this ParseResult result) => result.InvocationConfiguration.Output;

    /// <summary>The invocation's standard error.</summary>
    public static TextWriter Error(this ParseResult result) => result.InvocationConfiguration.Error;

    /// <summary>A usage error found after parsing (a bad value, options that contradict each other): one line, exit 2.</summary>
    public static int Usage(this ParseResult result, string message)
    {
        result.Error().WriteLine($"mcp-broker: {message}");
        return ExitCodes.Usage;
    }

    /// <summary>--apply and --dry-run together are a usage error; otherwise the action runs.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Unless(Option<bool> apply, Option<bool> dryRun, Func<ParseResult, CancellationToken, Task<int>> action) =>
        (r, ct) => r.GetValue(apply) && r.GetValue(dryRun)
            ? Task.FromResult(r.Usage("--apply and --dry-run contradict each other; pass one"))
            : action(r, ct);
}
