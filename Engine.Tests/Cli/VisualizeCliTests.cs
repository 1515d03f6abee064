using System.Diagnostics;
using System.Text.Json;
using Engine.Imaging;
using Engine.Models;
using Engine.Serialization;
using NUnit.Framework;
using CommandLine = Engine.Cli.Cli;

namespace Engine.Tests.Cli;

/// <summary>"engine visualize" on a saved LeNet-5, and "engine train --task segmentation" with its report.</summary>
[TestFixture]
public sealed class VisualizeCliTests
{
    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("engine-visualize-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    private static (int Code, string Out, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private string SavedLeNet()
    {
        var path = PathOf("lenet5.safetensors");
        Checkpoint.Save(path, new LeNet5(generator: new Generator(4)), new CheckpointInfo("lenet5", 10, 1));
        return path;
    }

    [Test]
    public void EveryKindWritesAPicture()
    {
        var model = SavedLeNet();
        var digit = PathOf("digit.pgm");
        new Image(20, 20, 1, Enumerable.Range(0, 400).Select(i => (byte)(i % 20 is > 7 and < 12 ? 255 : 0)).ToArray()).Save(digit);
        var runs = new (string Name, string[] Args, string Says)[]
        {
            ("filters.png", ["--what", "filters", "--model-file", model], "filters of features.0.weight (6,1,5,5)"),
            ("conv2.png", ["--what", "filters", "--model-file", model, "--layer", "features.3"], "filters of features.3 (16,6,5,5)"),
            ("maps.png", ["--what", "features", "--model-file", model, "--image", digit, "--layer", "features.2"], "feature maps of features.2 (1,6,14,14)"),
            ("class.png", ["--what", "maximize", "--model-file", model, "--class", "2", "--steps", "16"], "activation maximization of output channel 2"),
            ("examples.png", ["--what", "examples", "--model-file", model, "--layer", "features.4", "--channel", "3", "--count", "4", "--limit", "200"], "the 4 test images"),
        };
        foreach (var (name, args, says) in runs)
        {
            var result = Run(["visualize", .. args, "--threads", "2", "--out", PathOf(name)]);
            Assert.That(result.Code, Is.Zero, $"{name}: {result.Error}");
            Assert.That(result.Out, Does.StartWith(says), name);
            Assert.That(Image.Load(PathOf(name)).Width, Is.Positive, name);
        }
        var kernels = Run("visualize", "--what", "kernels", "--image", digit, "--out", PathOf("kernels"));
        Assert.That(kernels.Code, Is.Zero, kernels.Error);
        foreach (var name in new[] { "input", "sobel-x", "sobel-y", "sobel-magnitude", "gaussian-blur", "sharpen", "laplacian" })
            Assert.That(Image.Load(Path.Combine(PathOf("kernels"), name + ".png")).Width, Is.EqualTo(20), name);
    }

    [Test]
    public void MistakesAreOneClearLine()
    {
        var model = SavedLeNet();
        var missing = Run("visualize", "--what", "filters", "--model-file", model, "--layer", "features.7", "--out", PathOf("x.png"));
        Assert.That(missing.Code, Is.EqualTo(1));
        Assert.That(missing.Error, Does.StartWith("error: ").And.Contain("no convolution weight named 'features.7'").And.Contain("features.3.weight"));
        var kind = Run("visualize", "--what", "everything", "--out", PathOf("x.png"));
        Assert.That(kind.Code, Is.EqualTo(2));
        Assert.That(kind.Error, Does.Contain("expects one of filters, features, maximize, kernels, examples, got 'everything'"));
        var neuron = Run("visualize", "--what", "maximize", "--model-file", model, "--neuron", "3", "--out", PathOf("x.png"));
        Assert.That(neuron.Code, Is.EqualTo(2));
        Assert.That(neuron.Error, Does.Contain("'--neuron' expects ROW,COL"));
    }

    [Test]
    public void OptionsOfTheOtherTaskAreRefusedByName()
    {
        var segmentation = Run("train", "--task", "segmentation", "--resume", PathOf("run.safetensors"), "--schedule", "cosine", "--out", PathOf("s.safetensors"));
        Assert.That(segmentation.Code, Is.EqualTo(2));
        Assert.That(segmentation.Error, Does.Contain("train --task segmentation does not use --resume, --schedule"));
        var classification = Run("train", "--loss", "dice", "--image-size", "32", "--out", PathOf("c.safetensors"));
        Assert.That(classification.Code, Is.EqualTo(2));
        Assert.That(classification.Error, Does.Contain("--loss, --image-size only apply to --task segmentation"));
    }

    [Test]
    public void SegmentationTrainingPrintsJsonSavesAndReports()
    {
        var model = PathOf("unet.safetensors");
        var report = PathOf("report");
        var result = Run("train", "--task", "segmentation", "--epochs", "2", "--train-size", "32", "--test-size", "16", "--image-size", "32",
            "--batch-size", "8", "--threads", "2", "--json", "--out", model, "--report", report);
        Assert.That(result.Code, Is.Zero, result.Error);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(2), "one JSON object per epoch and nothing else");
        var last = JsonDocument.Parse(lines[1]).RootElement;
        Assert.That(last.GetProperty("epoch").GetInt32(), Is.EqualTo(2));
        foreach (var field in new[] { "test_pixel_accuracy", "test_iou", "test_f1", "best_iou", "best_threshold" })
            Assert.That(last.GetProperty(field).GetDouble(), Is.InRange(0.0, 1.0), field);
        var checkpoint = Checkpoint.Load(model);
        Assert.That(checkpoint.Info, Is.EqualTo(new CheckpointInfo("unet_small", 1, 1)));
        Assert.That(checkpoint.Content.Metadata["task"], Is.EqualTo("segmentation"));

        var page = File.ReadAllText(Path.Combine(report, "index.html"));
        Assert.That(page, Does.Contain("<svg id=\"loss\"").And.Contain("<svg id=\"iou\"").And.Contain("<table id=\"sweep\""));
        Assert.That(CountOf(page, "src=\"data:image/png;base64,"), Is.EqualTo(4 * 12), "image, true mask, probability and predicted mask of 12 test images");
        Assert.That(page.Replace("http://www.w3.org/2000/svg", "", StringComparison.Ordinal), Does.Not.Contain("http:").And.Not.Contain("https:"), "no network references (the SVG namespace aside)");

        var dom = DumpDom(Path.Combine(report, "index.html"));
        Assert.That(CountOf(dom, "class=\"series\""), Is.EqualTo(4), "two curves in each of the two charts");
        Assert.That(CountOf(dom, "alt=\"predicted mask\""), Is.EqualTo(12));

        var maps = Run("visualize", "--what", "features", "--model-file", model, "--image", WriteShape(), "--layer", "down.0", "--out", PathOf("unet-maps.png"));
        Assert.That(maps.Code, Is.Zero, maps.Error);
        Assert.That(maps.Out, Does.StartWith("feature maps of down.0 (1,8,64,64)"));
    }

    [Test]
    public void SegmentationTrainsOnImageAndMaskFolders()
    {
        // 16 training and 8 test pairs of 32 x 32 generated shapes written as PNG files.
        var root = PathOf("pairs");
        foreach (var (split, count, stream) in new[] { ("train", 16, 0), ("test", 8, 1) })
        {
            var source = new Engine.Data.ShapesSource(count, 32, seed: 2, stream: stream);
            foreach (var folder in new[] { "images", "masks" }) Directory.CreateDirectory(Path.Combine(root, split, folder));
            var image = new float[32 * 32];
            var mask = new float[32 * 32];
            for (int i = 0; i < count; i++)
            {
                source.Fill(i, image, mask);
                Image.FromChw(image, 1, 32, 32).Save(Path.Combine(root, split, "images", $"{i:D2}.png"));
                Image.FromChw(mask, 1, 32, 32).Save(Path.Combine(root, split, "masks", $"{i:D2}.png"));
            }
        }
        var result = Run("train", "--task", "segmentation", "--data", root, "--epochs", "1", "--batch-size", "8", "--threads", "2", "--out", PathOf("pairs.safetensors"));
        Assert.That(result.Code, Is.Zero, result.Error);
        Assert.That(result.Out, Does.Contain($"on {root}: 16 training images per epoch, 8 test images of (1,32,32)"));
        Assert.That(result.Out, Does.Contain("epoch 1/1: train loss"));
    }

    private string WriteShape()
    {
        var path = PathOf("shape.png");
        new Image(64, 64, 1, Enumerable.Range(0, 64 * 64).Select(i => (byte)(Math.Abs(i / 64 - 32) + Math.Abs(i % 64 - 32) < 12 ? 200 : 60)).ToArray()).Save(path);
        return path;
    }

    private static int CountOf(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    /// <summary>The page as headless Chromium renders it (its DOM after layout), or the test is ignored without Chromium.</summary>
    private static string DumpDom(string page)
    {
        var chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        if (chromium is null) Assert.Ignore("chromium is not installed (Debian package 'chromium'); the report's DOM was not checked");
        var start = new ProcessStartInfo(chromium!, ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", new Uri(page).AbsoluteUri])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var dom = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("chromium did not finish rendering the report within 2 minutes");
        }
        return dom.Result;
    }
}
