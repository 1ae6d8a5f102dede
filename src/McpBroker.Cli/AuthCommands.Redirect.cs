using System.Diagnostics;
using System.Net.Sockets;
using System.Net;
using McpBroker.Auth;
using ModelContextProtocol.Authentication;

namespace McpBroker.Cli;

/// <summary>
/// The login's browser side: the loopback port the redirect comes to, a preflight of the authorization URL, the
/// browser opened, and the wait for the redirect that carries this login's state.
/// </summary>
internal sealed partial class AuthCommands
{
    private static bool PortFree(int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>
    /// Checks the authorization URL the way the browser will load it (a server that refuses it answers the browser with
    /// an error page, and no redirect would ever come), shows it (and opens a browser where there is one), then waits
    /// for the redirect that carries this login's state. The browser's page is answered only when the login is done.
    /// </summary>
    private async Task<AuthorizationResult?> WaitForRedirectAsync(HttpListener listener, AuthorizationCallbackContext context, BrowserPage page,
        bool reusedRegistration, string name, bool noBrowser, CancellationToken ct)
    {
        await PreflightAsync(context.AuthorizationUri, context.RedirectUri, reusedRegistration, name, ct);
        output.WriteLine($"To log in to {name}, open this URL in a browser:");
        output.WriteLine($"  {context.AuthorizationUri}");
        output.WriteLine($"waiting for the redirect to {context.RedirectUri} …");
        if (!noBrowser)
        {
            OpenBrowser(context.AuthorizationUri);
        }

        var expectedState = System.Web.HttpUtility.ParseQueryString(context.AuthorizationUri.Query)["state"];
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
            var refused = query["error"];
            var code = query["code"];
            if (refused is null && code is null)
            {
                await BrowserPage.WriteAsync(request, 404, "Not the login redirect.");
                continue;
            }

            if (query["state"] != expectedState)
            {
                // Not this login's redirect (an old tab, another login, a forged link): the login keeps waiting.
                await BrowserPage.WriteAsync(request, 400, "This redirect does not belong to the pending login (its state does not match); the login is still waiting for its own.");
                continue;
            }

            page.Seen = true;
            if (refused is not null)
            {
                await BrowserPage.WriteAsync(request, 200, $"Login to {name} failed: {refused}. You can close this tab.");
                throw new AuthorizationRefusedException($"the authorization server refused: {refused} {query["error_description"]}".TrimEnd());
            }

            page.Hold(request);
            return new AuthorizationResult { Code = code, State = query["state"], Iss = query["iss"] };
        }
    }

    /// <summary>
    /// A GET of the authorization URL without following redirects. A 400 is the error page the browser would show
    /// (an unknown client, a redirect URI the server does not accept): the login ends at once saying what to change.
    /// </summary>
    private static async Task PreflightAsync(Uri authorization, Uri redirect, bool reusedRegistration, string name, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, authorization);
        HttpResponseMessage response;
        try
        {
            using var handler = new HttpClientHandler { AllowAutoRedirect = false };
            using var probe = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(15) };
            response = await probe.SendAsync(request, ct);
        }
        catch (HttpRequestException)
        {
            return; // The browser may still get there (a proxy, a VPN only it uses).
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return;
        }

        using (response)
        {
            if (response.StatusCode != HttpStatusCode.BadRequest)
            {
                // Only a 400 is the refusal RFC 6749 §4.1.2.1 describes; a sign-in page may come with other codes.
                return;
            }

            var failure = await TokenEndpointFailure.ReadAsync(response, "authorize", DateTimeOffset.UtcNow, ct);
            var what = $"{failure.Error} {failure.Description}";
            if (what.Contains("client", StringComparison.OrdinalIgnoreCase) && !what.Contains("redirect", StringComparison.OrdinalIgnoreCase)
                && reusedRegistration)
            {
                throw new RegistrationRefusedException();
            }

            throw new AuthorizationRefusedException($"the authorization server refused the authorization request ({failure.Describe()})" +
                (what.Contains("redirect", StringComparison.OrdinalIgnoreCase)
                    ? $"; this login used the redirect URI {redirect}: if the client was registered with another one, set upstreams.{name}.oauth.redirect_port to its port (the server compares redirect URIs exactly)"
                    : what.Contains("client", StringComparison.OrdinalIgnoreCase)
                        ? $"; check upstreams.{name}.oauth.client_id"
                        : ""));
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

    /// <summary>The browser tab of the login: its redirect is answered once the tokens are in (or the login failed).</summary>
    private sealed class BrowserPage
    {
        private HttpListenerContext? _held;

        public bool Seen { get; set; }

        public void Hold(HttpListenerContext request) => _held = request;

        public async Task AnswerAsync(int status, string text)
        {
            if (Interlocked.Exchange(ref _held, null) is { } request)
            {
                await WriteAsync(request, status, text);
            }
        }

        public static async Task WriteAsync(HttpListenerContext request, int status, string text)
        {
            try
            {
                request.Response.StatusCode = status;
                request.Response.ContentType = "text/html; charset=utf-8";
                var body = System.Text.Encoding.UTF8.GetBytes($"<!doctype html><title>mcp-broker</title><p>{WebUtility.HtmlEncode(text)}</p>");
                await request.Response.OutputStream.WriteAsync(body);
                request.Response.Close();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
            {
                // The tab was closed: the terminal says what happened anyway.
            }
        }
    }

    private sealed class AuthorizationRefusedException(string message) : Exception(message);

    private sealed class RegistrationRefusedException() : Exception("the stored client registration was refused");
}
