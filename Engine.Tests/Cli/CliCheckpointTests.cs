using System.Text.Json;
using Engine.Models;
using Engine.Serialization;
using NUnit.Framework;
using CommandLine = Engine.Cli.Cli;

namespace Engine.Tests.Cli;

/// <summary>train --checkpoint / --resume / --weights and eval --model --weights, run in-process.</summary>
[TestFixture]
public sealed class CliCheckpointTests
{
    private const string Limit = "640";

    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("engine-cli-ckpt-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    private static (int Code, string[] Lines, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        return (code, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), error.ToString());
    }

    private static (int Code, string[] Lines, string Error) Train(params string[] args) =>
        Run(["train", "--limit", Limit, "--json", .. args]);

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    private static void AssertSameTensors(string expectedFile, string actualFile)
    {
        var expected = SafeTensors.Load(expectedFile).ToDictionary();
        var actual = SafeTensors.Load(actualFile).ToDictionary();
        Assert.That(actual.Keys, Is.EquivalentTo(expected.Keys));
        foreach (var (name, tensor) in actual)
            Assert.That(Bits(tensor.Values), Is.EqualTo(Bits(expected[name].Values)), name);
    }

    [TestCase("sgd")]
    [TestCase("adam")]
    public void ResumingAfterAnEpochEqualsTheUninterruptedRunBitwise(string optimizer)
    {
        var (full, fullCheckpoint) = (PathOf("full.safetensors"), PathOf("full-ckpt.safetensors"));
        var uninterrupted = Train("--epochs", "3", "--optimizer", optimizer, "--threads", "2", "--out", full, "--checkpoint", fullCheckpoint);
        Assert.That(uninterrupted.Code, Is.Zero, uninterrupted.Error);

        // "Interrupted" after epoch 1: a run that stopped there, then the same command with --resume.
        var checkpoint = PathOf("run.safetensors");
        var first = Train("--epochs", "1", "--optimizer", optimizer, "--threads", "2", "--out", PathOf("first.safetensors"), "--checkpoint", checkpoint);
        Assert.That(first.Code, Is.Zero, first.Error);
        var resumed = Train("--epochs", "3", "--threads", "1", "--out", PathOf("resumed.safetensors"), "--resume", checkpoint);
        Assert.That(resumed.Code, Is.Zero, resumed.Error);

        Assert.That(resumed.Lines[..^1].Select(l => JsonDocument.Parse(l).RootElement.GetProperty("epoch").GetInt32()), Is.EqualTo(new[] { 2, 3 }),
            "one line per epoch after the resumed one, then the summary");
        Assert.That(resumed.Lines[^2].Split("\"images_per_second\"")[0], Is.EqualTo(uninterrupted.Lines[^2].Split("\"images_per_second\"")[0]),
            "the last epoch's losses and accuracies are the same numbers");
        Assert.That(resumed.Lines[^1], Is.EqualTo(uninterrupted.Lines[^1]), "the same final per-class summary");
        AssertSameTensors(full, PathOf("resumed.safetensors"));
        // The resumed run kept saving to its checkpoint: weights and optimizer state equal the uninterrupted run's.
        AssertSameTensors(fullCheckpoint, checkpoint);
        var saved = TrainingCheckpoint.Load(checkpoint);
        Assert.That(saved.Progress, Is.EqualTo(new TrainingProgress(3, 0)));
        Assert.That(saved.OptimizerState().StepCount, Is.EqualTo(TrainingCheckpoint.Load(fullCheckpoint).OptimizerState().StepCount));
    }

    /// <summary>Output that fails (like a killed process) once the first epoch's line is written, after its checkpoint was saved.</summary>
    private sealed class CrashAfterFirstEpoch : StringWriter
    {
        public override void WriteLine(string? value)
        {
            if (value is not null && value.StartsWith("{\"epoch\":1,", StringComparison.Ordinal))
                throw new OperationCanceledException("simulated crash after epoch 1");
            base.WriteLine(value);
        }
    }

    [Test]
    public void ResumingAnInterruptedRunWithValidationScheduleAndAugmentationIsBitwiseExact()
    {
        // Everything that carries state across epochs: cosine schedule with warm-up, early stopping, augmentation, Adam.
        string[] recipe = ["--epochs", "3", "--optimizer", "adam", "--val-split", "0.2", "--patience", "4", "--schedule", "cosine", "--warmup", "1",
            "--augment", "crop,flip,erase", "--clip-norm", "5"];
        var full = PathOf("full.safetensors");
        var uninterrupted = Train([.. recipe, "--out", full, "--checkpoint", PathOf("full-ckpt.safetensors")]);
        Assert.That(uninterrupted.Code, Is.Zero, uninterrupted.Error);

        var checkpoint = PathOf("run.safetensors");
        var error = new StringWriter();
        int crashed = CommandLine.Run(["train", "--limit", Limit, "--json", .. recipe, "--out", PathOf("crashed.safetensors"), "--checkpoint", checkpoint],
            new CrashAfterFirstEpoch(), error);
        Assert.That(crashed, Is.EqualTo(1), "the run was interrupted");
        Assert.That(TrainingCheckpoint.Load(checkpoint).Progress, Is.EqualTo(new TrainingProgress(1, 0)), "interrupted after epoch 1's checkpoint");

        var resumed = Train("--epochs", "3", "--out", PathOf("resumed.safetensors"), "--resume", checkpoint);
        Assert.That(resumed.Code, Is.Zero, resumed.Error);
        Assert.That(resumed.Lines[^2].Split("\"images_per_second\"")[0], Is.EqualTo(uninterrupted.Lines[^2].Split("\"images_per_second\"")[0]),
            "the last epoch's losses, accuracies and learning rate are the same numbers");
        AssertSameTensors(full, PathOf("resumed.safetensors"));
        AssertSameTensors(PathOf("full-ckpt.safetensors"), checkpoint);
        Assert.That(TrainingCheckpoint.Load(checkpoint).Metadata["train.early_stopping"],
            Is.EqualTo(TrainingCheckpoint.Load(PathOf("full-ckpt.safetensors")).Metadata["train.early_stopping"]));
    }

    [Test]
    public void ResumeRefusesOptionsThatDifferFromTheCheckpoint()
    {
        var checkpoint = PathOf("run.safetensors");
        Assert.That(Train("--epochs", "1", "--lr", "0.01", "--out", PathOf("w.safetensors"), "--checkpoint", checkpoint).Code, Is.Zero);

        var r = Train("--epochs", "2", "--resume", checkpoint, "--optimizer", "adam", "--lr", "0.02");
        Assert.That(r.Code, Is.EqualTo(2));
        Assert.That(r.Error, Does.Contain("--optimizer adam (the checkpoint's run used the default: sgd)").And.Contain("--lr 0.02 (the checkpoint has 0.01)"));

        r = Train("--epochs", "1", "--resume", checkpoint);
        Assert.That(r.Code, Is.EqualTo(2));
        Assert.That(r.Error, Does.Contain("finished 1 epochs; pass --epochs above 1"));

        r = Run("train", "--limit", "320", "--epochs", "2", "--resume", checkpoint);
        Assert.That(r.Code, Is.EqualTo(2));
        Assert.That(r.Error, Does.Contain("--limit 320 (the checkpoint has 640)"));

        r = Train("--epochs", "2", "--resume", checkpoint, "--data", Path.Combine(TestContext.CurrentContext.TestDirectory, "absent-data"));
        Assert.That(r.Code, Is.Not.Zero, "other data than the run's");

        r = Train("--epochs", "2", "--resume", PathOf("w.safetensors"));
        Assert.That(r.Code, Is.EqualTo(1));
        Assert.That(r.Error, Does.Contain("holds weights only"));
    }

    [Test]
    public void WeightsStartTrainingAndReplaceAHeadForOtherClasses()
    {
        // A LeNet-5 "pretrained" for 7 classes; fine-tuning on the 10 digits keeps its features and gets a 10-class head.
        var pretrained = ModelZoo.Create("lenet5", 7, 1, new Generator(42));
        var weights = PathOf("lenet5-7.safetensors");
        Checkpoint.Save(weights, pretrained, new CheckpointInfo("lenet5", 7, 1));
        var tuned = PathOf("tuned.safetensors");
        // A learning rate so small that no update moves a weight: what was loaded is what comes out.
        var r = Train("--epochs", "1", "--weights", weights, "--lr", "1e-30", "--momentum", "0", "--out", tuned);
        Assert.That(r.Code, Is.Zero, r.Error);
        var saved = SafeTensors.Load(tuned).ToDictionary();
        var original = pretrained.StateDict();
        foreach (var name in original.Keys.Where(n => n.StartsWith("features.", StringComparison.Ordinal)))
            Assert.That(saved[name].Values, Is.EqualTo(original[name]), name);
        Assert.That(saved["classifier.4.weight"].Shape, Is.EqualTo(new Shape(10, 84)));

        var other = Train("--epochs", "1", "--model", "lenet5_classic", "--weights", PathOf("absent.pth"));
        Assert.That(other.Code, Is.EqualTo(1));
        Assert.That(other.Error, Does.Contain("absent.pth"));
    }

    [Test]
    public void EvalWithModelAndWeightsMatchesEvalOfTheCheckpoint()
    {
        var model = PathOf("m.safetensors");
        Assert.That(Train("--epochs", "1", "--out", model).Code, Is.Zero);
        var byFile = Run("eval", "--model-file", model, "--limit", Limit, "--json");
        var byWeights = Run("eval", "--model", "lenet5", "--weights", model, "--limit", Limit, "--json");
        Assert.That(byWeights.Code, Is.Zero, byWeights.Error);
        Assert.That(byWeights.Lines, Is.EqualTo(byFile.Lines));

        var wrong = Run("eval", "--model", "lenet5_classic", "--weights", PathOf("m.safetensors"), "--limit", Limit);
        Assert.That(wrong.Code, Is.EqualTo(1));
        Assert.That(wrong.Error, Does.Contain("does not match"));
        var half = Run("eval", "--weights", model, "--limit", Limit);
        Assert.That(half.Code, Is.EqualTo(2));
        Assert.That(half.Error, Does.Contain("--model NAME with --weights FILE"));
    }

    [Test]
    public void HelpDocumentsTheCheckpointOptions()
    {
        var help = string.Join('\n', Run("train", "--help").Lines);
        Assert.That(help, Does.Contain("--checkpoint FILE").And.Contain("--resume FILE").And.Contain("--weights FILE"));
        Assert.That(string.Join('\n', Run("eval", "--help").Lines), Does.Contain("--weights FILE"));
    }
}
