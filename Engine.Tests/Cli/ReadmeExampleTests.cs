using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Models;
using Engine.Serialization;
using NUnit.Framework;

namespace Engine.Tests.Cli;

[TestFixture]
public sealed partial class ReadmeExampleTests
{
    private static string RepositoryFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, name);
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) return candidate;
        }
        throw new FileNotFoundException($"no {name} beside Engine.sln above {AppContext.BaseDirectory}");
    }

    private static List<string> CodeLines(IEnumerable<string> lines) =>
        lines.Select(l => l.Trim()).Where(l => l.Length > 0).ToList();

    [Test]
    public void ReadmeShowsTheCompiledExample()
    {
        var readme = File.ReadAllText(RepositoryFile("README.md"));
        var block = CSharpBlock().Match(readme);
        Assert.That(block.Success, "README.md has a ```csharp block");
        var shown = CodeLines(block.Groups[1].Value.Split('\n'));
        var compiled = CodeLines(File.ReadAllLines(RepositoryFile(Path.Combine("Engine.Tests", "Cli", "ReadmeExample.cs"))));
        // Every README line appears in the compiled example, in the same order.
        int at = 0;
        foreach (var line in shown)
        {
            int found = compiled.IndexOf(line, at);
            Assert.That(found, Is.GreaterThanOrEqualTo(0), $"README line not in ReadmeExample.cs (in order): {line}");
            at = found + 1;
        }
        Assert.That(shown, Has.Count.GreaterThan(10));
    }

    [Test]
    public void ReadmeExampleTrainsLeNet5ToAtLeast96Percent()
    {
        var bundled = Engine.Cli.DataOptions.DefaultDirectory();
        var work = Directory.CreateTempSubdirectory("engine-readme-");
        var previousDirectory = Environment.CurrentDirectory;
        var previousOut = Console.Out;
        var output = new StringWriter();
        try
        {
            var data = Directory.CreateDirectory(Path.Combine(work.FullName, "data", "mnist-10k"));
            foreach (var file in Directory.GetFiles(bundled, "*.gz")) File.Copy(file, Path.Combine(data.FullName, Path.GetFileName(file)));
            Environment.CurrentDirectory = work.FullName;
            Console.SetOut(output);
            ReadmeExample.Run();
        }
        finally
        {
            Console.SetOut(previousOut);
            Environment.CurrentDirectory = previousDirectory;
        }
        try
        {
            var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines, Has.Length.EqualTo(5), output.ToString());
            var accuracy = Accuracy().Match(lines[^1]);
            Assert.That(accuracy.Success, lines[^1]);
            double percent = double.Parse(accuracy.Groups[1].Value, CultureInfo.CurrentCulture);
            Assert.That(percent, Is.GreaterThanOrEqualTo(96.0), "LeNet-5 on the bundled digits after 5 epochs");
            var checkpoint = Checkpoint.Load(Path.Combine(work.FullName, "lenet5.safetensors"));
            checkpoint.LoadInto(ModelZoo.Create(checkpoint.Info.Model));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [GeneratedRegex("```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"test accuracy ([0-9.,]+)")]
    private static partial Regex Accuracy();
}
