using System.Collections.Frozen;

namespace McpBroker.Catalog;

/// <summary>Query expansion: each word of a request reaches the words its synonym groups hold, at a lower weight.</summary>
internal sealed partial class SearchIndex
{
    // Groups of words that name the same action or thing in tool names, descriptions and requests. Generic
    // vocabulary of tools, not of any one server: a query word reaches every other word of its groups.
    private static readonly FrozenDictionary<string, string[]> s_synonyms = BuildSynonyms(
    [
        ["find", "search", "query", "lookup", "look", "list", "get", "fetch", "read", "retrieve", "show", "view", "see"],
        ["read", "open", "view", "load"],
        ["create", "add", "new", "insert", "make", "open", "post", "start", "leave"],
        ["create", "add", "write", "store", "save", "remember", "record", "keep"],
        ["delete", "remove", "drop", "erase", "forget", "clear", "destroy", "uninstall"],
        ["update", "edit", "modify", "change", "set", "patch", "replace", "rename", "close"],
        ["file", "document", "doc", "path", "content"],
        ["directory", "folder", "dir"],
        ["issue", "ticket", "bug"],
        ["repository", "repo", "project"],
        ["pull", "pr"],
        ["merge", "mr"],
        ["copy", "fork", "clone", "duplicate"],
        ["commit", "push", "history"],
        ["comment", "reply", "answer", "respond", "note"],
        ["message", "chat", "say", "send", "post"],
        ["review", "approve"],
        ["status", "check", "checks", "ci", "pass", "fail"],
        ["user", "users", "account", "member", "people", "team", "who"],
        ["memory", "remember", "knowledge", "recall", "graph"],
        ["entity", "person", "thing", "object", "node"],
        ["relation", "relationship", "link", "connection", "edge", "manage", "report"],
        ["observation", "fact", "detail"],
        ["run", "execute", "invoke", "call", "command", "shell"],
        ["sum", "add", "total", "plus", "number"],
        ["echo", "repeat", "back"],
        ["image", "photo", "picture", "media", "screenshot", "png", "jpg"],
        ["screenshot", "capture", "snapshot"],
        ["navigate", "go", "visit", "url", "browse", "page"],
        ["click", "press", "tap", "button"],
        ["type", "fill", "enter", "input", "form"],
        ["select", "choose", "option", "dropdown"],
        ["dialog", "popup", "alert", "confirm", "prompt", "accept", "dismiss"],
        ["console", "log", "logs", "error"],
        ["network", "request", "requests", "api"],
        ["hover", "mouse"],
        ["wait", "until", "appear"],
        ["javascript", "script", "evaluate", "code", "js"],
        ["resize", "size", "window", "viewport"],
        ["direction", "route", "drive", "travel", "way"],
        ["distance", "travel", "time", "far", "long"],
        ["geocode", "coordinate", "latitude", "longitude", "location"],
        ["address", "reverse"],
        ["elevation", "altitude", "height", "high", "sea"],
        ["place", "restaurant", "cafe", "shop", "business", "near", "nearby", "local"],
        ["detail", "hour", "rating", "review", "describe", "info", "information", "event"],
        ["web", "internet", "online", "news"],
        ["extract", "text", "article", "content", "scrape"],
        ["crawl", "site", "website", "map", "page"],
        ["research", "report", "deep", "investigate"],
        ["documentation", "docs", "library", "api", "reference"],
        ["database", "sql", "table", "row", "query", "order"],
        ["pod", "container", "deployment", "namespace", "cluster", "kubernetes", "k8s"],
        ["scale", "replica", "replicas"],
        ["rollback", "rollout", "undo", "revert", "back"],
        ["context", "cluster", "switch"],
        ["port", "forward", "tunnel"],
        ["block", "children", "append"],
        ["markdown", "md", "text"],
        ["move", "rename", "relocate"],
        ["info", "metadata", "modified", "size", "stat"],
        ["tree", "structure", "hierarchy"],
        ["allowed", "permitted", "access", "touch"],
        ["reaction", "emoji", "react", "thumb"],
        ["thread", "reply", "replies", "conversation"],
        ["channel", "room"],
        ["think", "reason", "step", "plan"],
        ["environment", "env", "variable"],
        ["progress", "long", "running", "operation", "task"],
        ["multiple", "several", "many", "three", "two"],
    ]);

    /// <summary>
    /// Each query word with weight 1, and its synonyms with a lower weight (a synonym never outranks the word itself),
    /// each tagged with the index of the word it stands for.
    /// </summary>
    private List<(string Term, double Weight, int Word)> Expand(List<string> words)
    {
        var synonymWeight = _tuning.SynonymWeight;
        var expanded = new Dictionary<string, (double Weight, int Word)>(StringComparer.Ordinal);
        for (var i = 0; i < words.Count; i++)
        {
            expanded[words[i]] = (1, i);
        }

        for (var i = 0; i < words.Count; i++)
        {
            foreach (var synonym in s_synonyms.GetValueOrDefault(words[i]) ?? [])
            {
                expanded.TryAdd(synonym, (synonymWeight, i));
            }
        }

        return [.. expanded.Select(e => (e.Key, e.Value.Weight, e.Value.Word))];
    }

    private static FrozenDictionary<string, string[]> BuildSynonyms(string[][] groups)
    {
        var map = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var group in groups)
        {
            var stems = group.Select(TextTokens.Stem).ToArray();
            foreach (var word in stems)
            {
                if (!map.TryGetValue(word, out var set))
                {
                    map[word] = set = [];
                }

                set.UnionWith(stems.Where(s => s != word));
            }
        }

        return map.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal);
    }
}
