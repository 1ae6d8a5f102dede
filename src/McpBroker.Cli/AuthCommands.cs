using System.CommandLine;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.Json;
using McpBroker.Auth;
using McpBroker.Config;
using McpBroker.Daemon;
using McpBroker.Upstreams;
using ModelContextProtocol;
using ModelContextProtocol.Authentication;
using ModelContextProtocol.Client;

namespace McpBroker.Cli;

/// <summary>
/// <c>mcp-broker auth login|logout|status</c>: OAuth for http/sse upstreams. Login runs the authorization code flow
/// with PKCE through the SDK's OAuth client (discovery, dynamic registration, token exchange), with the redirect
/// received on a loopback listener; the tokens land in the upstream's token file (0600), which the daemon reads.
/// </summary>
internal sealed partial class AuthCommands(TextWriter output, TextWriter error)
{
    /// <summary><c>auth login|logout|status</c>.</summary>
    public static Command Create(Option<string?> config)
    {
        var loginName = new Argument<string>("UPSTREAM") { Description = "An http/sse upstream with an oauth block" };
        var noBrowser = new Option<bool>("--no-browser") { Description = "Only print the authorization URL" };
        var timeout = new Option<string>("--timeout") { Description = "How long to wait for the redirect", HelpName = "DURATION", DefaultValueFactory = _ => "5m" };
        var login = new Command("login", "Log in to an upstream with OAuth and store its tokens") { loginName, noBrowser, timeout };
        login.SetAction((r, ct) => Duration.TryParse(r.GetValue(timeout)!, out var t)
            ? new AuthCommands(r.Output(), r.Error()).LoginAsync(r.GetValue(config), r.GetValue(loginName)!, r.GetValue(noBrowser), t.Value, ct)
            : Task.FromResult(r.Usage($"--timeout '{r.GetValue(timeout)}' is not a duration such as 90s or 5m")));

        var logoutName = new Argument<string>("UPSTREAM") { Description = "An http/sse upstream with an oauth block" };
        var logout = new Command("logout", "Revoke an upstream's OAuth tokens and remove them here") { logoutName };
        logout.SetAction((r, ct) => new AuthCommands(r.Output(), r.Error()).LogoutAsync(r.GetValue(config), r.GetValue(logoutName)!, ct));

        var json = CommonOptions.Json();
        var status = new Command("status", "Check every upstream's credentials without a network call") { json };
        status.SetAction(r => new AuthCommands(r.Output(), r.Error()).Status(r.GetValue(config), r.GetValue(json)));

        return new Command("auth", "Log in to, log out of and check remote upstreams") { login, logout, status };
    }

    public async Task<int> LoginAsync(string? configOption, string name, bool noBrowser, TimeSpan timeout, CancellationToken ct)
    {
        if (Load(configOption, name) is not var (model, upstream, oauth))
        {
            return ExitCodes.Failure;
        }

        model.Runtime.EnsureCreated();
        OAuthTokenStore.PrivateDirectory(Path.GetDirectoryName(oauth.TokenFile)!);

        // A client registered by an earlier login is used again (same client, same redirect URI) while it is valid;
        // when the server no longer knows it, the login registers anew, once.
        var registration = oauth.ClientId is null && OAuthRegistration.Read(oauth.TokenFile) is { } stored && stored.ValidFor(upstream.Remote!.Url, DateTimeOffset.UtcNow)
            ? stored
            : null;
        while (true)
        {
            var outcome = await LoginOnceAsync(model, upstream, oauth, registration, noBrowser, timeout, ct);
            if (outcome != LoginOutcome.RegistrationRefused)
            {
                return outcome == LoginOutcome.LoggedIn ? ExitCodes.Ok : ExitCodes.Failure;
            }

            output.WriteLine("the authorization server no longer knows the client registered at the last login; registering anew");
            OAuthRegistration.Delete(oauth.TokenFile);
            registration = null;
        }
    }

    private enum LoginOutcome
    {
        LoggedIn,
        Failed,
        RegistrationRefused,
    }

    private async Task<LoginOutcome> LoginOnceAsync(BrokerModel model, UpstreamModel upstream, OAuthModel oauth, OAuthRegistration? registration,
        bool noBrowser, TimeSpan timeout, CancellationToken ct)
    {
        var name = upstream.Name;

        // The login fills a file of its own, moved over the stored tokens only when it succeeded: until then the
        // daemon keeps using the old ones, and a failed or interrupted login loses nothing.
        var store = new OAuthTokenStore(oauth.TokenFile);
        var fresh = new OAuthTokenStore(oauth.TokenFile + ".login");
        fresh.Delete();
        var port = oauth.RedirectPort ?? (registration is not null && PortFree(registration.RedirectUri.Port) ? registration.RedirectUri.Port : FreePort());
        if (registration is not null && registration.RedirectUri.Port != port)
        {
            // Its redirect URI's port is taken (or redirect_port says otherwise): a server comparing redirect URIs
            // exactly would refuse it with another port, so register a client for this one.
            registration = null;
        }

        var redirect = new Uri($"http://127.0.0.1:{port}/callback");
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/callback/");
        try
        {
            listener.Start();
        }
        catch (HttpListenerException ex)
        {
            error.WriteLine($"mcp-broker: cannot listen on {redirect} for the login redirect: {ex.Message}; set upstreams.{name}.oauth.redirect_port to a free port");
            return LoginOutcome.Failed;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var browser = new BrowserPage();
        TokenEndpointFailure? exchangeFailure = null;
        DynamicClientRegistrationResponse? registered = null;
        using var http = RemoteConnection.ForCredential(OAuthCredential.For(fresh.Path), (grant, failure) =>
        {
            if (grant == "authorization_code" && failure is not null)
            {
                // The SDK's initialize would wait for its time limit after a failed exchange: stop the login now.
                exchangeFailure = failure;
                cts.Cancel();
            }
        });
        try
        {
            var secrets = SecretFile.ResolveAll(upstream);
            var cache = registration?.Seed(fresh) ?? fresh;
            var options = OAuthSupport.Options(upstream, oauth with { TokenFile = fresh.Path }, redirect,
                (context, token) => WaitForRedirectAsync(listener, context, browser, registration is not null, name, noBrowser, token), cache,
                (response, _) =>
                {
                    registered = response;
                    return Task.CompletedTask;
                });
            var transport = RemoteConnection.CreateTransport(upstream, upstream.Remote!, secrets, options, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, http);
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
            if (fresh.Read() is not { } tokens)
            {
                throw new InvalidOperationException($"{upstream.Remote!.DisplayUrl} answered without asking for OAuth, so there are no tokens to store; the oauth block may not be needed");
            }

            File.Move(fresh.Path, store.Path, overwrite: true);
            await browser.AnswerAsync(200, $"Logged in to {name}. You can close this tab and return to the terminal.");
            if (oauth.ClientId is null && tokens is { ClientId: { } clientId, AuthorizationServer: { } issuer } && registration?.ClientId != clientId)
            {
                new OAuthRegistration
                {
                    ClientId = clientId,
                    ClientSecret = tokens.ClientSecret,
                    ClientSecretExpiresAt = registered?.ClientSecretExpiresAt,
                    TokenEndpointAuthMethod = tokens.TokenEndpointAuthMethod,
                    AuthorizationServer = issuer,
                    RedirectUri = redirect,
                    Server = upstream.Remote!.Url,
                    RegisteredAt = DateTimeOffset.UtcNow,
                }.Write(oauth.TokenFile);
            }

            output.WriteLine($"logged in to {name}: {tools.Count} tool(s); " + (tokens.ExpiresAt is { } at
                ? $"the access token is valid until {at:yyyy-MM-dd HH:mm:ss} UTC" + (tokens.RefreshToken is { Length: > 0 } ? " and is refreshed before it expires" : " (no refresh token: log in again then)")
                : "the access token has no expiry"));
            output.WriteLine($"tokens stored in {store.Path} (0600)" + (registration is not null ? $"; client {registration.ClientId} (registered {registration.RegisteredAt:yyyy-MM-dd}) used again" : ""));

            // A running daemon reconnects with the new tokens at once, and a circuit opened by calls that failed
            // before the login no longer holds requests back.
            var daemon = await DaemonClient.ControlAsync(model.Runtime.SocketPath, "restart", TimeSpan.FromSeconds(10), name);
            output.WriteLine(daemon is { Ok: true }
                ? $"the running daemon uses them from the next request to {name}"
                : "the daemon uses them on its next connection");
            return LoginOutcome.LoggedIn;
        }
        catch (Exception ex)
        {
            fresh.Delete();
            if (ex is RegistrationRefusedException)
            {
                return LoginOutcome.RegistrationRefused;
            }

            var why = ex switch
            {
                _ when exchangeFailure is { } failure => ExplainExchange(failure, upstream, oauth, registration),
                AuthorizationRefusedException refused => refused.Message,
                OperationCanceledException when !ct.IsCancellationRequested =>
                    $"no redirect arrived within {new Duration(timeout)}" + (browser.Seen ? "" : RedirectHint(upstream, oauth, redirect)),
                OperationCanceledException => "cancelled",
                McpException when ex.Message.Contains("does not support dynamic client registration", StringComparison.Ordinal) =>
                    $"the authorization server of {upstream.Remote!.DisplayUrl} offers no dynamic client registration, so the broker cannot register itself: " +
                    $"register a client there with the redirect URI {redirect}, then set upstreams.{name}.oauth.client_id, " +
                    $"oauth.client_secret_file (a file holding the secret, if the server gave one) and oauth.redirect_port: {port}",
                _ => RemoteFailure.Explain(ex, upstream),
            };
            await browser.AnswerAsync(400, $"Login to {name} failed: {why}");
            if (exchangeFailure?.Error == "invalid_client" && registration is not null)
            {
                OAuthRegistration.Delete(oauth.TokenFile);
                why += "; the stored client registration was dropped, so the next login registers anew";
            }

            error.WriteLine($"mcp-broker: login to {name} failed: {why}" + (File.Exists(store.Path) ? "; the stored tokens are unchanged" : ""));
            return LoginOutcome.Failed;
        }
    }

    /// <summary>The token endpoint refused the authorization code: what that means and what to change.</summary>
    private static string ExplainExchange(TokenEndpointFailure failure, UpstreamModel upstream, OAuthModel oauth, OAuthRegistration? registration)
    {
        var name = upstream.Name;
        return failure switch
        {
            { Unavailable: true } =>
                $"the authorization server is unavailable: its token endpoint answered {failure.Describe()}; try again later",
            { Error: "invalid_client" } when oauth.ClientSecretFile is { } file =>
                $"the authorization server refused the client ({failure.Describe()}): check that {file} (upstreams.{name}.oauth.client_secret_file) holds the current secret of client_id {oauth.ClientId}",
            { Error: "invalid_client" } when oauth.ClientId is { } id =>
                $"the authorization server refused the client ({failure.Describe()}): client_id {id} needs its secret; put it in a file (0600) and set upstreams.{name}.oauth.client_secret_file",
            { Error: "invalid_client" } =>
                $"the authorization server refused the client ({failure.Describe()})" + (registration is null ? "" : $" registered at an earlier login ({registration.ClientId})"),
            _ => $"the authorization server refused the authorization code ({failure.Describe()})",
        };
    }

    private string RedirectHint(UpstreamModel upstream, OAuthModel oauth, Uri redirect) =>
        $" (the browser never came back to {redirect}: if the server showed an error about the redirect URI, it compares redirect URIs exactly; " +
        (oauth.ClientId is null
            ? $"set upstreams.{upstream.Name}.oauth.redirect_port to a fixed port"
            : $"set upstreams.{upstream.Name}.oauth.redirect_port to the port of the redirect URI registered for client_id {oauth.ClientId}") + ")";

    public async Task<int> LogoutAsync(string? configOption, string name, CancellationToken ct)
    {
        if (Load(configOption, name) is not var (model, _, oauth))
        {
            return ExitCodes.Failure;
        }

        var store = new OAuthTokenStore(oauth.TokenFile);
        if (store.SafeRead() is not { } tokens)
        {
            var removed = store.Delete();
            output.WriteLine(removed ? $"removed the unreadable token file of {name} ({oauth.TokenFile})" : $"{name} has no stored OAuth tokens");
            return ExitCodes.Ok;
        }

        // Revoked at the server first (RFC 7009), so the tokens stop working there too, then removed here whatever
        // the server said: a logout never leaves tokens behind on this machine.
        string revoked;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(15));
            var outcome = await OAuthRevocation.RevokeAsync(tokens, RemoteConnection.ForCredential(OAuthCredential.For(oauth.TokenFile)), cts.Token);
            revoked = outcome.Message;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException)
        {
            revoked = $"the server could not be asked to revoke them ({(ex is OperationCanceledException ? "no answer within 15 s" : ex.Message)})";
        }

        store.Delete();
        output.WriteLine($"removed the OAuth tokens of {name} ({oauth.TokenFile}); {revoked}");
        output.WriteLine($"requests to {name} fail until 'mcp-broker auth login {name}'");
        await DaemonClient.ControlAsync(model.Runtime.SocketPath, "restart", TimeSpan.FromSeconds(10), name);
        return ExitCodes.Ok;
    }

    /// <summary>The passive probe of every upstream's credentials: no network, no daemon needed.</summary>
    public int Status(string? configOption, bool json)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return ExitCodes.Failure;
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

            output.WriteLine(doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            foreach (var (upstream, probe) in probes)
            {
                output.WriteLine($"{upstream}: {probe.State}" + (probe.Detail is null ? "" : $" — {probe.Detail}"));
                foreach (var missing in probe.Missing)
                {
                    output.WriteLine($"  missing: {missing}");
                }
            }
        }

        return probes.Values.Any(p => p.IsProblem) ? ExitCodes.Failure : ExitCodes.Ok;
    }

    private (BrokerModel Model, UpstreamModel Upstream, OAuthModel OAuth)? Load(string? configOption, string name)
    {
        if (CommandConfig.Load(configOption, error) is not { } model)
        {
            return null;
        }

        if (model.FindUpstream(name) is not { } upstream)
        {
            error.WriteLine($"mcp-broker: no upstream named '{name}'{DidYouMean.Hint(name, model.Upstreams.Select(u => u.Name))}; defined: {string.Join(", ", model.Upstreams.Select(u => u.Name))}");
            return null;
        }

        if (upstream.Remote?.OAuth is not { } oauth)
        {
            error.WriteLine(upstream.Remote is null
                ? $"mcp-broker: upstream '{name}' is a stdio upstream; OAuth is for transport: http or sse"
                : $"mcp-broker: upstream '{name}' has no oauth block; add 'oauth: {{}}' under upstreams.{name} to log in with OAuth");
            return null;
        }

        return (model, upstream, oauth);
    }
}
