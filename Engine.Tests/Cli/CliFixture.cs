using System.Text.Json;
using NUnit.Framework;
using CommandLine = Engine.Cli.Cli;

namespace Engine.Tests.Cli;

/// <summary>What an in-process run of the program printed: exit code, stdout (and its lines), stderr.</summary>
internal sealed record CliResult(int ExitCode, string Out, string Error)
{
    public string[] Lines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    /// <summary>Runs "engine ARGS" in-process without terminal features, as CI logs see it.</summary>
    public static CliResult Of(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }
}

/// <summary>A CLI test fixture with a fresh temporary directory per test (deleted after it).</summary>
public abstract class CliFixture
{
    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("engine-cli-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    protected string PathOf(string name) => Path.Combine(_directory.FullName, name);

    internal static CliResult Run(params string[] args) => CliResult.Of(args);

    protected static JsonElement Parse(string line) => JsonDocument.Parse(line).RootElement;
}
