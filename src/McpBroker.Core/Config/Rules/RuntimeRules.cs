namespace McpBroker.Config;

/// <summary><c>schema_version</c> and <c>runtime</c>: the root every other path is under, and its socket path's length.</summary>
internal sealed class RuntimeRules : IConfigRules
{
    public void Validate(ConfigValidationContext context)
    {
        if (context.Config.SchemaVersion != 1)
        {
            context.Issues.Add(ConfigIssue.Error("schema_version", $"{context.Config.SchemaVersion} is not supported; this broker reads schema_version: 1"));
        }

        context.Runtime = ValidateRuntime(context.Config.Runtime, context.GetEnv, context.Issues);
    }

    private static RuntimeModel? ValidateRuntime(RuntimeConfig? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        var raw = runtime?.Root ?? RuntimeModel.DefaultRoot;
        var root = Placeholders.Expand(raw, null, null, getEnv, out var error);
        if (root is null)
        {
            issues.Add(ConfigIssue.Error("runtime.root", error!));
            return null;
        }

        if (root.Where(char.IsControl).Select(c => (int?)c).FirstOrDefault() is { } control)
        {
            // A newline or an escape in a path ends up in logs, service units and terminals; a NUL cannot be in a path at all.
            issues.Add(ConfigIssue.Error("runtime.root", $"contains the control character U+{control:X4}; write the path without control characters (newlines, tabs, escapes)"));
            return null;
        }

        if (!Path.IsPathFullyQualified(root))
        {
            issues.Add(ConfigIssue.Error("runtime.root", $"'{raw}' is not an absolute path; write it from '/' or '~/'"));
            return null;
        }

        // A Unix socket path is limited to 107 bytes; fail here, not at bind time.
        var runtimeModel = new RuntimeModel(Path.GetFullPath(root));
        if (System.Text.Encoding.UTF8.GetByteCount(runtimeModel.SocketPath) > 107)
        {
            issues.Add(ConfigIssue.Error("runtime.root", $"the socket path '{runtimeModel.SocketPath}' is longer than the 107 bytes a Unix socket allows; choose a shorter root"));
        }

        return runtimeModel;
    }
}
