namespace McpBroker.Sessions;

/// <summary>
/// The daemon's control requests (ping, reload, status, top, restart, approve, warm, stop): a hello line that names
/// one instead of a profile is answered by this and closed. Declared here, where the socket is read, and implemented
/// by the daemon, which owns what the requests act on.
/// </summary>
internal interface IControlRequests
{
    /// <summary>The one answer line to <paramref name="request"/> (its <see cref="HelloMessage.Control"/> is set).</summary>
    Task<WelcomeMessage> AnswerAsync(HelloMessage request, CancellationToken ct);

    /// <summary>Runs after the answer has been sent (a stop request stops the daemon only once its caller has the answer).</summary>
    void AfterAnswer(HelloMessage request);
}
