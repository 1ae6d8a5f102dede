using System.Net;
using System.Net.Http.Json;
using McpBroker.Transports;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpBroker.Tests.Transports;

/// <summary>The request ids the HTTP handler notes: those of requests posted in a watched flow, nothing else.</summary>
public sealed class HttpCancellationTests
{
    [Fact]
    public async Task Handler_WatchedFlow_NotesTheLastRequestPostedAndIgnoresNotificationsAndOtherFlows()
    {
        using var invoker = new HttpMessageInvoker(new HttpCancellation.Handler(new Answering()));
        var unwatched = await Unwatched(invoker);

        var sent = HttpCancellation.Watch();
        Assert.Null(sent.Last);
        await PostAsync(invoker, new JsonRpcRequest { Id = new RequestId(7), Method = "tools/call" });
        await PostAsync(invoker, new JsonRpcNotification { Method = "notifications/progress" });
        Assert.Equal(new RequestId(7), sent.Last);
        await PostAsync(invoker, new JsonRpcRequest { Id = new RequestId("b"), Method = "tools/call" });
        Assert.Equal(new RequestId("b"), sent.Last);
        Assert.Null(unwatched.Last);

        // A flow watched anew starts empty; the one before keeps what it saw.
        var again = await Task.Run(HttpCancellation.Watch);
        Assert.Null(again.Last);
        Assert.Equal(new RequestId("b"), sent.Last);
    }

    /// <summary>Watches in its own flow, then posts from a flow that is not watched: the box sees nothing.</summary>
    private static async Task<HttpCancellation.Sent> Unwatched(HttpMessageInvoker invoker)
    {
        var sent = await Task.Run(HttpCancellation.Watch);
        await PostAsync(invoker, new JsonRpcRequest { Id = new RequestId(1), Method = "ping" });
        return sent;
    }

    private static async Task PostAsync(HttpMessageInvoker invoker, JsonRpcMessage message)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1/mcp")
        {
            Content = JsonContent.Create(message, options: McpJsonUtilities.DefaultOptions),
        };
        using var response = await invoker.SendAsync(request, CancellationToken.None);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    private sealed class Answering : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.Accepted));
    }
}
