using McpBroker.Config;

namespace McpBroker.Clients;

/// <summary>What a client's tools/list shows of a profile: the four broker tools, or the upstream tools under their namespaced names.</summary>
internal enum ToolExposure
{
    /// <summary>search_tools, describe_tool, call_tool and status; the client keeps them loaded where it has a setting for it.</summary>
    Facade,

    /// <summary>
    /// The profile's raw view (the shim's <c>--view raw</c>): every upstream tool the profile allows, namespaced, for a
    /// client whose own tool search defers them. Same gates and names as the facade's search; no max_tools budget.
    /// </summary>
    Raw,
}

/// <summary>The exposure a client's entry gets, and why (printed by <c>client apply</c> and <c>measure</c>).</summary>
internal sealed record ExposureChoice(ToolExposure Exposure, string Reason, IReadOnlyList<string> ShimArgs)
{
    /// <summary>The entry asks the client to keep the broker's tools loaded (Claude Code's <c>alwaysLoad</c>, Copilot CLI's <c>deferTools</c>).</summary>
    public bool KeepLoaded => Exposure == ToolExposure.Facade;
}

/// <summary>How one client treats MCP tools: whether its own tool search defers them, and its setting to keep a server's loaded.</summary>
internal sealed record ClientToolLoading(string Client, string? DefersMcpTools, string? KeepLoadedSetting);

/// <summary>
/// Which exposure <c>client apply</c> gives each client. The default is the facade for every client, Claude Code and
/// Codex included (docs/context-economy.md, "Exposure per client", has the measured reasons):
/// <list type="bullet">
/// <item>Claude Code and Codex defer MCP tools behind their own tool search only on some endpoints and models (Claude
/// Code: first-party endpoints and models with tool search; Codex: models with tool search), which a session chooses
/// and <c>client apply</c> cannot see. A wrong guess costs very differently: the facade where the client could have
/// deferred raw tools costs its four definitions (hundreds of tokens) and one search step; raw tools where the
/// client cannot defer them cost every definition on every session (thousands to tens of thousands of tokens).</item>
/// <item>Claude Code keeps the facade loaded (the server-level <c>alwaysLoad</c> in the entry, and each broker tool's
/// <c>_meta anthropic/alwaysLoad</c>), so its tool search never hides the tool that finds the rest. Codex has no such
/// setting; search_tools' description names the servers and what they hold, so Codex's own search finds it.</item>
/// <item>Gemini CLI, Cursor and most other clients defer nothing; Copilot CLI defers only for Anthropic models (and
/// keeps the facade loaded with <c>deferTools: "never"</c>); small local models seldom call a search tool unless it is
/// loaded: all get the facade.</item>
/// </list>
/// <c>--exposure raw</c> (or <c>facade</c>) overrides the default; without it an entry that already says <c>--view raw</c>
/// keeps it, so a second apply does not undo the user's choice. A profile that lists raw tools itself
/// (<c>compact_tools_enabled: false</c>, or transparent) is raw for every client.
/// </summary>
internal static class ClientExposure
{
    public const string ViewOption = "--view";
    public const string RawView = "raw";

    public static string Name(ToolExposure exposure) => exposure == ToolExposure.Raw ? "raw" : "facade";

    public static ToolExposure? Parse(string? name) => name switch
    {
        "facade" => ToolExposure.Facade,
        "raw" => ToolExposure.Raw,
        _ => null,
    };

    /// <summary>
    /// The exposure for a client of <paramref name="format"/> on <paramref name="profile"/>: <paramref name="requested"/>
    /// (<c>--exposure</c>) when given, else what the client's current broker entry says (<paramref name="currentArgs"/>),
    /// else the default. Null, with <paramref name="error"/> saying what to change, when the request cannot be met.
    /// </summary>
    public static ExposureChoice? Choose(ClientFormat format, ProfileModel profile, ToolExposure? requested, IReadOnlyList<string>? currentArgs, out string? error)
    {
        error = null;
        var client = Loading(format).Client;
        if (!profile.CompactToolsEnabled)
        {
            if (requested == ToolExposure.Facade)
            {
                error = $"profile '{profile.Name}' lists raw tools itself ({(profile.Transparent ? "transparent" : "compact_tools_enabled: false")}), so no client of it gets the facade; "
                    + $"connect {client} to a compact profile (set client's profile:) or drop --exposure facade";
                return null;
            }

            return new ExposureChoice(ToolExposure.Raw, $"profile '{profile.Name}' lists raw tools itself", []);
        }

        if (requested is { } asked)
        {
            return Of(asked, $"--exposure {Name(asked)}");
        }

        if (currentArgs is not null && HasRawView(currentArgs))
        {
            return Of(ToolExposure.Raw, $"{client}'s entry already says {ViewOption} {RawView} (--exposure facade changes it)");
        }

        return Of(ToolExposure.Facade, DefaultReason(format));
    }

    /// <summary>The entry with the choice in it: the shim's <c>--view raw</c>, and the client's keep-loaded setting.</summary>
    public static ClientEntry Apply(ClientEntry entry, ExposureChoice choice) =>
        entry with { Args = [.. entry.Args.Where((_, i) => !IsViewArg(entry.Args, i)), .. choice.ShimArgs], KeepLoaded = choice.KeepLoaded };

    /// <summary>
    /// The profile as a client whose entry has <paramref name="entryArgs"/> sees it: its raw view when the entry says
    /// <c>--view raw</c> (as the daemon serves that hello: every tool, no max_tools budget), else the profile itself.
    /// </summary>
    public static ProfileModel AsSeenThrough(ProfileModel profile, IReadOnlyList<string>? entryArgs) =>
        profile.CompactToolsEnabled && entryArgs is not null && HasRawView(entryArgs)
            ? profile with { CompactToolsEnabled = false, MaxTools = int.MaxValue, OnOverBudget = OverBudgetAction.Error }
            : profile;

    /// <summary>What a client does with MCP tools, as its own code says (see <see cref="ClientFormats.Entry"/> for where the settings were found).</summary>
    public static ClientToolLoading Loading(ClientFormat format) => format switch
    {
        ClientFormat.ClaudeJson => new("Claude Code", "with first-party endpoints, on models with tool search", "alwaysLoad: true"),
        ClientFormat.CodexToml => new("Codex", "on models with tool search", null),
        ClientFormat.Copilot => new("Copilot CLI", "for Anthropic models", "deferTools: never"),
        ClientFormat.GeminiSettings => new("Gemini CLI", null, null),
        ClientFormat.Cursor => new("Cursor", null, null),
        _ => new(KnownClients.All.FirstOrDefault(c => c.Format == format)?.Title ?? ClientFormats.Name(format), null, null),
    };

    private static string DefaultReason(ClientFormat format) => format switch
    {
        ClientFormat.ClaudeJson => "default for Claude Code: its tool search defers MCP tools only with first-party endpoints and models that have it; the facade is kept loaded (alwaysLoad) everywhere",
        ClientFormat.CodexToml => "default for Codex: its tool search defers MCP tools only on models that have it; without it raw tools would all load",
        ClientFormat.Copilot => "default: Copilot CLI defers MCP tools only for Anthropic models; the facade is kept loaded (deferTools: never)",
        _ => $"default: {Loading(format).Client} does not defer MCP tools behind a tool search of its own",
    };

    private static ExposureChoice Of(ToolExposure exposure, string reason) =>
        new(exposure, reason, exposure == ToolExposure.Raw ? [ViewOption, RawView] : []);

    private static bool HasRawView(IReadOnlyList<string> args) =>
        Enumerable.Range(0, args.Count).Any(i => args[i] == ViewOption && i + 1 < args.Count && args[i + 1] == RawView);

    /// <summary>An argument that is the shim's view option or its value: replaced by the choice's own.</summary>
    private static bool IsViewArg(IReadOnlyList<string> args, int i) => args[i] == ViewOption || (i > 0 && args[i - 1] == ViewOption);
}
