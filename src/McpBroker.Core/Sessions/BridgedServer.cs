using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace McpBroker.Sessions;

/// <summary>
/// The client's server object as the upstreams see it during a bridged call (<see cref="InputBridge"/>): a request to
/// the client (elicitation, sampling, roots) becomes a question of the call, answered by the client's retry; everything
/// else goes to the server of the client's latest request of the call. Its capabilities are the ones the client declared
/// with the request (2026-07-28 clients declare them per request, in <c>_meta</c>; over stateless HTTP the SDK's request
/// server reports none, as it cannot send requests itself).
/// </summary>
#pragma warning disable MCPEXP002 // a server facade, as the SDK's own OutgoingRequestInterceptingMcpServer
internal sealed class BridgedServer(McpServer request, ClientCapabilities? declared, BridgedCall call) : McpServer
#pragma warning restore MCPEXP002
{
    private McpServer _current = request;

    /// <summary>The client's retry: notifications of the call (progress, logs) now go on the retry's stream.</summary>
    public void Follow(McpServer retry) => Volatile.Write(ref _current, retry);

    private McpServer Current => Volatile.Read(ref _current);

    public override ClientCapabilities? ClientCapabilities => declared ?? Current.ClientCapabilities ?? new ClientCapabilities();

    public override Implementation? ClientInfo => Current.ClientInfo;

    public override McpServerOptions ServerOptions => Current.ServerOptions;

    public override IServiceProvider? Services => Current.Services;

    [Obsolete("Logging is deprecated from protocol 2026-07-28 (SEP-2577); passed through as the SDK's own facades do", DiagnosticId = "MCP9005")]
    public override LoggingLevel? LoggingLevel => Current.LoggingLevel;

    public override string? SessionId => Current.SessionId;

    public override string? NegotiatedProtocolVersion => Current.NegotiatedProtocolVersion;

    public override bool IsMrtrSupported => true;

    public override Task RunAsync(CancellationToken cancellationToken = default) => Current.RunAsync(cancellationToken);

    public override Task SendMessageAsync(JsonRpcMessage message, CancellationToken cancellationToken = default) =>
        Current.SendMessageAsync(message, cancellationToken);

    public override IAsyncDisposable RegisterNotificationHandler(string method, Func<JsonRpcNotification, CancellationToken, ValueTask> handler) =>
        Current.RegisterNotificationHandler(method, handler);

    public override async Task<JsonRpcResponse> SendRequestAsync(JsonRpcRequest request, CancellationToken cancellationToken = default) =>
        new() { Id = request.Id, Result = await call.AskAsync(request.Method, request.Params, cancellationToken) };

    /// <summary>Not the session's to end: the request servers it stands for belong to the SDK.</summary>
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
