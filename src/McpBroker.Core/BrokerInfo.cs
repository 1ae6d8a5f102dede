using System.Reflection;

namespace McpBroker;

public static class BrokerInfo
{
    public static string Version { get; } =
        typeof(BrokerInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
