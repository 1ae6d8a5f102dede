using static McpBroker.Config.ConfigRules;

namespace McpBroker.Config;

/// <summary><c>broker.http</c> and <c>broker.status_page</c>: loopback listeners and the token files that guard them.</summary>
internal sealed class FrontDoorRules : IConfigRules
{
    public void Validate(ConfigValidationContext context) =>
        context.Settings = context.Settings with
        {
            Http = ValidateHttp(context.Config.Broker?.Http, context.Runtime, context.GetEnv, context.Issues),
            StatusPage = ValidateStatusPage(context.Config.Broker?.StatusPage, context.Runtime, context.GetEnv, context.Issues),
        };

    private static HttpFrontDoorModel? ValidateHttp(HttpFrontDoorConfig? http, RuntimeModel? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        if (http is null)
        {
            return null;
        }

        const string path = "broker.http";
        System.Net.IPEndPoint? endpoint = null;
        var colon = http.Listen?.LastIndexOf(':') ?? -1;
        if (http.Listen is null)
        {
            issues.Add(ConfigIssue.Error($"{path}.listen", "say where to listen, e.g. listen: 127.0.0.1:8765"));
        }
        else if (colon <= 0 || !int.TryParse(http.Listen.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
        {
            issues.Add(ConfigIssue.Error($"{path}.listen", $"'{http.Listen}' is not HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8765"));
        }
        else
        {
            var host = http.Listen[..colon];
            var address = host == "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var a) ? a : null;
            if (address is null || !System.Net.IPAddress.IsLoopback(address))
            {
                issues.Add(ConfigIssue.Error($"{path}.listen",
                    $"'{host}' is not a loopback address; the front door serves only this machine (127.0.0.1, another 127.x.x.x address, ::1 or localhost)"));
            }
            else
            {
                endpoint = new System.Net.IPEndPoint(address, port);
            }
        }

        var origins = http.AllowedOrigins ?? [];
        foreach (var (i, origin) in origins.Index())
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.PathAndQuery != "/" || origin.EndsWith('/'))
            {
                issues.Add(ConfigIssue.Error($"{path}.allowed_origins[{i}]", $"'{origin}' is not an origin; write scheme://host[:port] with no path, e.g. http://localhost:6274"));
            }
        }

        var tokenFile = TokenFile(http.TokenFile ?? HttpFrontDoorModel.DefaultTokenFile, $"{path}.token_file", runtime, getEnv, issues);
        return endpoint is null || tokenFile is null ? null : new HttpFrontDoorModel(endpoint, tokenFile, origins);
    }

    private static StatusPageModel? ValidateStatusPage(StatusPageConfig? page, RuntimeModel? runtime, Func<string, string?> getEnv, List<ConfigIssue> issues)
    {
        if (page is null)
        {
            return null;
        }

        const string path = "broker.status_page";
        if (page.Port is not { } port)
        {
            issues.Add(ConfigIssue.Error($"{path}.port", "say which port to serve the page on (127.0.0.1 only), e.g. port: 8766"));
        }
        else if (port is < 1 or > 65535)
        {
            issues.Add(ConfigIssue.Error($"{path}.port", $"{port} is not a port from 1 to 65535, e.g. port: 8766"));
        }

        var tokenFile = TokenFile(page.TokenFile ?? StatusPageModel.DefaultTokenFile, $"{path}.token_file", runtime, getEnv, issues);
        return page.Port is { } p and >= 1 and <= 65535 && tokenFile is not null
            ? new StatusPageModel(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, p), tokenFile)
            : null;
    }
}
