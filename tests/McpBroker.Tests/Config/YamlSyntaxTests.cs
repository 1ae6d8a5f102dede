using McpBroker.Config;

namespace McpBroker.Tests.Config;

/// <summary>
/// A config that is not valid YAML: the error names the line that is wrong and its column (not the line YamlDotNet
/// stumbled on, nor line 1), quotes it with a caret, and says the fix — for the mistakes people make.
/// </summary>
public sealed class YamlSyntaxTests
{
    private const string Head = "schema_version: 1\n# upstreams the broker runs\nupstreams:\n  memory:\n";

    private static string Error(string yaml)
    {
        var result = ConfigLoader.Load(yaml, "/etc/broker.yaml", _ => null);
        Assert.Null(result.Model);
        var error = Assert.Single(result.Errors);
        Assert.Equal("", error.Path);
        return error.Message;
    }

    [Fact]
    public void Load_ATabUsedForIndentation_IsReportedOnItsLine_WithTheFix()
    {
        var message = Error(Head + "    command: npx\n\targs: [x]\n");

        Assert.StartsWith("not valid YAML at line 6, column 1: a tab is used for indentation; YAML indents with spaces only — replace the tab with spaces\n", message, StringComparison.Ordinal);
        Assert.EndsWith("\n  6 | →args: [x]\n    | ^", message, StringComparison.Ordinal);
        Assert.DoesNotContain("line 1,", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ATabAfterSpaces_IsReportedAtTheTab()
    {
        var message = Error(Head + "    command: npx\n  \t  args: [x]\n");

        Assert.StartsWith("not valid YAML at line 6, column 3: a tab is used for indentation", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ALineDedentedToNoLevel_IsReportedOnThatLine_WithTheLevelsItCouldTake()
    {
        var message = Error(Head + "    command: npx\n   args: [x]\n  other:\n    command: y\n");

        Assert.StartsWith("not valid YAML at line 6, column 4: this line is indented 3 space(s), which is no level of the lines above it; indent it like the entries it belongs with "
            + "(4 space(s) like 'command' on line 5, or 2 space(s) like 'memory' on line 4, or 0 space(s) like 'upstreams' on line 3)\n", message, StringComparison.Ordinal);
        Assert.EndsWith("\n  6 |    args: [x]\n    |    ^", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ALineDedentedToTheLevelAbove_IsReportedOnThatLine_NotOnTheNextOne()
    {
        // 'args' at 2 spaces is itself valid (an upstream named args); YamlDotNet stumbles on line 7.
        var message = Error(Head + "    command: npx\n  args: [x]\n    env: {}\n");

        Assert.StartsWith("not valid YAML at line 6, column 3: this line is indented 2 space(s), the lines before and after it 4; indent it 4 spaces like them", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ALineIndentedUnderAKeyThatHasItsValue_IsReportedOnThatLine()
    {
        var message = Error(Head + "    command: npx\n    args: [x]\n        env: {}\n");

        Assert.StartsWith("not valid YAML at line 7, column 9: this line is indented deeper (8 spaces) than 'args: [x]' above it, which already has its value", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_AListItemDedentedToNoLevel_IsReportedOnThatLine()
    {
        var message = Error(Head + "    command: npx\n    args:\n      - a\n     - b\n");

        Assert.StartsWith("not valid YAML at line 8, column 6: this line is indented 5 space(s), which is no level of the lines above it", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ALineIndentedDeeperThanItsKey_SaysItContinuesTheValueAbove()
    {
        var message = Error(Head + "    command: npx\n      args: [x]\n");

        Assert.StartsWith("not valid YAML at line 6, column 1: this line is indented deeper (6 spaces) than 'command: npx' above it, so it reads as the rest of that value; "
            + "indent it like the keys it belongs with (4 space(s) like 'command' on line 5", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    command npx\n    args: [x]\n", 5, "'command npx' has no colon: a key needs ': ' after it — write 'command: npx'")]
    [InlineData("    command: npx\n    args [x]\n", 6, "'args [x]' is not 'key: value': a colon and a space after the key are missing — write 'args: [x]'")]
    public void Load_AKeyWithoutItsColon_IsReportedOnItsLine_WithTheLineWritten(string body, int line, string what)
    {
        var message = Error(Head + body);

        Assert.StartsWith($"not valid YAML at line {line}, column 5: {what}\n", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData('"', "double")]
    [InlineData('\'', "single")]
    public void Load_AnUnclosedQuote_IsReportedWhereItOpens(char quote, string kind)
    {
        var message = Error(Head + $"    command: {quote}npx\n    args: [x]\n");

        Assert.StartsWith($"not valid YAML at line 5, column 14: the {kind}-quoted value that starts here is not closed; add the closing {quote} at its end (on this line)\n", message, StringComparison.Ordinal);
        Assert.EndsWith($"\n  5 |     command: {quote}npx\n    |              ^", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    args: [a, b\n    command: npx\n", 5, 11, '[', "']' at the end of its list")]
    [InlineData("    command: npx\n    args: [a, b\n", 6, 11, '[', "']' at the end of its list")]
    [InlineData("    env: { A: b\n  other: { command: y }\n", 5, 10, '{', "'}' at the end of its mapping")]
    public void Load_AnUnclosedBracket_IsReportedWhereItOpens(string body, int line, int column, char bracket, string fix)
    {
        var message = Error(Head + body);

        Assert.StartsWith($"not valid YAML at line {line}, column {column}: the '{bracket}' that starts here is not closed; add {fix}\n", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ValidYamlWithErrorsElsewhere_KeepsTheirPathPositions()
    {
        var result = ConfigLoader.Load(Head + "    comand: npx\n", "/etc/broker.yaml", _ => null);

        Assert.Contains(result.Errors, e => e.Message.EndsWith("(line 5, column 5)", StringComparison.Ordinal));
    }
}
