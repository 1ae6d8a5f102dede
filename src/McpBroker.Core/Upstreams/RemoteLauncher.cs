using McpBroker.Auth;
using McpBroker.Config;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Client;

namespace McpBroker.Upstreams;

/// <summary>
/// Connects to an http or sse upstream: its headers' secrets resolved, OAuth tokens from <c>auth login</c> (the daemon
/// never logs in interactively), HTTP 429/5xx answers to the handshake retried with backoff, and a refused remembered
/// revision probed afresh on the same start. A failure is thrown as an <see cref="UpstreamStartException"/> whose
/// message says what to fix (secrets masked).
/// </summary>
internal sealed class RemoteLauncher(UpstreamModel model, UpstreamRevisions revisions, TimeProvider time, ILoggerFactory loggerFactory, ILogger logger)
{
    /// <summary>One started instance, its client built with <paramref name="options"/> for the revision to offer (null: negotiate).</summary>
    public async Task<UpstreamInstance> LaunchAsync(Func<string?, McpClientOptions> options, CancellationToken ct)
    {
        await Task.Yield();
        var remote = model.Remote!;
        using var startTimeout = new CancellationTokenSource(model.StartTimeout, time);
        using var startCts = CancellationTokenSource.CreateLinkedTokenSource(ct, startTimeout.Token);
        try
        {
            var resolved = SecretFile.ResolveAll(model);
            UpstreamSupervisor.Log.Connecting(logger, model.Name, remote.DisplayUrl);
            var oauth = OAuthOptions(remote);
            var revision = revisions.RememberedSessionRevision();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var transport = RemoteConnection.CreateTransport(model, remote, resolved, oauth, loggerFactory);
                    var client = await McpClient.CreateAsync(transport, options(revision), loggerFactory, startCts.Token);
                    return new UpstreamInstance(client, null, remote.DisplayUrl);
                }
                catch (Exception ex) when (revision is not null && UpstreamRevisions.Refused(ex))
                {
                    revision = revisions.Reprobe(revision);
                }
                catch (Exception ex) when (RemoteFailure.StatusCode(ex) is { } status && RemoteFailure.Retryable(status) && attempt <= RemoteFailure.Retries)
                {
                    // Overloaded or restarting: a connection is as safe to retry as tools/list.
                    UpstreamSupervisor.Log.Retrying(logger, model.Name, (int)status, attempt);
                    await Task.Delay(RemoteFailure.Backoff(attempt), time, startCts.Token);
                }
            }
        }
        catch (Exception ex)
        {
            var reason = ex switch
            {
                OperationCanceledException when ct.IsCancellationRequested => "the daemon is stopping",
                OperationCanceledException or TimeoutException when startCts.IsCancellationRequested || ex is TimeoutException =>
                    $"no answer to initialize from {remote.DisplayUrl} within {new Duration(model.StartTimeout)}",
                OperationCanceledException => $"the connection to {remote.DisplayUrl} ended during initialize (a server that forgets the session at once does this)",
                _ when UpstreamRevisions.Unspoken(ex) is { } why => why,
                _ => RemoteFailure.Explain(ex, model),
            };
            reason = SecretMask.Mask(reason);
            UpstreamSupervisor.Log.StartFailed(logger, model.Name, ex.GetType().Name);
            throw new UpstreamStartException(reason);
        }
    }

    /// <summary>The daemon never logs in interactively: without stored tokens it says to run auth login.</summary>
    private ModelContextProtocol.Authentication.ClientOAuthOptions? OAuthOptions(RemoteModel remote)
    {
        if (remote.OAuth is not { } oauth)
        {
            return null;
        }

        if (!File.Exists(oauth.TokenFile))
        {
            throw new UpstreamStartException($"no OAuth tokens for upstream '{model.Name}'; run: mcp-broker auth login {model.Name}");
        }

        return OAuthSupport.DaemonOptions(model, oauth, time);
    }
}
