using McpBroker.Cli.Wiring;

namespace McpBroker.Cli;

internal static class ClientCommands
{
    /// <summary>
    /// <c>client snippet</c>: the broker entry for a client, to paste by hand — the shim with absolute paths, the
    /// profile, and <c>--config</c> when the config is not the default one the shim would find by itself.
    /// </summary>
    public static int Snippet(string? configOption, string format, string profile, string name)
    {
        if (ClientFormats.Parse(format) is not { } parsed)
        {
            Console.Error.WriteLine($"mcp-broker: unknown format '{format}'; known: {string.Join(", ", ClientFormats.Names)}");
            return 2;
        }

        if (ConfigCommands.Load(configOption) is not { } model)
        {
            return 1;
        }

        if (!model.Profiles.ContainsKey(profile))
        {
            Console.Error.WriteLine($"mcp-broker: no profile named '{profile}' in {model.SourcePath}; defined: {string.Join(", ", model.Profiles.Keys)}");
            return 1;
        }

        Console.Error.WriteLine($"# {ClientFormats.Name(parsed)}: merge this into {McpBroker.Config.ClientModel.DefaultPath(parsed)}");
        Console.Write(ClientFormats.Snippet(parsed, Entry(model, profile, name, ClientFormats.ClientName(parsed))));
        return 0;
    }

    /// <summary>The entry every client gets for <paramref name="profile"/>.</summary>
    public static ClientEntry Entry(McpBroker.Config.BrokerModel model, string profile, string name, string client)
    {
        // A client starts the shim with its own environment (no MCP_BROKER_CONFIG, perhaps no XDG_CONFIG_HOME): name the
        // config unless it is the one the shim finds with neither.
        var args = new List<string> { "--profile", profile, "--client", client };
        var plainDefault = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "mcp-broker", "broker.yaml");
        if (Path.GetFullPath(model.SourcePath) != plainDefault)
        {
            args.AddRange(["--config", Path.GetFullPath(model.SourcePath)]);
        }

        return new ClientEntry(name, ShimPath(), args);
    }

    /// <summary>The shim beside this CLI (how both are installed and published), else the name for PATH to resolve.</summary>
    private static string ShimPath()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "mcp-broker-client.exe" : "mcp-broker-client");
        return File.Exists(beside) ? beside : "mcp-broker-client";
    }
}
