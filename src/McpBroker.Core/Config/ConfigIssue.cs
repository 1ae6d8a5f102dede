namespace McpBroker.Config;

public enum IssueSeverity
{
    Error,
    Warning,
}

/// <summary>One finding about a config file: where (YAML path), what is wrong, and how to fix it.</summary>
public sealed record ConfigIssue(IssueSeverity Severity, string Path, string Message)
{
    public static ConfigIssue Error(string path, string message) => new(IssueSeverity.Error, path, message);

    public static ConfigIssue Warning(string path, string message) => new(IssueSeverity.Warning, path, message);

    public override string ToString() =>
        $"{(Severity == IssueSeverity.Error ? "error" : "warning")}: {(Path.Length == 0 ? "" : Path + ": ")}{Message}";
}
