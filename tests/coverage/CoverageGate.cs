// The coverage gate (docs/quality.md): reads coverlet's Cobertura report and fails the test run when an area's line or
// branch coverage is below its floor. An MSBuild task (compiled by RoslynCodeTaskFactory from coverage.targets), so
// `dotnet test` itself fails: no second command to forget. It compiles against .NET Standard 2.0 (what the task
// factory offers): no records, ranges or newer string overloads.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Xml.Linq;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class CoverageGate : Task
{
    /// <summary>The Cobertura report coverlet wrote.</summary>
    [Required]
    public string Report { get; set; } = "";

    /// <summary>The repository root that area paths are relative to.</summary>
    [Required]
    public string RepoRoot { get; set; } = "";

    /// <summary>One item per area: Identity is its name; Paths (';'-separated folders or files), MinLine, MinBranch in percent.</summary>
    [Required]
    public ITaskItem[] Areas { get; set; } = [];

    public override bool Execute()
    {
        if (!File.Exists(Report))
        {
            Log.LogError($"coverage gate: no coverage report at {Report}; coverlet did not write one.");
            return false;
        }

        var lines = ReadLines(XDocument.Load(Report));
        Log.LogMessage(MessageImportance.High, "Coverage of McpBroker.Core by area (floors in brackets):");
        foreach (var area in Areas)
        {
            var paths = area.GetMetadata("Paths").Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim()).ToArray();
            var inArea = lines.Where(l => paths.Any(p => l.Key.File.StartsWith(p, StringComparison.Ordinal))).Select(l => l.Value).ToList();
            if (inArea.Count == 0)
            {
                Log.LogError($"coverage gate: area '{area.ItemSpec}' matches no measured line ({string.Join(", ", paths)}); fix its Paths in tests/coverage/coverage.targets.");
                continue;
            }

            double linePct = Percent(inArea.Count(l => l.Hit), inArea.Count);
            int branchesCovered = inArea.Sum(l => l.BranchesCovered), branches = inArea.Sum(l => l.Branches);
            double branchPct = branches == 0 ? 100 : Percent(branchesCovered, branches);
            double minLine = double.Parse(area.GetMetadata("MinLine"), CultureInfo.InvariantCulture);
            double minBranch = double.Parse(area.GetMetadata("MinBranch"), CultureInfo.InvariantCulture);
            Log.LogMessage(MessageImportance.High,
                $"  {area.ItemSpec,-20} line {linePct,6:F2} % [{minLine}]  branch {branchPct,6:F2} % [{minBranch}]  ({inArea.Count} lines, {branches} branches)");
            if (linePct < minLine || branchPct < minBranch)
            {
                Log.LogError($"coverage gate: {area.ItemSpec} is at {linePct:F2} % of lines and {branchPct:F2} % of branches; "
                    + $"the floor is {minLine} % and {minBranch} %. Add tests for what is unmeasured (the report: {Report}).");
            }
        }

        return !Log.HasLoggedErrors;
    }

    private static double Percent(int part, int whole) => Math.Floor(10000.0 * part / whole) / 100;

    private readonly struct LineCoverage(bool hit, int branchesCovered, int branches)
    {
        public bool Hit { get; } = hit;

        public int BranchesCovered { get; } = branchesCovered;

        public int Branches { get; } = branches;
    }

    /// <summary>Every measured line by repository-relative file and number; a line reported twice counts once.</summary>
    private Dictionary<(string File, int Number), LineCoverage> ReadLines(XDocument report)
    {
        var sources = report.Descendants("source").Select(s => s.Value).ToList();
        var byLine = new Dictionary<(string, int), LineCoverage>();
        foreach (var @class in report.Descendants("class"))
        {
            string file = RelativeToRepo(sources, (string)@class.Attribute("filename")!);
            foreach (var line in @class.Element("lines")?.Elements("line") ?? [])
            {
                var key = (file, (int)line.Attribute("number")!);
                bool hit = (long)line.Attribute("hits")! > 0;
                (int covered, int total) = Conditions((string)line.Attribute("condition-coverage"));
                byLine[key] = byLine.TryGetValue(key, out var seen)
                    ? new LineCoverage(seen.Hit || hit, Math.Max(seen.BranchesCovered, covered), Math.Max(seen.Branches, total))
                    : new LineCoverage(hit, covered, total);
            }
        }

        return byLine;
    }

    /// <summary>"50% (1/2)" → (1, 2); no attribute → (0, 0).</summary>
    private static (int Covered, int Total) Conditions(string conditionCoverage)
    {
        if (conditionCoverage is null) { return (0, 0); }
        int open = conditionCoverage.IndexOf('(') + 1;
        var counts = conditionCoverage.Substring(open, conditionCoverage.IndexOf(')') - open).Split('/');
        return (int.Parse(counts[0], CultureInfo.InvariantCulture), int.Parse(counts[1], CultureInfo.InvariantCulture));
    }

    private string RelativeToRepo(List<string> sources, string filename)
    {
        string full = Path.IsPathRooted(filename) ? filename : Path.Combine(sources.FirstOrDefault(s => File.Exists(Path.Combine(s, filename))) ?? "", filename);
        string root = Path.GetFullPath(RepoRoot).TrimEnd('/', '\\') + Path.DirectorySeparatorChar;
        full = Path.GetFullPath(full);
        return (full.StartsWith(root, StringComparison.Ordinal) ? full.Substring(root.Length) : full).Replace('\\', '/');
    }
}
