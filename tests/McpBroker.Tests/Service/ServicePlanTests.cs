using System.Diagnostics;
using System.Xml.Linq;
using McpBroker.Service;
using McpBroker.Tests.Support;

namespace McpBroker.Tests.Service;

/// <summary>The service definitions: golden files per platform, read back the way each platform reads them.</summary>
public sealed class ServicePlanTests : IDisposable
{
    // Paths with a space, '%', '$', '&' and a quote: every platform's escaping is exercised.
    private static readonly ServiceContext s_context = new(
        "/opt/mcp broker/bin/mcp-broker", [], "/home/ann/.config/mcp-broker/broker 100%$&'.yaml", "/home/ann/mcp/mcp-broker",
        "/home/ann/.config/systemd/user", "/home/ann/.local/bin:/usr/bin:/bin", 1000, "ann");

    private static readonly ServiceContext s_windows = s_context with
    {
        Executable = @"C:\Users\ann\.dotnet\tools\mcp-broker.exe",
        ConfigPath = @"C:\Users\ann\My Config\broker ""1"".yaml",
        RuntimeRoot = @"C:\Users\ann\mcp\mcp-broker",
        UnitDirectory = @"C:\Users\ann\AppData\Local\mcp-broker\service",
        UserName = @"PC\ann",
    };

    private readonly string _dir = Directory.CreateTempSubdirectory("mb-svc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(ServicePlatform.Systemd, false, "systemd")]
    [InlineData(ServicePlatform.Systemd, true, "systemd-socket")]
    [InlineData(ServicePlatform.Launchd, false, "launchd")]
    [InlineData(ServicePlatform.Windows, false, "windows")]
    public void EveryPlatformsInstallPlan_MatchesItsGoldenFiles(ServicePlatform platform, bool socketActivation, string golden)
    {
        var context = platform switch
        {
            ServicePlatform.Launchd => s_context with { UnitDirectory = "/Users/ann/Library/LaunchAgents", RuntimeRoot = "/Users/ann/mcp/mcp-broker" },
            ServicePlatform.Windows => s_windows,
            _ => s_context,
        };
        var plan = ServiceDefinitions.Plan(platform, ServiceAction.Install, context, socketActivation);
        var text = string.Join("", plan.Prepare.Select(c => $"=== first run ({c.Purpose})\n{c}\n"))
            + string.Join("", plan.Files.Select(f => $"=== {f.Path} ({f.Purpose})\n{f.Content}"))
            + string.Join("", plan.Commands.Select(c => $"=== run ({c.Purpose})\n{c}\n"));
        Golden.AssertMatches($"service/{golden}.txt", text);
    }

    [Fact]
    public void SystemdUnits_PassSystemdAnalyzeVerify()
    {
        // Rendered for real paths (verify checks that ExecStart can run), into a folder of their own.
        var context = s_context with
        {
            Executable = Repo.Cli,
            ConfigPath = Path.Combine(_dir, "broker 100%.yaml"),
            RuntimeRoot = Path.Combine(_dir, "root"),
            UnitDirectory = _dir,
        };
        var plan = ServiceDefinitions.Plan(ServicePlatform.Systemd, ServiceAction.Install, context, socketActivation: true);
        foreach (var file in plan.Files)
        {
            File.WriteAllText(file.Path, file.Content);
        }

        var verify = new ProcessStartInfo("systemd-analyze") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "verify" }.Concat(plan.Files.Select(f => f.Path)))
        {
            verify.ArgumentList.Add(arg);
        }

        using var process = Process.Start(verify) ?? throw new InvalidOperationException("systemd-analyze did not start");
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0 && !output.Contains(Path.GetFileName(plan.Files[0].Path), StringComparison.Ordinal), output);
    }

    [Fact]
    public void LaunchAgent_ReadsBackAsAPlist_WithTheDaemonsCommandLineAndKeepAliveOnFailure()
    {
        var plan = ServiceDefinitions.Plan(ServicePlatform.Launchd, ServiceAction.Install, s_context with { UnitDirectory = "/Users/ann/Library/LaunchAgents" }, false);
        var file = Assert.Single(plan.Files);
        Assert.Equal("/Users/ann/Library/LaunchAgents/io.github.mcp-broker.daemon.plist", file.Path);
        var plist = XDocument.Parse(file.Content!);
        Assert.Equal("plist", plist.DocumentType?.Name);
        var dict = ReadPlistDict(plist.Root!.Element("dict")!);
        Assert.Equal(ServiceDefinitions.LaunchdLabel, dict["Label"]);
        Assert.Equal(new object[] { s_context.Executable, "daemon", "--config", s_context.ConfigPath, "--log-file" }, (List<object>)dict["ProgramArguments"]);
        Assert.Equal(true, dict["RunAtLoad"]);
        Assert.Equal(false, ((Dictionary<string, object>)dict["KeepAlive"])["SuccessfulExit"]);
        Assert.Equal(s_context.Path, ((Dictionary<string, object>)dict["EnvironmentVariables"])["PATH"]);
        Assert.Equal("/home/ann/mcp/mcp-broker/logs/daemon.stderr", dict["StandardErrorPath"]);
        Assert.Equal("/home/ann/mcp/mcp-broker/logs/daemon.stdout", dict["StandardOutPath"]);
    }

    [Fact]
    public void WindowsTask_ReadsBackAsTaskXml_StartingTheDaemonAtLogon_WithArgumentsQuotedForWindows()
    {
        var context = s_windows;
        var plan = ServiceDefinitions.Plan(ServicePlatform.Windows, ServiceAction.Install, context, false);
        XNamespace ns = "http://schemas.microsoft.com/windows/2004/02/mit/task";
        var xml = plan.Files.Single(f => f.Path.EndsWith(".task.xml", StringComparison.Ordinal));
        var task = XDocument.Parse(xml.Content!).Root!;
        Assert.Equal(ns + "Task", task.Name);
        Assert.Equal(@"PC\ann", task.Element(ns + "Triggers")!.Element(ns + "LogonTrigger")!.Element(ns + "UserId")!.Value);
        var exec = task.Element(ns + "Actions")!.Element(ns + "Exec")!;
        Assert.Equal(context.Executable, exec.Element(ns + "Command")!.Value);
        Assert.Equal(@"daemon --config ""C:\Users\ann\My Config\broker \""1\"".yaml"" --log-file", exec.Element(ns + "Arguments")!.Value);
        Assert.Equal(@"C:\Users\ann\AppData\Local\mcp-broker\service\mcp-broker.task.xml", xml.Path);
        Assert.Equal("PT0S", task.Element(ns + "Settings")!.Element(ns + "ExecutionTimeLimit")!.Value);
        var script = plan.Files.Single(f => f.Path.EndsWith(".ps1", StringComparison.Ordinal)).Content!;
        Assert.Contains($"Get-Content -Raw -LiteralPath '{xml.Path}'", script);
        Assert.Contains("Register-ScheduledTask -TaskName 'mcp-broker' -Xml $xml -Force", script);
    }

    /// <summary>A plist dict as launchd reads it: string, true/false, integer, array and dict values by key.</summary>
    private static Dictionary<string, object> ReadPlistDict(XElement dict)
    {
        var result = new Dictionary<string, object>();
        var items = dict.Elements().ToList();
        for (var i = 0; i < items.Count; i += 2)
        {
            Assert.Equal("key", items[i].Name.LocalName);
            result[items[i].Value] = ReadPlistValue(items[i + 1]);
        }

        return result;
    }

    private static object ReadPlistValue(XElement value) => value.Name.LocalName switch
    {
        "string" => value.Value,
        "true" => true,
        "false" => false,
        "integer" => int.Parse(value.Value, System.Globalization.CultureInfo.InvariantCulture),
        "array" => value.Elements().Select(ReadPlistValue).ToList(),
        "dict" => ReadPlistDict(value),
        var other => throw new InvalidDataException($"unexpected plist element <{other}>"),
    };
}
