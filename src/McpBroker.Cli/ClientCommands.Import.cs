using System.Text;
using McpBroker.Clients;
using McpBroker.Config;

namespace McpBroker.Cli;

/// <summary><c>client import</c>: a client's other servers into the broker config.</summary>
internal sealed partial class ClientCommands
{
    /// <summary>
    /// <c>client import NAME</c>: the client's other servers become broker upstreams (broker.yaml backed up, then
    /// written atomically and validated first). The client's file is not touched: <c>apply --remove-others</c> does that.
    /// </summary>
    public int Import(string? configOption, string name, bool dryRun) => Run(configOption, name, (model, client) =>
    {
        var current = ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath));
        if (current is null)
        {
            error.WriteLine($"mcp-broker: {client.ConfigPath} does not exist; there is nothing to import");
            return ExitCodes.Failure;
        }

        var servers = ClientServers.Read(client.Format, current, client.ConfigPath);
        var configPath = model.SourcePath;
        var yamlBytes = File.ReadAllBytes(configPath);
        var plan = ClientImport.Plan(Encoding.UTF8.GetString(yamlBytes), model, client, Entry(model, client), servers);
        foreach (var line in plan.Lines)
        {
            output.WriteLine(line);
        }

        if (plan.Added.Count == 0)
        {
            output.WriteLine($"nothing to add to {configPath}");
            return ExitCodes.Ok;
        }

        var check = ConfigLoader.Load(plan.Yaml, configPath);
        if (!check.IsValid)
        {
            foreach (var issue in check.Errors)
            {
                error.WriteLine(issue);
            }

            error.WriteLine($"mcp-broker: the imported upstreams would make {configPath} invalid (errors above); nothing was written");
            return ExitCodes.Failure;
        }

        if (dryRun)
        {
            output.Write(UnifiedDiff.FormatRedacted(Encoding.UTF8.GetString(yamlBytes), plan.Yaml, configPath, configPath + " (imported)"));
            output.WriteLine("dry run: nothing written");
            return ExitCodes.Ok;
        }

        var backup = new ClientFiles(Path.Combine(model.Runtime.Root, "backups", "config"), TimeProvider.System).Backup(configPath, $"before import from {client.Name}");
        ClientFiles.WriteAtomic(configPath, Encoding.UTF8.GetBytes(plan.Yaml), expectedHash: ClientFiles.Hash(yamlBytes));
        output.WriteLine($"added {plan.Added.Count} upstream(s) to {configPath} (backup {backup.Id} under {Path.Combine(model.Runtime.Root, "backups", "config")})");
        output.WriteLine($"next: 'mcp-broker client apply {client.Name} --remove-others' points {client.Name} at the broker alone; a running daemon picks up new upstreams after 'mcp-broker daemon stop'");
        return ExitCodes.Ok;
    });
}
