namespace McpBroker.Config;

/// <summary>
/// A secret an upstream is configured with cannot be had (a host variable not set, a secret file missing, readable by
/// others or empty, an OAuth token that needs a login): the message says which and how to fix it, never the value.
/// The upstream's start reports it as its failure.
/// </summary>
internal sealed class SecretUnavailableException(string message) : Exception(message);
