using System.Text.Json;
using NUnit.Framework;
using CommandLine = Engine.Cli.Cli;

namespace Engine.Tests.Cli;

/// <summary>The command-line program run in-process on small slices of the bundled digits.</summary>
[TestFixture]
public sealed class CliTests : CliFixture
{
    private static readonly string[] EpochFields =
        ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "test_top5_accuracy", "learning_rate", "images_per_second", "seconds"];

    [Test]
    public void TrainJsonPrintsOneObjectPerEpochAndEvalAgreesWithTheLast()
    {
        var model = PathOf("quick.safetensors");
        var train = Run("train", "--epochs", "2", "--limit", "1920", "--json", "--threads", "2", "--out", model);
        Assert.That(train.ExitCode, Is.Zero, train.Error);
        Assert.That(train.Error, Is.Empty);
        Assert.That(train.Lines, Has.Length.EqualTo(3), "one line per epoch, one summary, and nothing else");
        Assert.That(Parse(train.Lines[^1]).GetProperty("summary").GetBoolean());
        for (int i = 0; i < train.Lines.Length - 1; i++)
        {
            var epoch = Parse(train.Lines[i]);
            Assert.That(epoch.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(EpochFields));
            Assert.That(epoch.GetProperty("epoch").GetInt32(), Is.EqualTo(i + 1));
            foreach (var field in new[] { "train_accuracy", "test_accuracy", "test_top5_accuracy" })
                Assert.That(epoch.GetProperty(field).GetDouble(), Is.InRange(0.0, 1.0), field);
            foreach (var field in new[] { "train_loss", "test_loss", "images_per_second", "seconds" })
                Assert.That(epoch.GetProperty(field).GetDouble(), Is.Positive, field);
        }
        var last = Parse(train.Lines[^2]);
        Assert.That(last.GetProperty("test_accuracy").GetDouble(), Is.GreaterThan(0.5), "two short epochs already beat chance (0.1) by far");
        Assert.That(last.GetProperty("test_loss").GetDouble(), Is.LessThan(Parse(train.Lines[0]).GetProperty("test_loss").GetDouble()), "the second epoch improves the test loss");

        var eval = Run("eval", "--model-file", model, "--limit", "1920", "--json");
        Assert.That(eval.ExitCode, Is.Zero, eval.Error);
        Assert.That(eval.Lines, Has.Length.EqualTo(1));
        var result = Parse(eval.Lines[0]);
        Assert.That(result.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(new[] { "test_loss", "test_accuracy", "images" }));
        Assert.That(result.GetProperty("images").GetInt32(), Is.EqualTo(1920));
        // The saved weights are the ones the last epoch evaluated: same images, same batches, same numbers.
        Assert.That(result.GetProperty("test_accuracy").GetDouble(), Is.EqualTo(last.GetProperty("test_accuracy").GetDouble()));
        Assert.That(result.GetProperty("test_loss").GetDouble(), Is.EqualTo(last.GetProperty("test_loss").GetDouble()).Within(1e-12));
    }

    [Test]
    public void PlainTrainOutputHasOneLinePerEpochAndNoTerminalCodes()
    {
        var model = PathOf("plain.safetensors");
        var train = Run("train", "--epochs", "2", "--limit", "256", "--out", model);
        Assert.That(train.ExitCode, Is.Zero, train.Error);
        Assert.That(train.Out, Does.Not.Contain("\u001b"), "no escape sequences when stdout is not a terminal");
        Assert.That(train.Lines.Count(l => l.StartsWith("epoch ", StringComparison.Ordinal)), Is.EqualTo(2));
        Assert.That(train.Lines, Has.Some.StartsWith("final test accuracy: "));
        Assert.That(train.Lines[^1], Is.EqualTo($"saved {model}"));
        Assert.That(File.Exists(model));
    }

    [Test]
    public void SameSeedGivesIdenticalFilesForOneAndTwoThreads()
    {
        string one = PathOf("one.safetensors"), two = PathOf("two.safetensors");
        Assert.That(Run("train", "--epochs", "1", "--limit", "320", "--json", "--threads", "1", "--out", one).ExitCode, Is.Zero);
        Assert.That(Run("train", "--epochs", "1", "--limit", "320", "--json", "--threads", "2", "--out", two).ExitCode, Is.Zero);
        Assert.That(File.ReadAllBytes(two), Is.EqualTo(File.ReadAllBytes(one)));
    }

    [TestCase("adam")]
    [TestCase("adamw")]
    public void OtherOptimizersTrain(string optimizer)
    {
        var train = Run("train", "--optimizer", optimizer, "--epochs", "1", "--limit", "256", "--json", "--out", PathOf("o.safetensors"));
        Assert.That(train.ExitCode, Is.Zero, train.Error);
        Assert.That(Parse(train.Lines[0]).GetProperty("train_loss").GetDouble(), Is.Positive);
    }

    [Test]
    public void SummaryJsonTotalsLeNet5Parameters()
    {
        var summary = Run("summary", "--model", "lenet5", "--json");
        Assert.That(summary.ExitCode, Is.Zero, summary.Error);
        Assert.That(summary.Lines, Has.Length.EqualTo(1));
        var json = Parse(summary.Lines[0]);
        Assert.That(json.GetProperty("total_params").GetInt64(), Is.EqualTo(61706));
        var layers = json.GetProperty("layers").EnumerateArray().ToList();
        Assert.That(layers.Sum(l => l.GetProperty("params").GetInt64()), Is.EqualTo(61706), "rows add up to the total");
        Assert.That(layers.Select(l => l.GetProperty("type").GetString()), Is.EqualTo(new[]
            { "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Linear", "ReLU", "Linear", "ReLU", "Linear" }));
        Assert.That(layers[0].GetProperty("output_shape").EnumerateArray().Select(d => d.GetInt32()), Is.EqualTo(new[] { 1, 6, 28, 28 }));
        Assert.That(layers[5].GetProperty("output_shape").EnumerateArray().Select(d => d.GetInt32()), Is.EqualTo(new[] { 1, 16, 5, 5 }));
        Assert.That(layers[^1].GetProperty("name").GetString(), Is.EqualTo("classifier.4"));
    }

    [Test]
    public void SummaryFollowsTheInputShape()
    {
        var json = Parse(Run("summary", "--input", "2,3,28,28", "--num-classes", "5", "--json").Lines[0]);
        var layers = json.GetProperty("layers").EnumerateArray().ToList();
        // conv1 holds 6 x 3 x 5 x 5 weights + 6 biases; the last linear 84 x 5 + 5.
        Assert.That(layers[0].GetProperty("params").GetInt64(), Is.EqualTo(6 * 3 * 5 * 5 + 6));
        Assert.That(layers[^1].GetProperty("output_shape").EnumerateArray().Select(d => d.GetInt32()), Is.EqualTo(new[] { 2, 5 }));
        Assert.That(json.GetProperty("total_params").GetInt64(), Is.EqualTo(61706 + 6 * 2 * 25 - 85 * 5));
    }

    [Test]
    public void SummaryTableListsLayersAndTotal()
    {
        var summary = Run("summary");
        Assert.That(summary.ExitCode, Is.Zero, summary.Error);
        Assert.That(summary.Out, Does.Contain("features.3").And.Contain("(1,16,10,10)").And.Contain("total parameters: 61,706"));
    }

    [TestCase("train")]
    [TestCase("eval")]
    [TestCase("summary")]
    public void EveryCommandHasHelp(string command)
    {
        var help = Run(command, "--help");
        Assert.That(help.ExitCode, Is.Zero);
        Assert.That(help.Lines[0], Is.EqualTo($"usage: engine {command} [options]"));
        Assert.That(help.Out, Does.Contain("--help"));
    }

    [Test]
    public void TrainHelpDocumentsEveryOption()
    {
        var help = Run("train", "--help").Out;
        foreach (var option in new[] { "--model", "--data", "--epochs", "--batch-size", "--lr", "--optimizer", "--seed", "--threads", "--out", "--json", "--limit" })
            Assert.That(help, Does.Contain(option));
    }
}
