using System.Text.Json;
using Engine.Imaging;
using Engine.Serialization;
using NUnit.Framework;
using CommandLine = Engine.Cli.Cli;

namespace Engine.Tests.Cli;

/// <summary>train's validation split, schedules, early stopping, best checkpoint and data formats; predict.</summary>
[TestFixture]
public sealed class TrainLoopCliTests : CliFixture
{

    [Test]
    public void ValidationSplitWithPatienceSavesTheBestAndTheLastCheckpoint()
    {
        var model = PathOf("m.safetensors");
        var train = Run("train", "--epochs", "3", "--limit", "640", "--val-split", "0.25", "--patience", "2", "--schedule", "cosine", "--warmup", "1",
            "--augment", "crop,flip", "--clip-norm", "10", "--json", "--out", model);
        Assert.That(train.ExitCode, Is.Zero, train.Error);
        var epochs = train.Lines[..^1].Select(Parse).ToList();
        Assert.That(epochs, Has.Count.InRange(1, 3));
        foreach (var e in epochs)
            Assert.That(e.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(new[]
            {
                "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "best", "test_loss", "test_accuracy", "test_top5_accuracy",
                "learning_rate", "images_per_second", "seconds",
            }));
        Assert.That(epochs[0].GetProperty("best").GetBoolean(), "the first validated epoch is the best so far");
        Assert.That(epochs[^1].GetProperty("learning_rate").GetDouble(), Is.EqualTo(0).Within(1e-9), "cosine ends at 0");
        var summary = Parse(train.Lines[^1]);
        Assert.That(summary.GetProperty("summary").GetBoolean());
        Assert.That(summary.GetProperty("classes").GetArrayLength(), Is.EqualTo(10));
        var confusion = summary.GetProperty("confusion").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        Assert.That(confusion.Sum(r => r.Sum()), Is.EqualTo(640), "every test image counted once");
        double diagonal = Enumerable.Range(0, 10).Sum(i => confusion[i][i]);
        Assert.That(summary.GetProperty("test_accuracy").GetDouble(), Is.EqualTo(diagonal / 640).Within(1e-12));
        int best = summary.GetProperty("best_epoch").GetInt32();
        var bestEpoch = epochs.Last(e => e.GetProperty("best").GetBoolean());
        Assert.That(bestEpoch.GetProperty("epoch").GetInt32(), Is.EqualTo(best));

        var bestFile = PathOf("m.best.safetensors");
        Assert.That(File.Exists(bestFile) && File.Exists(model));
        var metadata = Checkpoint.Load(bestFile).Content.Metadata;
        Assert.That(metadata["epoch"], Is.EqualTo(best.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(metadata["class_names"], Is.EqualTo("[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]"));
        // The best checkpoint is the one that scored the best epoch's test accuracy.
        var eval = Parse(Run("eval", "--model-file", bestFile, "--limit", "640", "--json").Lines[0]);
        Assert.That(eval.GetProperty("test_accuracy").GetDouble(), Is.EqualTo(bestEpoch.GetProperty("test_accuracy").GetDouble()));
    }

    [TestCase(new[] { "--patience", "2" }, "--val-split")]
    [TestCase(new[] { "--val-split", "1" }, "--val-split")]
    [TestCase(new[] { "--augment", "crop:x" }, "--augment")]
    [TestCase(new[] { "--augment", "rotate" }, "rotate")]
    [TestCase(new[] { "--schedule", "linear" }, "constant, step, cosine, onecycle")]
    [TestCase(new[] { "--clip-norm", "-1" }, "--clip-norm")]
    public void BadTrainingOptionsAreUsageErrors(string[] options, string named)
    {
        var result = Run(["train", "--limit", "64", "--out", PathOf("x.safetensors"), .. options]);
        Assert.That(result.ExitCode, Is.EqualTo(2), result.Error);
        Assert.That(result.Error, Does.Contain(named));
        Assert.That(File.Exists(PathOf("x.safetensors")), Is.False);
    }

    [Test]
    public void PlainOutputHasOneLinePerEpochWithoutCursorMovement()
    {
        var train = Run("train", "--epochs", "2", "--limit", "256", "--val-split", "0.25", "--out", PathOf("p.safetensors"));
        Assert.That(train.ExitCode, Is.Zero, train.Error);
        Assert.That(train.Out, Does.Not.Contain("\u001b").And.Not.Contain("\r"), "no escape sequences or carriage returns when stdout is not a terminal");
        var epochLines = train.Lines.Where(l => l.StartsWith("epoch ", StringComparison.Ordinal)).ToList();
        Assert.That(epochLines, Has.Count.EqualTo(2));
        Assert.That(epochLines[0], Does.StartWith("epoch 1/2: train loss ").And.Contain("| val loss ").And.Contain("top-5 ").And.Contain("| lr "));
        Assert.That(train.Lines, Has.Some.StartsWith("final test accuracy: ").And.Some.StartsWith("confusion matrix"));
    }

    /// <summary>Writes a CIFAR-10 binary directory: files of 3073-byte records (label, 1024 R, 1024 G, 1024 B).</summary>
    private string WriteCifar10(int perFile)
    {
        var root = Directory.CreateDirectory(PathOf("cifar")).FullName;
        var random = new Random(5);
        byte[] Records(int count)
        {
            var bytes = new byte[count * 3073];
            random.NextBytes(bytes);
            for (int r = 0; r < count; r++) bytes[r * 3073] = (byte)(r % 10);
            return bytes;
        }
        for (int f = 1; f <= 5; f++) File.WriteAllBytes(Path.Combine(root, $"data_batch_{f}.bin"), Records(perFile));
        File.WriteAllBytes(Path.Combine(root, "test_batch.bin"), Records(perFile));
        return root;
    }

    [Test]
    public void TrainReadsCifar10BinaryDirectories()
    {
        var data = WriteCifar10(perFile: 4);
        var model = PathOf("c.safetensors");
        var train = Run("train", "--model", "resnet20", "--data", data, "--epochs", "1", "--batch-size", "10", "--out", model);
        Assert.That(train.ExitCode, Is.Zero, train.Error);
        Assert.That(train.Lines[0], Does.Contain("20 training and 4 test images").And.Contain("augment crop:4,flip"), "the CIFAR recipe");
        Assert.That(train.Out, Does.Contain("airplane"), "CIFAR-10 class names in the per-class table");
        var metadata = Checkpoint.Load(model).Content.Metadata;
        Assert.That((metadata["data_kind"], metadata["input_height"], metadata["input_mean"].Split(',').Length), Is.EqualTo(("cifar-10", "32", 3)));
    }

    /// <summary>train/ and test/ folders of 28 x 28 PNGs: class "bright" is a light square, "dark" a dark one.</summary>
    private string WriteImageFolders()
    {
        var root = PathOf("folders");
        foreach (var split in new[] { "train", "test" })
            foreach (var (name, level) in new[] { ("bright", 220), ("dark", 30) })
            {
                var folder = Directory.CreateDirectory(Path.Combine(root, split, name)).FullName;
                for (int i = 0; i < (split == "train" ? 12 : 4); i++)
                {
                    var image = new Image(28, 28, 1);
                    for (int p = 0; p < image.Pixels.Length; p++) image.Pixels[p] = (byte)Math.Clamp(level + (p * 7 + i * 13) % 21 - 10, 0, 255);
                    image.Save(Path.Combine(folder, $"{i}.png"));
                }
            }
        return root;
    }

    [Test]
    public void TrainOnImageFoldersThenPredictNamesTheClasses()
    {
        var data = WriteImageFolders();
        var model = PathOf("f.safetensors");
        var train = Run("train", "--data", data, "--epochs", "6", "--batch-size", "8", "--lr", "0.05", "--json", "--out", model);
        Assert.That(train.ExitCode, Is.Zero, train.Error);
        Assert.That(Parse(train.Lines[^1]).GetProperty("classes").EnumerateArray().Select(c => c.GetProperty("name").GetString()), Is.EqualTo(new[] { "bright", "dark" }));

        var predict = Run("predict", "--model-file", model, "--json", Path.Combine(data, "test", "dark", "0.png"), Path.Combine(data, "test", "bright", "1.png"));
        Assert.That(predict.ExitCode, Is.Zero, predict.Error);
        Assert.That(predict.Lines, Has.Length.EqualTo(2));
        var first = Parse(predict.Lines[0]).GetProperty("predictions").EnumerateArray().ToList();
        Assert.That(first, Has.Count.EqualTo(2), "top-5 of a 2-class model is both classes");
        Assert.That(first.Sum(p => p.GetProperty("probability").GetDouble()), Is.EqualTo(1).Within(1e-5));
        Assert.That(first.Select(p => p.GetProperty("probability").GetDouble()), Is.Ordered.Descending);
        Assert.That(first[0].GetProperty("name").GetString(), Is.EqualTo("dark"));
        Assert.That(Parse(predict.Lines[1]).GetProperty("predictions")[0].GetProperty("name").GetString(), Is.EqualTo("bright"));
    }

    [Test]
    public void PredictAgreesWithTheTrainedModelOnATestDigitWrittenAsPgm()
    {
        var model = PathOf("d.safetensors");
        Assert.That(Run("train", "--epochs", "1", "--limit", "512", "--out", model).ExitCode, Is.Zero);
        // Test digit 0 back to its bytes (the normalization undone and rounded), written by our PNM encoder.
        var test = Support.TestData.MnistTest;
        var image = Engine.Cli.Reports.TrainingReportPage.TestImage(new Engine.Data.Dataset(test.Images, test.Labels, test.ItemShape, test.Classes)
        {
            Normalization = new Engine.Data.ChannelNormalization([Engine.Data.Dataset.MnistMean], [Engine.Data.Dataset.MnistStd]),
        }, 0);
        var file = PathOf("digit.pgm");
        image.Save(file);
        var predict = Run("predict", "--model-file", model, file);
        Assert.That(predict.ExitCode, Is.Zero, predict.Error);
        Assert.That(predict.Lines, Has.Length.EqualTo(6), "the file name and five classes");

        var checkpoint = Checkpoint.Load(model);
        var net = Engine.Models.ModelZoo.Create("lenet5");
        checkpoint.LoadInto(net);
        using var backend = new Engine.Cpu.CpuBackend(1);
        net.To(backend);
        var evaluation = Engine.Training.Trainer.EvaluateDetailed(net, new Engine.Data.DataLoader(Engine.Cli.DataOptions.Take(test, 1), 1), backend);
        string expected = $"{evaluation.Predicted[0],3}  {evaluation.Predicted[0]}";
        Assert.That(predict.Lines[1], Does.EndWith(expected), "the top class is the one evaluation predicts for the same digit");
        double printed = double.Parse(predict.Lines[1].Trim().Split('%')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(printed, Is.EqualTo(evaluation.Confidence[0] * 100).Within(0.011), "with the same probability (to the printed 0.01%)");
    }

    [Test]
    public void PredictNeedsImagesAndReadableFiles()
    {
        var model = PathOf("e.safetensors");
        Assert.That(Run("train", "--epochs", "1", "--limit", "64", "--out", model).ExitCode, Is.Zero);
        Assert.That(Run("predict", "--model-file", model).ExitCode, Is.EqualTo(2));
        var bad = PathOf("bad.png");
        File.WriteAllText(bad, "not an image");
        var result = Run("predict", "--model-file", model, bad);
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain(bad));
        Assert.That(Run("predict", "--help").Lines[0], Is.EqualTo("usage: engine predict [options] IMAGE..."));
    }
}
