using System.Text.Json.Nodes;
using McpBroker.Config;
using McpBroker.Measure;

namespace McpBroker.Clients;

/// <summary>One client of a profile, with both exposures it could get and the one <c>client apply</c> gives it.</summary>
internal sealed record ClientExposureCost(string Client, string Title, ExposureChoice? Choice, string? Error, Cost Facade, Cost Raw, ClientToolLoading Loading)
{
    public JsonObject ToJson() => new()
    {
        ["client"] = Client,
        ["exposure"] = Choice is null ? null : ClientExposure.Name(Choice.Exposure),
        ["reason"] = Choice?.Reason ?? Error,
        ["facade"] = Json(Facade),
        ["raw"] = Json(Raw),
        ["defers_mcp_tools"] = Loading.DefersMcpTools,
        ["keep_loaded_setting"] = Loading.KeepLoadedSetting,
    };

    private static JsonObject Json(Cost c) => new() { ["tools"] = c.Tools, ["bytes"] = c.Bytes, ["tokens"] = c.Tokens };
}

/// <summary>
/// <c>measure</c>'s per-client rows: for each client of the profile (the config's clients of it, else the clients whose
/// tool search behaviour differs — Claude Code, Codex, Copilot CLI, Gemini CLI, Cursor), the facade's cost and the raw
/// namespaced tools' cost (both from the daemon's figures, o200k tokens), and the exposure <c>client apply</c> would give it.
/// </summary>
internal static class ClientExposureCosts
{
    private static readonly string[] s_notable = ["claude", "codex", "copilot", "gemini", "cursor"];

    public static IReadOnlyList<ClientExposureCost> Of(BrokerModel model, ProfileModel profile, Cost facade, Cost raw)
    {
        var clients = model.Clients.Values.Where(c => c.Profile == profile.Name).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        if (clients.Count == 0)
        {
            clients = [.. s_notable.Select(KnownClients.Find).OfType<KnownClient>()
                .Select(k => KnownClients.Implicit(k, k.Name, profile.Name, out _) ?? new ClientModel(k.Name, k.Format, "", ClientModel.DefaultEntryName, profile.Name, null))];
        }

        return [.. clients.Select(client =>
        {
            var choice = ClientExposure.Choose(client.Format, profile, null, CurrentArgs(client), out var error);
            var loading = ClientExposure.Loading(client.Format);
            return new ClientExposureCost(client.Name, loading.Client, choice, error, facade, raw, loading);
        })];
    }

    /// <summary>The broker entry's arguments as the client's file has them now (its view), or null when there is none to read.</summary>
    private static IReadOnlyList<string>? CurrentArgs(ClientModel client)
    {
        try
        {
            return client.ConfigPath.Length == 0 ? null
                : ClientServers.Read(client.Format, ClientFiles.Read(ClientFiles.Resolve(client.ConfigPath)), client.ConfigPath).FirstOrDefault(s => s.Name == client.EntryName)?.Args;
        }
        catch (Exception e) when (e is ClientConfigException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
