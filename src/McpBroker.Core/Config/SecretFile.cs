namespace McpBroker.Config;

/// <summary>Reads a secret from a file that only its owner may read; the error never contains the value.</summary>
internal static class SecretFile
{
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>The values of an upstream's env_from and env_files by key (secrets: never logged, masked in every message).</summary>
    public static Dictionary<string, string> ResolveAll(UpstreamModel model)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, variable) in model.EnvFrom)
        {
            values[key] = DaemonEnvironment.Get(variable)
                ?? throw new SecretUnavailableException(DaemonEnvironment.Current is { } daemon
                    ? $"env_from.{key}: host variable '{variable}' is not set in the daemon's environment ({daemon.File}); set it in your shell and run 'mcp-broker daemon env --capture', or add {variable}=… to {Path.Combine(Path.GetDirectoryName(daemon.File)!, DaemonEnvironment.ServiceFileName)} (mode 0600)"
                    : $"env_from.{key}: host variable '{variable}' is not set in the daemon's environment");
        }

        foreach (var (key, file) in model.EnvFiles)
        {
            values[key] = Read(file, $"env_files.{key}");
        }

        SecretMask.Add(values.Values);
        return values;
    }

    /// <summary>
    /// The upstream's arguments with each <c>${KEY}</c> that names a key of env_from or env_files replaced by its value
    /// (the model keeps the reference; see ConfigValidator); any other text is as the model has it.
    /// </summary>
    public static List<string> ResolveArgs(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> secrets) =>
        [.. args.Select(a => a.Contains("${", StringComparison.Ordinal)
            ? Config.ConfigValidator.HeaderReferenceRegex().Replace(a, m => secrets.TryGetValue(m.Groups["key"].Value, out var v) ? v : m.Value)
            : a)];

    public static string Read(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new SecretUnavailableException($"{what}: secret file {path} does not exist");
        }

        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
        {
            throw new SecretUnavailableException($"{what}: secret file {path} is readable by others; run chmod 600 {path}");
        }

        var value = File.ReadAllText(path).TrimEnd('\r', '\n');
        SecretMask.Add(value);
        return value.Length > 0 ? value : throw new SecretUnavailableException($"{what}: secret file {path} is empty");
    }
}
