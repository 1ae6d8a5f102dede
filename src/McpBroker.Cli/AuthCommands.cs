using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using McpBroker.Auth;
using McpBroker.Config;
using McpBroker.Upstreams;
using ModelContextProtocol.Authentication;
using ModelContextProtocol.Client;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker auth login|logout|status</c>: OAuth for http/sse upstreams. Login runs the authorization code flow
/// with PKCE through the SDK's OAuth client (discovery, dynamic registration, token exchange), with the redirect
/// received on a loopback listener; the tokens land in the upstream's token file (0600), which the daemon reads.
/// </summary>
internal static class AuthCommands
{
    public static async Task<int> LoginAsync(string? configOption, string name, bool noBrowser, TimeSpan timeout, CancellationToken ct)
    {
        if (Load(configOption, name) is not var (model, upstream, oauth))
        {
            return 1;
        }

        model.Runtime.EnsureCreated();

        // The login fills a file of its own, moved over the stored tokens only when it succeeded: until then the
        // daemon keeps using the old ones, and a failed or interrupted login loses nothing.
        var store = new OAuthTokenStore(oauth.TokenFile);
        var fresh = new OAuthTokenStore(oauth.TokenFile + ".login");
        fresh.Delete();
        var port = oauth.RedirectPort ?? FreePort();
        var redirect = new Uri($"http://127.0.0.1:{port}/callback");
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/callback/");
        try
        {
            listener.Start();
        }
        catch (HttpListenerException ex)
        {
            Console.Error.WriteLine($"mcp-broker: cannot listen on {redirect} for the login redirect: {ex.Message}; set upstreams.{name}.oauth.redirect_port to a free port");
            return 1;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            var options = OAuthSupport.Options(upstream, oauth with { TokenFile = fresh.Path }, redirect, (context, token) => WaitForRedirectAsync(listener, context, name, noBrowser, token));
            var transport = RemoteConnection.CreateTransport(upstream, upstream.Remote!, SecretFile.ResolveAll(upstream), options, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
            var client = await McpClient.CreateAsync(transport, new McpClientOptions
            {
                ClientInfo = new() { Name = "mcp-broker", Version = BrokerInfo.Version },
            }, cancellationToken: cts.Token);
            IList<McpClientTool> tools;
            await using (client)
            {
                tools = await client.ListToolsAsync(cancellationToken: cts.Token);
            }

            // Only now (the session's closing DELETE still used the new tokens) do they replace the stored ones.
            if (fresh.Read() is null)
            {
                throw new InvalidOperationException($"{upstream.Remote!.DisplayUrl} answered without asking for OAuth, so there are no tokens to store; the oauth block may not be needed");
            }

            File.Move(fresh.Path, store.Path, overwrite: true);
            var stored = store.Read();
            Console.WriteLine($"logged in to {name}: {tools.Count} tool(s); " + (stored?.ExpiresAt is { } at
                ? $"the access token is valid until {at:yyyy-MM-dd HH:mm:ss} UTC" + (stored.RefreshToken is { Length: > 0 } ? " and is refreshed before it expires" : " (no refresh token: log in again then)")
                : "the access token has no expiry"));
            Console.WriteLine($"tokens stored in {store.Path} (0600); the daemon uses them on its next connection");
            return 0;
        }
        catch (Exception ex)
        {
            fresh.Delete();
            var why = ex switch
            {
                OperationCanceledException when !ct.IsCancellationRequested => $"no redirect arrived within {new Duration(timeout)}",
                OperationCanceledException => "cancelled",
                _ => RemoteFailure.Explain(ex, upstream),
            };
            Console.Error.WriteLine($"mcp-broker: login to {name} failed: {why}" + (File.Exists(store.Path) ? "; the stored tokens are unchanged" : ""));
            return 1;
        }
    }

    public static int Logout(string? configOption, string name)
    {
        if (Load(configOption, name) is not var (_, _, oauth))
        {
            return 1;
        }

        var removed = new OAuthTokenStore(oauth.TokenFile).Delete();
        Console.WriteLine(removed
            ? $"removed the OAuth tokens of {name} ({oauth.TokenFile}); requests to it fail until 'mcp-broker auth login {name}'"
            : $"{name} has no stored OAuth tokens");
        return 0;
    }

    /// <summary>The passive probe of every upstream's credentials: no network, no daemon needed.</summary>
    public static int Status(string? configOption, bool json)
    {
        if (ConfigCommands.Load(configOption) is not { } model)
        {
            return 1;
        }

        var now = DateTimeOffset.UtcNow;
        var probes = model.Upstreams.ToDictionary(u => u.Name, u => AuthProbe.Of(u, Environment.GetEnvironmentVariable, now));
        if (json)
        {
            var doc = new JsonObject();
            foreach (var (upstream, probe) in probes)
            {
                doc[upstream] = probe.ToJson();
            }

            Console.WriteLine(doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            foreach (var (upstream, probe) in probes)
            {
                Console.WriteLine($"{upstream}: {probe.State}" + (probe.Detail is null ? "" : $" — {probe.Detail}"));
                foreach (var missing in probe.Missing)
                {
                    Console.WriteLine($"  missing: {missing}");
                }
            }
        }

        return probes.Values.Any(p => p.State is AuthProbe.CredentialsMissing or AuthProbe.OAuthRefreshExpired) ? 1 : 0;
    }

    private static (BrokerModel Model, UpstreamModel Upstream, OAuthModel OAuth)? Load(string? configOption, string name)
    {
        if (ConfigCommands.Load(configOption) is not { } model)
        {
            return null;
        }

        if (model.FindUpstream(name) is not { } upstream)
        {
            Console.Error.WriteLine($"mcp-broker: no upstream named '{name}'{DidYouMean.Hint(name, model.Upstreams.Select(u => u.Name))}; defined: {string.Join(", ", model.Upstreams.Select(u => u.Name))}");
            return null;
        }

        if (upstream.Remote?.OAuth is not { } oauth)
        {
            Console.Error.WriteLine(upstream.Remote is null
                ? $"mcp-broker: upstream '{name}' is a stdio upstream; OAuth is for transport: http or sse"
                : $"mcp-broker: upstream '{name}' has no oauth block; add 'oauth: {{}}' under upstreams.{name} to log in with OAuth");
            return null;
        }

        return (model, upstream, oauth);
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>Shows the authorization URL (and opens a browser where there is one), then waits for the redirect.</summary>
    private static async Task<AuthorizationResult?> WaitForRedirectAsync(HttpListener listener, AuthorizationCallbackContext context, string name, bool noBrowser, CancellationToken ct)
    {
        Console.WriteLine($"To log in to {name}, open this URL in a browser:");
        Console.WriteLine($"  {context.AuthorizationUri}");
        Console.WriteLine($"waiting for the redirect to {context.RedirectUri} …");
        if (!noBrowser)
        {
            OpenBrowser(context.AuthorizationUri);
        }

        using var registration = ct.Register(listener.Stop);
        while (true)
        {
            HttpListenerContext request;
            try
            {
                request = await listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException && ct.IsCancellationRequested)
            {
                throw new OperationCanceledException(ct);
            }

            var query = request.Request.QueryString;
            var error = query["error"];
            var code = query["code"];
            var page = error is not null ? $"Login failed: {WebUtility.HtmlEncode(error)}. You can close this tab."
                : code is not null ? "Logged in. You can close this tab and return to the terminal."
                : null;
            request.Response.StatusCode = page is null ? 404 : 200;
            request.Response.ContentType = "text/html; charset=utf-8";
            var body = System.Text.Encoding.UTF8.GetBytes($"<!doctype html><title>mcp-broker</title><p>{page ?? "Not the login redirect."}</p>");
            await request.Response.OutputStream.WriteAsync(body, ct);
            request.Response.Close();
            if (error is not null)
            {
                throw new InvalidOperationException($"the authorization server refused: {error} {query["error_description"]}".TrimEnd());
            }

            if (code is not null)
            {
                return new AuthorizationResult { Code = code, State = query["state"], Iss = query["iss"] };
            }
        }
    }

    private static void OpenBrowser(Uri url)
    {
        var opener = OperatingSystem.IsMacOS() ? "open"
            : OperatingSystem.IsWindows() ? "explorer"
            : Environment.GetEnvironmentVariable("DISPLAY") is { Length: > 0 } || Environment.GetEnvironmentVariable("WAYLAND_DISPLAY") is { Length: > 0 } ? "xdg-open"
            : null;
        if (opener is null)
        {
            return;
        }

        try
        {
            using var process = Process.Start(new ProcessStartInfo(opener, url.ToString()) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true });
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No browser opener: the printed URL is enough.
        }
    }
}
