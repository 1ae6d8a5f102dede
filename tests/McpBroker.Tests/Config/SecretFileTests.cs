using McpBroker.Config;
using McpBroker.Upstreams;

namespace McpBroker.Tests.Config;

/// <summary>A secret file is read only when it is its owner's alone and holds a value; no error shows the value.</summary>
public sealed class SecretFileTests
{
    private static string Write(string content, UnixFileMode mode)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("mb-secret-").FullName, "token");
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Fact]
    public void Read_OfAnOwnerOnlyFile_IsItsValueWithoutTheTrailingNewline() =>
        Assert.Equal("s3cr3t-value", SecretFile.Read(Write("s3cr3t-value\r\n", UnixFileMode.UserRead | UnixFileMode.UserWrite), "env_files.TOKEN"));

    [Theory]
    [InlineData("s3cr3t-value", UnixFileMode.UserRead | UnixFileMode.GroupRead, "is readable by others; run chmod 600")]
    [InlineData("s3cr3t-value", UnixFileMode.UserRead | UnixFileMode.OtherWrite, "is readable by others; run chmod 600")]
    [InlineData("\n", UnixFileMode.UserRead, "is empty")]
    public void Read_OfAFileOthersMayReadOrAnEmptyOne_IsRefusedSayingWhy_WithoutTheValue(string content, UnixFileMode mode, string why)
    {
        var ex = Assert.Throws<SecretUnavailableException>(() => SecretFile.Read(Write(content, mode), "env_files.TOKEN"));

        Assert.StartsWith("env_files.TOKEN: secret file ", ex.Message);
        Assert.Contains(why, ex.Message);
        Assert.DoesNotContain("s3cr3t", ex.Message);
    }

    [Fact]
    public void Read_OfAMissingFile_SaysItDoesNotExist()
    {
        var ex = Assert.Throws<SecretUnavailableException>(() => SecretFile.Read("/nonexistent/mb/token", "env_files.TOKEN"));
        Assert.Equal("env_files.TOKEN: secret file /nonexistent/mb/token does not exist", ex.Message);
    }
}
