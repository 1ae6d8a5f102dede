using System.Collections.Frozen;
using System.Text;
using System.Text.RegularExpressions;
using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary>
/// An http/sse upstream's url (no credentials in it: it is logged and shown), headers (values only from env_from or
/// env_files) and oauth.
/// </summary>
internal static partial class RemoteUpstreamRules
{
    /// <summary>
    /// An http/sse upstream's url, headers and oauth. The url may not carry credentials (it is logged and shown);
    /// header values are templates whose <c>${KEY}</c> names a key of env_from or env_files, resolved at connect time.
    /// </summary>
    internal static RemoteModel? ValidateRemote(string path, string name, UpstreamConfig u, RuntimeModel? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        var before = issues.Count;
        Uri? url = null;
        var secretKeys = (u.EnvFrom ?? []).Keys.Concat((u.EnvFiles ?? []).Keys).ToHashSet(StringComparer.Ordinal);
        string? urlTemplate = null;
        if (string.IsNullOrWhiteSpace(u.Url))
        {
            issues.Add(ConfigIssue.Error($"{path}.url", $"a {Word(u.Transport!.Value)} upstream needs a url, e.g. url: https://example.com/mcp"));
        }
        else if (ExpandUrl(u.Url, runtime, name, getEnv, secretKeys, out var error, out urlTemplate) is not { } expanded)
        {
            issues.Add(ConfigIssue.Error($"{path}.url", error!));
        }
        else if (!Uri.TryCreate(expanded, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https"))
        {
            issues.Add(ConfigIssue.Error($"{path}.url", $"'{u.Url}' is not an absolute http:// or https:// URL"));
            url = null;
        }
        else if (url.UserInfo.Length > 0)
        {
            issues.Add(ConfigIssue.Error($"{path}.url", "the url carries a user name or password; remove it and send credentials in headers (from env_from or env_files)"));
        }
        else if (System.Web.HttpUtility.ParseQueryString(url.Query) is var query
            && query.AllKeys.FirstOrDefault(k => k is not null && query[k] != SecretMarker
                && (SecretHeuristics.LooksLikeSecretName(k) || SecretHeuristics.LooksLikeSecret(query[k] ?? ""))) is { } secretKey)
        {
            issues.Add(ConfigIssue.Error($"{path}.url", $"the query parameter '{secretKey}' looks like a credential; the url is logged and shown, so send it in headers (from env_from or env_files) instead"));
        }
        else if (url.Segments.Select(Uri.UnescapeDataString).Any(segment => SecretHeuristics.LooksLikeSecret(segment.Trim('/'))))
        {
            // Checked after $VAR expansion, so a token pulled in from a host variable is caught too; the message never quotes it.
            issues.Add(ConfigIssue.Error($"{path}.url", "a part of the url's path looks like a credential; the url is logged and shown, so send the credential in headers (from env_from or env_files)"));
        }

        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in HeaderReferenceRegex().Matches(urlTemplate ?? ""))
        {
            used.Add(m.Groups["key"].Value);
        }

        foreach (var (header, template) in u.Headers ?? [])
        {
            var at = $"{path}.headers.{header}";
            if (!HeaderNameRegex().IsMatch(header))
            {
                issues.Add(ConfigIssue.Error(at, $"'{header}' is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"));
            }

            if (template.Contains('\r') || template.Contains('\n'))
            {
                issues.Add(ConfigIssue.Error(at, "a header value cannot contain a line break"));
                continue;
            }

            var literal = HeaderReferenceRegex().Replace(template, m =>
            {
                var key = m.Groups["key"].Value;
                used.Add(key);
                if (!secretKeys.Contains(key))
                {
                    issues.Add(ConfigIssue.Error(at, $"${{{key}}} names no key of env_from or env_files; add {key}: HOST_VARIABLE under env_from (or {key}: FILE under env_files)"));
                }

                return "";
            });
            if (literal.Contains('$', StringComparison.Ordinal))
            {
                issues.Add(ConfigIssue.Error(at, "write references as ${KEY}, where KEY is a key of env_from or env_files"));
            }
            else if (HeaderLiteralPieces().Split(literal).Any(SecretHeuristics.LooksLikeSecret)
                || (SecretHeuristics.LooksLikeSecretName(header) && HeaderLiteralValue(literal)))
            {
                issues.Add(ConfigIssue.Error(at, $"header values come only from env_from or env_files; move the value out of the file and write e.g. {header}: \"Bearer ${{TOKEN}}\" with env_from: {{TOKEN: HOST_VARIABLE}}"));
            }
        }

        foreach (var key in secretKeys.Where(k => !used.Contains(k)).Order(StringComparer.Ordinal))
        {
            issues.Add(ConfigIssue.Warning($"{path}", $"'{key}' (env_from/env_files) is used by no header; an {Word(u.Transport!.Value)} upstream gets secrets only through headers: ${{{key}}}"));
        }

        OAuthModel? oauth = null;
        if (u.Oauth is { } o)
        {
            if (u.Headers?.Keys.FirstOrDefault(h => h.Equals("Authorization", StringComparison.OrdinalIgnoreCase)) is { } auth)
            {
                issues.Add(ConfigIssue.Error($"{path}.headers.{auth}", "oauth sets the Authorization header itself; remove this header or the oauth block"));
            }

            if (o.RedirectPort is < 1 or > 65535)
            {
                issues.Add(ConfigIssue.Error($"{path}.oauth.redirect_port", "must be a TCP port (1-65535); omit it for any free port"));
            }

            string? secretFile = null;
            if (o.ClientSecretFile is not null)
            {
                if (Placeholders.Expand(o.ClientSecretFile, runtime, name, getEnv, out var fileError) is { } file)
                {
                    secretFile = Path.IsPathFullyQualified(file) || runtime is null ? file : Path.Combine(runtime.SecretsDir, file);
                }
                else
                {
                    issues.Add(ConfigIssue.Error($"{path}.oauth.client_secret_file", fileError!));
                }
            }

            if (o.ClientSecretFile is not null && o.ClientId is null)
            {
                issues.Add(ConfigIssue.Error($"{path}.oauth.client_secret_file", "a client secret needs its client_id"));
            }

            oauth = new OAuthModel(runtime?.OAuthTokenFile(name) ?? "", o.ClientId, secretFile, o.Scopes, o.RedirectPort);
        }

        return url is null || issues.Skip(before).Any(i => i.Severity == IssueSeverity.Error)
            ? null
            : new RemoteModel(url, (u.Headers ?? []).ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), oauth) { UrlTemplate = urlTemplate };
    }

    /// <summary>What a url's <c>${KEY}</c> secret reference stands for while the url is checked (the value is not known yet).</summary>
    private const string SecretMarker = "mcp-broker-secret";

    /// <summary>
    /// A url with its placeholders expanded, and each <c>${KEY}</c> naming a key of env_from or env_files (a query
    /// value a server takes its credential in) replaced by a marker for the checks; <paramref name="template"/> is the
    /// expanded url keeping those references (filled in at connect time), or null when it has none.
    /// </summary>
    private static string? ExpandUrl(string raw, RuntimeModel? runtime, string name, Func<string, string?> getEnv, HashSet<string> secretKeys,
        out string? error, out string? template)
    {
        error = null;
        template = null;
        var expanded = new StringBuilder();
        var kept = new StringBuilder();
        var pos = 0;
        foreach (Match m in SecretReferenceOrEscape().Matches(raw).Where(m => m.Value != "$$" && secretKeys.Contains(m.Groups["key"].Value)))
        {
            if (Placeholders.Expand(raw[pos..m.Index], runtime, name, getEnv, out error) is not { } piece)
            {
                return null;
            }

            expanded.Append(piece).Append(SecretMarker);
            kept.Append(piece).Append(m.Value);
            pos = m.Index + m.Length;
        }

        if (Placeholders.Expand(raw[pos..], runtime, name, getEnv, out error) is not { } rest)
        {
            return null;
        }

        template = pos == 0 ? null : kept.Append(rest).ToString();
        return expanded.Append(rest).ToString();
    }

    [GeneratedRegex(@"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")]
    private static partial Regex HeaderNameRegex();

    /// <summary>
    /// True when the literal text of a credential header (its template without references) holds more than an auth
    /// scheme word and parameter names: "Bearer ${T}" and "sid=${S}" are fine, "sid=${S}; x=abc123" is not.
    /// </summary>
    private static bool HeaderLiteralValue(string literal) =>
        HeaderParameterName().Replace(AuthScheme().Replace(literal, ""), "").Trim(' ', ';', ',').Length > 0;

    [GeneratedRegex(@"^\s*(Bearer|Basic|Token|Digest|Key)\b", RegexOptions.IgnoreCase)]
    private static partial Regex AuthScheme();

    [GeneratedRegex(@"[A-Za-z0-9_.\-]+=")]
    private static partial Regex HeaderParameterName();

    /// <summary>What separates the pieces of a header's literal text that could each be a credential (cookie pairs, lists).</summary>
    [GeneratedRegex(@"[\s;,=]+")]
    private static partial Regex HeaderLiteralPieces();

    /// <summary><c>${KEY}</c> in a header value: KEY is a key of the upstream's env_from or env_files.</summary>
    [GeneratedRegex(@"\$\{(?<key>[A-Za-z_][A-Za-z0-9_]*)\}")]
    public static partial Regex HeaderReferenceRegex();
}
