using McpBroker.Config;

namespace McpBroker.Clients;

/// <summary>
/// An agent client the CLI can wire without a <c>clients:</c> section: the name a user types, its config format (which
/// fixes its usual file, <see cref="ClientModel.DefaultPath"/>), and the commands that show it is installed.
/// </summary>
internal sealed record KnownClient(string Name, string Title, ClientFormat Format, IReadOnlyList<string> Commands);

/// <summary>What <c>client detect</c> found for one known client.</summary>
internal sealed record DetectedClient(KnownClient Client, string ConfigPath, string? Command, bool FolderExists, bool FileExists, bool? Wired, string? Problem)
{
    /// <summary>Installed: its command is on PATH, or the folder its config lives in exists (editors and apps have no command).</summary>
    public bool Installed => Command is not null || FolderExists;
}

/// <summary>The clients ToolHive wires, and Qwen Code: each one's name, format and commands.</summary>
internal static class KnownClients
{
    public static IReadOnlyList<KnownClient> All { get; } =
    [
        new("claude", "Claude Code", ClientFormat.ClaudeJson, ["claude"]),
        new("claude-desktop", "Claude Desktop", ClientFormat.ClaudeDesktop, []),
        new("codex", "OpenAI Codex CLI", ClientFormat.CodexToml, ["codex"]),
        new("gemini", "Gemini CLI", ClientFormat.GeminiSettings, ["gemini"]),
        new("qwen", "Qwen Code", ClientFormat.Qwen, ["qwen"]),
        new("copilot", "GitHub Copilot CLI", ClientFormat.Copilot, ["copilot"]),
        new("opencode", "opencode", ClientFormat.Opencode, ["opencode"]),
        new("cursor", "Cursor", ClientFormat.Cursor, ["cursor", "cursor-agent"]),
        new("vscode", "Visual Studio Code", ClientFormat.Vscode, ["code"]),
        new("vscode-insiders", "VS Code Insiders", ClientFormat.VscodeInsiders, ["code-insiders"]),
        new("vscode-server", "VS Code Server (remote development)", ClientFormat.VscodeServer, []),
        new("windsurf", "Windsurf", ClientFormat.Windsurf, ["windsurf"]),
        new("windsurf-jetbrains", "Windsurf for JetBrains IDEs", ClientFormat.WindsurfJetbrains, []),
        new("zed", "Zed", ClientFormat.Zed, ["zed", "zeditor"]),
        new("cline", "Cline (VS Code extension)", ClientFormat.Cline, []),
        new("roo-code", "Roo Code (VS Code extension)", ClientFormat.RooCode, []),
        new("kiro", "Kiro", ClientFormat.Kiro, ["kiro"]),
        new("goose", "Goose", ClientFormat.Goose, ["goose"]),
        new("lm-studio", "LM Studio", ClientFormat.LmStudio, ["lms"]),
        new("amp", "Amp", ClientFormat.Amp, ["amp"]),
        new("trae", "Trae", ClientFormat.Trae, ["trae"]),
        new("antigravity", "Google Antigravity", ClientFormat.Antigravity, ["antigravity"]),
        new("kimi", "Kimi CLI", ClientFormat.Kimi, ["kimi"]),
        new("factory", "Factory Droid", ClientFormat.Factory, ["droid"]),
        new("qoder", "Qoder", ClientFormat.Qoder, ["qoder"]),
    ];

    /// <summary>The client a name stands for: a known client's name, or a format's name (claude-json, gemini-settings, …).</summary>
    public static KnownClient? Find(string name) =>
        All.FirstOrDefault(c => c.Name == name) ?? (ClientFormats.Parse(name) is { } format ? All.FirstOrDefault(c => c.Format == format) : null);

    /// <summary>
    /// The client as a config entry would give it when the config has none: its usual file (~ from HOME) and the
    /// default profile, under the name the user typed (so backups and renders go to that name's folders). Null when the
    /// file cannot be named (no HOME) — <paramref name="error"/> says why.
    /// </summary>
    public static ClientModel? Implicit(KnownClient client, string name, string profile, out string? error)
    {
        var path = Placeholders.Expand(ClientModel.DefaultPath(client.Format), null, null, Environment.GetEnvironmentVariable, out error);
        return path is null ? null : new ClientModel(name, client.Format, Path.GetFullPath(path), ClientModel.DefaultEntryName, profile, null);
    }

    /// <summary>Every known client as this machine has it: installed or not, its file there or not, the broker's entry in it or not.</summary>
    public static IReadOnlyList<DetectedClient> Detect(string entryName)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var list = new List<DetectedClient>();
        foreach (var client in All)
        {
            if (Implicit(client, client.Name, ProfileModel.DefaultName, out _) is not { } model)
            {
                continue;
            }

            var command = client.Commands.SelectMany(c => path.Select(dir => Path.Combine(dir, c))).FirstOrDefault(File.Exists);
            var file = ClientFiles.Resolve(model.ConfigPath);
            bool? wired = null;
            string? problem = null;
            if (File.Exists(file))
            {
                try
                {
                    wired = ClientServers.Read(client.Format, File.ReadAllBytes(file), model.ConfigPath).Any(s => s.Name == entryName || ClientImport.IsBroker(s));
                }
                catch (Exception e) when (e is ClientConfigException or IOException or UnauthorizedAccessException)
                {
                    problem = e.Message;
                }
            }

            list.Add(new DetectedClient(client, model.ConfigPath, command, Directory.Exists(Path.GetDirectoryName(model.ConfigPath)), File.Exists(file), wired, problem));
        }

        return list;
    }
}
