using System.IO.Compression;
using Engine.Serialization;
using NUnit.Framework;
using CommandLine = Engine.Cli.Cli;

namespace Engine.Tests.Cli;

/// <summary>Bad input exits non-zero with exactly one readable line on stderr, no stack trace, nothing on stdout.</summary>
[TestFixture]
public sealed class CliErrorTests
{
    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("engine-cli-err-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    /// <summary>Runs the command and checks the failure's shape; returns the one error line.</summary>
    private static string Fails(int expectedCode, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        Assert.That(code, Is.EqualTo(expectedCode), $"exit code of '{string.Join(' ', args)}'; stderr: {error}");
        Assert.That(output.ToString(), Is.Empty, "nothing on stdout");
        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), $"one line on stderr, got: {error}");
        Assert.That(lines[0], Does.StartWith("error: ").And.Not.Contain(" at Engine."), "a message, not a stack trace");
        return lines[0];
    }

    /// <summary>A directory with MNIST-named files; the training images are replaced by <paramref name="trainImages"/>.</summary>
    private string DataDirectory(byte[] trainImages)
    {
        var bundled = Engine.Cli.DataOptions.DefaultDirectory();
        var directory = Directory.CreateDirectory(PathOf("data"));
        foreach (var file in Directory.GetFiles(bundled, "*.gz"))
            File.Copy(file, Path.Combine(directory.FullName, Path.GetFileName(file)));
        File.Delete(Path.Combine(directory.FullName, "train-images-idx3-ubyte.gz"));
        File.WriteAllBytes(Path.Combine(directory.FullName, "train-images-idx3-ubyte"), trainImages);
        return directory.FullName;
    }

    [Test]
    public void MissingDataDirectory()
    {
        var missing = PathOf("nowhere");
        Assert.That(Fails(1, "train", "--data", missing), Does.Contain(missing).And.Contain("does not exist"));
    }

    [Test]
    public void DirectoryWithoutMnistFiles()
    {
        Assert.That(Fails(1, "train", "--data", _directory.FullName), Does.Contain("train-images-idx3-ubyte"));
    }

    [Test]
    public void CorruptIdxFile()
    {
        var data = DataDirectory([0x12, 0x34, 0x08, 0x03, 0, 0, 0, 1]);
        Assert.That(Fails(1, "train", "--data", data), Does.Contain("train-images-idx3-ubyte").And.Contain("magic"));
    }

    [Test]
    public void TruncatedIdxFile()
    {
        // Header for 100 images of 28 x 28, but only 10 bytes of pixels.
        byte[] header = [0, 0, 0x08, 0x03, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28];
        var data = DataDirectory([.. header, .. new byte[10]]);
        Assert.That(Fails(1, "train", "--data", data), Does.Contain("truncated"));
    }

    [Test]
    public void CorruptGzip()
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(new byte[64]);
        var bytes = compressed.ToArray();
        var data = DataDirectory([]);
        File.Delete(Path.Combine(data, "train-images-idx3-ubyte"));
        File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte.gz"), bytes[..(bytes.Length / 2)]);
        Assert.That(Fails(1, "train", "--data", data), Does.Contain("train-images-idx3-ubyte.gz"));
    }

    [Test]
    public void UnknownModel() => Assert.That(Fails(1, "train", "--model", "resnet9000"), Does.Contain("unknown model 'resnet9000'").And.Contain("lenet5"));

    [TestCase("--epochs", "0", "an integer >= 1, got '0'")]
    [TestCase("--batch-size", "many", "an integer >= 1, got 'many'")]
    [TestCase("--lr", "-1", "a positive number, got '-1'")]
    [TestCase("--lr", "NaN", "a positive number, got 'NaN'")]
    [TestCase("--optimizer", "rmsprop", "one of sgd, adam, adamw, got 'rmsprop'")]
    [TestCase("--seed", "-3", "a non-negative integer, got '-3'")]
    [TestCase("--threads", "-1", "an integer >= 0, got '-1'")]
    [TestCase("--limit", "0", "an integer >= 1, got '0'")]
    public void BadOptionValue(string option, string value, string expected) =>
        Assert.That(Fails(2, "train", option, value), Does.Contain($"'{option}' expects {expected}"));

    [Test]
    public void UnknownOption() => Assert.That(Fails(2, "train", "--epoch", "3"), Does.Contain("unknown option '--epoch'"));

    [Test]
    public void MissingOptionValue() => Assert.That(Fails(2, "train", "--epochs"), Does.Contain("'--epochs' expects a value"));

    [Test]
    public void UnknownCommand() => Assert.That(Fails(2, "fly"), Does.Contain("unknown command 'fly'").And.Contain("train"));

    [Test]
    public void OutputDirectoryMissing() =>
        Assert.That(Fails(2, "train", "--out", PathOf("no/such/dir/m.safetensors")), Does.Contain("--out"));

    [Test]
    public void EvalNeedsAModelFile() => Assert.That(Fails(2, "eval"), Does.Contain("'--model-file' is required"));

    [Test]
    public void EvalOfAMissingFile()
    {
        var missing = PathOf("missing.safetensors");
        Assert.That(Fails(1, "eval", "--model-file", missing), Does.Contain(missing));
    }

    [Test]
    public void EvalOfACorruptFile()
    {
        var corrupt = PathOf("corrupt.safetensors");
        File.WriteAllBytes(corrupt, [200, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}']);
        Assert.That(Fails(1, "eval", "--model-file", corrupt), Does.Contain(corrupt).And.Contain("header length"));
    }

    [Test]
    public void EvalOfACheckpointForAnotherModel()
    {
        var file = PathOf("foreign.safetensors");
        SafeTensors.Save(file, [new("w", new HostTensor(new Shape(1), [1f]))], new CheckpointInfo("vgg", 10, 1).ToMetadata());
        Assert.That(Fails(1, "eval", "--model-file", file), Does.Contain("unknown model 'vgg'"));
    }

    [TestCase("1,1,28", "4 positive sizes")]
    [TestCase("1,0,28,28", "4 positive sizes")]
    public void SummaryBadInput(string input, string expected) =>
        Assert.That(Fails(2, "summary", "--input", input), Does.Contain(expected));

    [Test]
    public void SummaryInputTheModelCannotTake() =>
        Assert.That(Fails(1, "summary", "--input", "1,1,32,32"), Does.Contain("LeNet5").And.Contain("(1,1,32,32)"));
}
