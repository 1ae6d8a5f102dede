using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace McpBroker.Tests.Support;

/// <summary>What the browser ended on after an authorization URL: the HTTP status of the last page and its text.</summary>
internal sealed record BrowserPage(int Status, string Text);

/// <summary>
/// <c>mcp-broker auth login</c> as a person runs it: the CLI prints the authorization URL, a browser opens it, the
/// person signs in, the server redirects to the CLI's loopback listener. The browser is one of <see cref="Http"/> (an
/// HttpClient that follows redirects and submits a sign-in form) or <see cref="ChromiumAsync"/> (headless Chromium).
/// </summary>
internal static partial class OAuthLogin
{
    public sealed record Result(int ExitCode, string Output, IReadOnlyList<BrowserPage> Pages, TimeSpan Elapsed);

    /// <summary>Runs the login of <paramref name="upstream"/> and hands each authorization URL it prints to <paramref name="browse"/>.</summary>
    public static async Task<Result> RunAsync(BrokerEnvironment env, string upstream, Func<Uri, Task<BrowserPage>> browse, string timeout = "60s")
    {
        var start = new ProcessStartInfo(Repo.Cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "auth", "login", upstream, "--no-browser", "--timeout", timeout, "--config", env.ConfigPath })
        {
            start.ArgumentList.Add(arg);
        }

        env.ApplyEnvironment(start);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var output = new System.Text.StringBuilder();
        var pages = new List<BrowserPage>();
        while (await process.StandardOutput.ReadLineAsync().WaitAsync(Wait.Timeout) is { } line)
        {
            output.AppendLine(line);
            if (line.StartsWith("  http", StringComparison.Ordinal))
            {
                pages.Add(await browse(new Uri(line.Trim())));
            }
        }

        await process.WaitForExitAsync().WaitAsync(Wait.Timeout);
        return new Result(process.ExitCode, output + await stderr, pages, clock.Elapsed);
    }

    /// <summary>An HttpClient as the browser: follows redirects, and submits the test server's sign-in form when it shows one.</summary>
    public static async Task<BrowserPage> Http(Uri authorization)
    {
        using var browser = new HttpClient();
        using var page = await browser.GetAsync(authorization);
        var text = await page.Content.ReadAsStringAsync();
        if (PendingField().Match(text) is not { Success: true } pending)
        {
            return new BrowserPage((int)page.StatusCode, text);
        }

        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["pending"] = pending.Groups[1].Value, ["user"] = "tester" });
        using var redirected = await browser.PostAsync(new Uri(authorization, "/login"), form);
        return new BrowserPage((int)redirected.StatusCode, WebUtility.HtmlDecode(await redirected.Content.ReadAsStringAsync()));
    }

    /// <summary>Headless Chromium signs in on the server's page (tests/browser/oauth-login.mjs) and ends on the broker's redirect page.</summary>
    public static async Task<BrowserPage> ChromiumAsync(Uri authorization)
    {
        await Browser.EnsureInstalledAsync();
        var start = new ProcessStartInfo("node") { WorkingDirectory = Browser.Dir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(Browser.Dir, "oauth-login.mjs"));
        start.ArgumentList.Add(authorization.ToString());
        start.Environment["CHROMIUM_PATH"] = Browser.ChromiumPath;
        using var node = Process.Start(start)!;
        var stderr = node.StandardError.ReadToEndAsync();
        var stdout = await node.StandardOutput.ReadToEndAsync().WaitAsync(Wait.Timeout);
        await node.WaitForExitAsync();
        Assert.True(node.ExitCode == 0, $"oauth-login.mjs exited {node.ExitCode}: {stdout}{await stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.TrimEntries);
        var status = lines.LastOrDefault(l => l.StartsWith("CALLBACK ", StringComparison.Ordinal)) ?? lines.First(l => l.StartsWith("AUTHORIZE ", StringComparison.Ordinal));
        var text = lines.FirstOrDefault(l => l.StartsWith("PAGE ", StringComparison.Ordinal))?["PAGE ".Length..] ?? "";
        return new BrowserPage(int.Parse(status.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), text);
    }

    [GeneratedRegex("name=\"pending\" value=\"([^\"]+)\"")]
    private static partial Regex PendingField();
}
