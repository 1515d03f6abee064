using System.Runtime.CompilerServices;
using Engine.Cpu;
using Engine.Onnx;
using NUnit.Framework;

namespace Engine.Tests.Onnx;

/// <summary>
/// The ONNX backend-test cases of Debian's libonnx-testdata listed as "run" in cases.txt must all pass; the list
/// must name every case under node/ and pytorch-converted/ (each exclusion with its reason).
/// </summary>
public class OnnxConformanceTests
{
    private const string DataRoot = "/usr/share/libonnx-testdata/data";
    private static readonly string[] Suites = ["node", "pytorch-converted"];

    private static string CasesFile([CallerFilePath] string source = "") => Path.Combine(Path.GetDirectoryName(source)!, "cases.txt");

    private static List<(string Case, bool Run, string Reason)> ReadCases()
    {
        var cases = new List<(string, bool, string)>();
        foreach (var line in File.ReadAllLines(CasesFile()))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.StartsWith("run ", StringComparison.Ordinal)) cases.Add((line[4..].Trim(), true, ""));
            else if (line.StartsWith("exclude ", StringComparison.Ordinal))
            {
                int colon = line.IndexOf(": ", StringComparison.Ordinal);
                Assert.That(colon, Is.GreaterThan(0), $"exclusion without a reason: {line}");
                cases.Add((line[8..colon], false, line[(colon + 2)..]));
            }
            else Assert.Fail($"cases.txt: expected 'run CASE' or 'exclude CASE: reason', got '{line}'");
        }
        return cases;
    }

    private static void RequireData()
    {
        if (!Directory.Exists(Path.Combine(DataRoot, "node")))
            Assert.Ignore($"libonnx-testdata is not installed ({DataRoot} is missing); run scripts/onnx-testdata.sh");
    }

    [Test]
    public void ListedCasesPass()
    {
        RequireData();
        var backend = new CpuBackend(2);
        var run = ReadCases().Where(c => c.Run).ToList();
        var failures = new List<string>();
        foreach (var (name, _, _) in run)
        {
            string? error = OnnxConformance.RunCase(Path.Combine(DataRoot, name), backend);
            if (error is not null) failures.Add($"{name}: {error}");
        }
        TestContext.Out.WriteLine($"{run.Count - failures.Count} passed, {failures.Count} failed");
        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void EveryCaseIsListedOnceAndExclusionsForOperatorsAreAccurate()
    {
        RequireData();
        var listed = ReadCases();
        Assert.That(listed.Select(c => c.Case).Distinct().Count(), Is.EqualTo(listed.Count), "a case is listed twice");
        var onDisk = Suites.SelectMany(s => OnnxConformance.FindCases([Path.Combine(DataRoot, s)]).Select(d => $"{s}/{Path.GetFileName(d)}")).ToHashSet();
        Assert.That(onDisk.Except(listed.Select(c => c.Case)), Is.Empty, "cases on disk missing from cases.txt");
        Assert.That(listed.Select(c => c.Case).Except(onDisk), Is.Empty, "cases in cases.txt missing on disk");
        foreach (var (name, run, reason) in listed)
        {
            var unsupported = OnnxConformance.UnsupportedOperators(Path.Combine(DataRoot, name));
            if (run) Assert.That(unsupported, Is.Empty, $"{name} is run but uses operators outside the list");
            else if (reason.StartsWith("operators not in the list", StringComparison.Ordinal))
                Assert.That(reason, Is.EqualTo($"operators not in the list: {string.Join(", ", unsupported)}"), name);
            else Assert.That(unsupported, Is.Empty, $"{name} is excluded for '{reason}' but also uses unlisted operators");
        }
    }

    [Test]
    public void CliRunsADirectoryAndCountsPassesAndFailures()
    {
        RequireData();
        var output = new StringWriter();
        var error = new StringWriter();
        int code = OnnxConformance.RunCli(
            [Path.Combine(DataRoot, "node", "test_relu"), Path.Combine(DataRoot, "node", "test_resize_upsample_sizes_cubic")],
            output, error, _ => new CpuBackend(1));
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Is.EqualTo("PASS test_relu"));
        Assert.That(lines[1], Does.StartWith("FAIL test_resize_upsample_sizes_cubic: NotSupportedException"));
        Assert.That(lines[^1], Is.EqualTo("1 passed, 1 failed"));
        Assert.That(code, Is.EqualTo(1));
    }
}
