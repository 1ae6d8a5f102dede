using System.Text;
using System.Text.RegularExpressions;

namespace McpBroker.Config;

/// <summary>
/// Expands <c>{runtime.root}</c>, <c>{runtime.state_dir}</c>, <c>{runtime.secrets_dir}</c>,
/// <c>{runtime.socket_path}</c>, <c>{upstream.state_dir}</c>, <c>$VAR</c>/<c>${VAR}</c> (<c>$$</c> is a literal
/// <c>$</c>) and a leading <c>~</c>. Returns null and an error message when a name is unknown or unset.
/// </summary>
internal static partial class Placeholders
{
    public static string? Expand(string value, RuntimeModel? runtime, string? upstream, Func<string, string?> getEnv, out string? error)
    {
        error = null;
        var sb = new StringBuilder(value.Length);
        var text = value;
        if (text == "~" || text.StartsWith("~/", StringComparison.Ordinal))
        {
            var home = getEnv("HOME");
            if (string.IsNullOrEmpty(home))
            {
                error = "'~' needs HOME, which is not set";
                return null;
            }

            sb.Append(home);
            text = text[1..];
        }

        var pos = 0;
        foreach (Match m in TokenRegex().Matches(text))
        {
            sb.Append(text, pos, m.Index - pos);
            pos = m.Index + m.Length;
            if (m.Value == "$$")
            {
                sb.Append('$');
                continue;
            }

            if (m.Groups["scope"].Success)
            {
                var resolved = Resolve(m.Groups["scope"].Value, m.Groups["name"].Value, runtime, upstream);
                if (resolved is null)
                {
                    error = $"unknown placeholder '{m.Value}'; known: {{runtime.root}}, {{runtime.state_dir}}, {{runtime.secrets_dir}}, {{runtime.socket_path}}"
                        + (upstream is null ? "" : ", {upstream.state_dir}");
                    return null;
                }

                sb.Append(resolved);
                continue;
            }

            var variable = m.Groups["var"].Success ? m.Groups["var"].Value : m.Groups["bare"].Value;
            var env = getEnv(variable);
            if (env is null)
            {
                error = $"'${variable}' is not set in the environment (write $$ for a literal '$')";
                return null;
            }

            sb.Append(env);
        }

        sb.Append(text, pos, text.Length - pos);
        return sb.ToString();
    }

    private static string? Resolve(string scope, string name, RuntimeModel? runtime, string? upstream) => (scope, name) switch
    {
        ("runtime", "root") => runtime?.Root,
        ("runtime", "state_dir") => runtime?.StateDir,
        ("runtime", "secrets_dir") => runtime?.SecretsDir,
        ("runtime", "socket_path") => runtime?.SocketPath,
        ("upstream", "state_dir") when upstream is not null => runtime?.UpstreamStateDir(upstream),
        _ => null,
    };

    [GeneratedRegex(@"\$\$|\{(?<scope>runtime|upstream)\.(?<name>[A-Za-z_]+)\}|\$\{(?<var>[A-Za-z_][A-Za-z0-9_]*)\}|\$(?<bare>[A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex TokenRegex();
}
