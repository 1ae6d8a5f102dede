using System.IO.Enumeration;

namespace McpBroker.Config;

/// <summary>Glob patterns in config (<c>*</c> any run of characters, <c>?</c> one), matched case-sensitively over whole names.</summary>
public static class Globs
{
    public static bool Match(string pattern, string name) =>
        FileSystemName.MatchesSimpleExpression(pattern, name, ignoreCase: false);

    public static bool Any(IEnumerable<string> patterns, string name) => patterns.Any(p => Match(p, name));
}
