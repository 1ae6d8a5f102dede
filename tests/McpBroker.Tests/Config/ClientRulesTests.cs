using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>The clients section: defaults filled in, paths expanded, settings that do nothing warned of.</summary>
public sealed class ClientRulesTests
{
    private static ConfigLoadResult Load(string yaml) =>
        ConfigLoader.Load(yaml, "/etc/broker.yaml", name => name == "HOME" ? "/home/ada" : null);

    [Fact]
    public void Clients_Section_FillsDefaults_AndExpandsPaths()
    {
        var result = Load("""
            schema_version: 1
            profiles: { default: {}, codex: {} }
            clients:
              codex: { format: codex-toml, profile: codex }
              gem: { format: gemini-settings, config_path: "~/g/settings.json", entry_name: broker }
              vs: { format: vscode, config_path: /work/.vscode/mcp.json, mcp_allowed_servers: [x] }
            """);

        var clients = result.Model!.Clients;
        Assert.Equal(new ClientModel("codex", ClientFormat.CodexToml, "/home/ada/.codex/config.toml", "mcp-broker", "codex", null), clients["codex"]);
        Assert.Equal("/home/ada/g/settings.json", clients["gem"].ConfigPath);
        Assert.Equal("broker", clients["gem"].EntryName);
        Assert.Null(clients["gem"].McpAllowedServers);
        Assert.Equal("default", clients["vs"].Profile);
        Assert.Contains(result.Warnings, w => w.Path == "clients.vs.mcp_allowed_servers");
    }
}
