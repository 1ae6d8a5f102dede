// Compiled into both the broker and the shim (which references no broker assembly, to stay small and start fast).
using System.Text;

namespace McpBroker.Shared;

/// <summary>
/// Where a client finds the daemon of a config without reading the config: the daemon records its socket path
/// in a pointer file named after the config file's path.
/// </summary>
internal static class BrokerEndpoints
{
    public const string ConfigVariable = "MCP_BROKER_CONFIG";
    public const string SocketVariable = "MCP_BROKER_SOCKET";

    /// <summary><c>--config</c> wins, then <c>MCP_BROKER_CONFIG</c>, then <c>$XDG_CONFIG_HOME</c> or <c>~/.config</c> <c>/mcp-broker/broker.yaml</c>.</summary>
    public static string ResolveConfigPath(string? explicitPath)
    {
        var path = explicitPath;
        if (string.IsNullOrWhiteSpace(path))
        {
            path = Environment.GetEnvironmentVariable(ConfigVariable);
        }

        if (string.IsNullOrWhiteSpace(path))
        {
            var configHome = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
            path = string.IsNullOrEmpty(configHome)
                ? Path.Combine(Home, ".config", "mcp-broker", "broker.yaml")
                : Path.Combine(configHome, "mcp-broker", "broker.yaml");
        }

        return Path.GetFullPath(path);
    }

    /// <summary>The file that holds the socket path of the daemon serving <paramref name="configPath"/>.</summary>
    public static string PointerPath(string configPath)
    {
        var cacheHome = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var dir = string.IsNullOrEmpty(cacheHome) ? Path.Combine(Home, ".cache", "mcp-broker", "endpoints") : Path.Combine(cacheHome, "mcp-broker", "endpoints");
        var hash = Convert.ToHexStringLower(Sha256.HashData(Encoding.UTF8.GetBytes(configPath)))[..16];
        return Path.Combine(dir, hash);
    }

    private static string Home => Environment.GetEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
}
