using System.Text.RegularExpressions;
using McpBroker.Config;

namespace McpBroker.Clients;

/// <summary>
/// Finds credentials inside a client's server arguments and URLs, so import never copies one into broker.yaml: each
/// becomes a <c>${KEY}</c> reference (filled in at start from env_from) with KEY added to env_from and a note naming
/// the variable to set. What counts: the password of a URL (<c>postgresql://user:pw@host/db</c>), query parameters whose
/// name or value looks like a credential (<c>?token=…</c>, <c>api_key=…</c>), <c>--api-key=…</c> and
/// <c>--token VALUE</c> (any option whose name looks like a credential's), header-like arguments
/// (<c>Authorization: Bearer …</c>), and bare values that look like tokens. References the client already uses
/// (<c>${VAR}</c>, <c>${env:VAR}</c>, <c>$VAR</c>) to a variable whose name looks like a credential's become
/// references to the same variable over env_from; others stay as written (the config expands them when it loads).
/// </summary>
internal static partial class ImportSecrets
{
    /// <summary>The arguments with every credential replaced by a reference; <paramref name="envFrom"/> gets each key.</summary>
    public static List<string> Args(string server, IReadOnlyList<string> args, SortedDictionary<string, string> envFrom, List<string> notes)
    {
        var result = new List<string>(args.Count);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var previous = i > 0 ? args[i - 1] : null;
            var at = $"argument {i + 1}";
            if (Option().Match(arg) is { Success: true } option && SecretHeuristics.LooksLikeSecretName(option.Groups["name"].Value) && !IsReference(option.Groups["value"].Value))
            {
                result.Add($"{option.Groups["flag"].Value}={Reference(server, option.Groups["name"].Value, envFrom, notes, at)}");
            }
            else if (previous is not null && Flag().Match(previous) is { Success: true } flag && SecretHeuristics.LooksLikeSecretName(flag.Groups["name"].Value)
                && !arg.StartsWith('-') && arg.Length > 0 && !IsReference(arg))
            {
                result.Add(Reference(server, flag.Groups["name"].Value, envFrom, notes, at));
            }
            else if (HeaderLike().Match(arg) is { Success: true } header && SecretHeuristics.LooksLikeSecretName(header.Groups["name"].Value) && !IsReference(header.Groups["value"].Value))
            {
                var value = header.Groups["value"].Value;
                var bearer = value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value[..7] : "";
                result.Add($"{header.Groups["name"].Value}: {bearer}{Reference(server, header.Groups["name"].Value, envFrom, notes, at)}");
            }
            else
            {
                result.Add(Url(server, arg, envFrom, notes, at) ?? (SecretHeuristics.LooksLikeSecret(arg) ? Reference(server, "token", envFrom, notes, at) : KeepReferences(arg, envFrom, notes)));
            }
        }

        return result;
    }

    /// <summary>
    /// A URL (an argument, or a remote server's url) with its password and credential-like query values replaced by
    /// references; null when <paramref name="text"/> is not a URL or carries none.
    /// </summary>
    public static string? Url(string server, string text, SortedDictionary<string, string> envFrom, List<string> notes, string at)
    {
        if (!UrlStart().IsMatch(text))
        {
            return null;
        }

        var changed = false;
        var result = UserInfo().Replace(text, m =>
        {
            if (IsReference(m.Groups["password"].Value))
            {
                return m.Value;
            }

            changed = true;
            return m.Groups["user"].Value + ":" + Reference(server, "password", envFrom, notes, $"{at} (the url's password)") + "@";
        }, 1);
        result = QueryValue().Replace(result, m =>
        {
            var name = Uri.UnescapeDataString(m.Groups["name"].Value);
            var value = Uri.UnescapeDataString(m.Groups["value"].Value);
            if (value.Length == 0 || IsReference(value) || !(SecretHeuristics.LooksLikeSecretName(name) || SecretHeuristics.LooksLikeSecret(value)))
            {
                return m.Value;
            }

            changed = true;
            return m.Groups["lead"].Value + m.Groups["name"].Value + "=" + Reference(server, name, envFrom, notes, $"{at} (query parameter '{name}')");
        });
        return changed ? result : null;
    }

    /// <summary>The client's own variable references, as references to the same variables over env_from.</summary>
    private static string KeepReferences(string arg, SortedDictionary<string, string> envFrom, List<string> notes) =>
        ClientReference().Replace(arg, m =>
        {
            // $HOME and the like stay as written (expanded when the config loads); a credential's name reads at start.
            var variable = m.Groups["name"].Value;
            if (!SecretHeuristics.LooksLikeSecretName(variable))
            {
                return m.Value;
            }

            if (envFrom.TryAdd(variable, variable))
            {
                notes.Add($"an argument reads ${variable}: set it in the daemon's environment");
            }

            return $"${{{variable}}}";
        });

    /// <summary>A new env_from key for a credential, named after the server and what held it (POSTGRES_PASSWORD).</summary>
    private static string Reference(string server, string what, SortedDictionary<string, string> envFrom, List<string> notes, string at)
    {
        var key = NotEnvChars().Replace($"{server}_{what.TrimStart('-')}", "_").Trim('_').ToUpperInvariant();
        key = char.IsAsciiDigit(key[0]) ? "_" + key : key;
        var unique = key;
        for (var n = 2; envFrom.ContainsKey(unique); n++)
        {
            unique = $"{key}_{n}";
        }

        envFrom[unique] = unique;
        notes.Add($"{at} held a credential, which was not copied: set ${unique} in the daemon's environment (or use env_files with a 0600 file under secrets/)");
        return $"${{{unique}}}";
    }

    private static bool IsReference(string value) => ClientReference().Match(value) is { Success: true } m && m.Length == value.Length;

    [GeneratedRegex(@"^(?<flag>--?(?<name>[A-Za-z][A-Za-z0-9_.-]*))=(?<value>.+)$")]
    private static partial Regex Option();

    [GeneratedRegex(@"^--?(?<name>[A-Za-z][A-Za-z0-9_.-]*)$")]
    private static partial Regex Flag();

    [GeneratedRegex(@"^(?<name>[A-Za-z][A-Za-z0-9-]*):\s*(?<value>\S.*)$")]
    private static partial Regex HeaderLike();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.-]*://")]
    private static partial Regex UrlStart();

    [GeneratedRegex(@"(?<=^[A-Za-z][A-Za-z0-9+.-]*://)(?<user>[^:@/\s]*):(?<password>[^@/\s]+)@")]
    private static partial Regex UserInfo();

    [GeneratedRegex(@"(?<lead>[?&;])(?<name>[^=&#;]+)=(?<value>[^&#;]*)")]
    private static partial Regex QueryValue();

    [GeneratedRegex(@"\$\{(env:)?(?<name>[A-Za-z_][A-Za-z0-9_]*)\}|\$(?<name>[A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex ClientReference();

    [GeneratedRegex(@"[^A-Za-z0-9_]+")]
    private static partial Regex NotEnvChars();
}
