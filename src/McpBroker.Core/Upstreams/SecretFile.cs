namespace McpBroker.Upstreams;

/// <summary>Reads a secret from a file that only its owner may read; the error never contains the value.</summary>
internal static class SecretFile
{
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public static string Read(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new UpstreamStartException($"{what}: secret file {path} does not exist");
        }

        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
        {
            throw new UpstreamStartException($"{what}: secret file {path} is readable by others; run chmod 600 {path}");
        }

        var value = File.ReadAllText(path).TrimEnd('\r', '\n');
        return value.Length > 0 ? value : throw new UpstreamStartException($"{what}: secret file {path} is empty");
    }
}
