using System.Diagnostics;
using System.Globalization;
using Engine.Data;
using Engine.Models;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// "engine train --task segmentation": trains a U-Net on the generated shapes (fresh samples every epoch) or on
/// image/mask folder pairs, prints each epoch's loss, pixel accuracy, IoU and F1 (with the best threshold of a
/// sweep), saves the checkpoint, and with --report writes an HTML page of predicted beside true masks.
/// </summary>
public static class SegmentationTrain
{
    public const string Classification = "classification", Segmentation = "segmentation";
    public const string DefaultModel = "unet_small", DefaultLoss = "bce+dice";
    public const int DefaultEpochs = 3, DefaultBatchSize = 16, DefaultTrainSize = 1024, DefaultTestSize = 256, DefaultImageSize = 64;
    public const float DefaultLearningRate = 0.003f;

    public static readonly OptionSpec Task = new("task", "NAME", $"{Classification} or {Segmentation} (U-Net on generated shapes, or --data with images/ and masks/ folders)", Classification);

    /// <summary>The options only segmentation reads (the rest are train's own).</summary>
    public static readonly OptionSpec[] Options =
    [
        Task,
        new("image-size", "N", "segmentation: side of the generated shape images", DefaultImageSize.ToString(CultureInfo.InvariantCulture)),
        new("train-size", "N", "segmentation: generated training images per epoch (fresh ones every epoch; --limit also caps it)", DefaultTrainSize.ToString(CultureInfo.InvariantCulture)),
        new("test-size", "N", "segmentation: generated test images", DefaultTestSize.ToString(CultureInfo.InvariantCulture)),
        new("loss", "NAME", "segmentation: per-pixel loss bce, dice or bce+dice", DefaultLoss),
        new("report", "DIR", "write DIR/index.html, a self-contained page of the run (for segmentation: curves, threshold sweep, predicted beside true masks)"),
    ];

    /// <summary><paramref name="options"/> followed by those of <see cref="Options"/> it does not already declare.</summary>
    public static OptionSpec[] WithOptions(IEnumerable<OptionSpec> options)
    {
        var list = options.ToList();
        list.AddRange(Options.Where(o => !list.Exists(existing => existing.Name == o.Name)));
        return [.. list];
    }

    /// <summary>True when the options ask for segmentation (train hands the run over).</summary>
    public static bool Requested(ParsedOptions options) => options.Choice(Task.Name, Classification, Classification, Segmentation) == Segmentation;

    private sealed record Settings(string Model, int Epochs, int BatchSize, string Optimizer, float LearningRate, SegmentationLoss Loss,
        ulong Seed, int Threads, int ImageSize, int TrainSize, int TestSize, string Out, string? Report, bool Json);

    /// <summary>train's options that a segmentation run reads; any other given with --task segmentation is refused.</summary>
    private static readonly HashSet<string> s_segmentationOptions = new(StringComparer.Ordinal)
    {
        "model", "data", "epochs", "batch-size", "optimizer", "lr", "momentum", "seed", "threads", "backend", "limit", "out", "json",
        "task", "image-size", "train-size", "test-size", "loss", "report",
    };

    /// <summary>Refuses options that only one of the two tasks reads, naming them all, instead of ignoring them.</summary>
    public static void CheckOptions(ParsedOptions options, bool segmentation)
    {
        var misplaced = segmentation
            ? options.Names.Where(n => !s_segmentationOptions.Contains(n) && n != CommandSpec.Help.Name).ToList()
            : options.Names.Where(n => n is "image-size" or "train-size" or "test-size" or "loss").ToList();
        if (misplaced.Count > 0)
            throw new UsageException(segmentation
                ? $"train --task segmentation does not use {string.Join(", ", misplaced.Select(n => "--" + n))} (classification options)"
                : $"train: {string.Join(", ", misplaced.Select(n => "--" + n))} only apply to --task segmentation");
    }

    public static int Run(ParsedOptions options, CliContext context)
    {
        CheckOptions(options, segmentation: true);
        var s = Read(options);
        var (description, train, test) = LoadData(options, s);
        var backend = BackendOptions.Create(options, s.Threads);
        using var disposeBackend = backend as IDisposable;
        int channels = train.ItemShape[0];
        var model = ModelZoo.Create(s.Model, 1, channels, new Generator(s.Seed));
        model.To(backend);
        Optimizer optimizer = s.Optimizer switch
        {
            "sgd" => new Sgd(model.Parameters(), s.LearningRate, momentum: options.NonNegativeFloat("momentum", TrainCommand.DefaultMomentum)),
            "adamw" => new AdamW(model.Parameters(), s.LearningRate),
            _ => new Adam(model.Parameters(), s.LearningRate),
        };
        var trainer = new SegmentationTrainer(model, optimizer, backend, s.Loss);
        if (!s.Json)
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"training {s.Model} ({model.ParameterCount():N0} parameters) for segmentation on {description}: {train.Count:N0} training images per epoch, {test.Count:N0} test images of {train.ItemShape}; " +
                $"batch {s.BatchSize}, {s.Optimizer} lr {s.LearningRate}, loss {LossName(s.Loss)}, seed {s.Seed}, {BackendOptions.Describe(backend)}"));

        var testLoader = new SegmentationLoader(test, TrainCommand.EvalBatchSize / 8);
        var history = new List<SegmentationEpoch>();
        var clock = Stopwatch.StartNew();
        ISegmentationSource epochData = train;
        for (int epoch = 0; epoch < s.Epochs; epoch++)
        {
            var loader = new SegmentationLoader(epochData, s.BatchSize, shuffle: true, seed: s.Seed);
            var trained = trainer.TrainEpoch(loader, epoch);
            var sweep = ThresholdSweep.Uniform();
            var tested = SegmentationTrainer.Evaluate(model, testLoader, backend, s.Loss, sweep);
            var record = new SegmentationEpoch(epoch + 1, trained, tested, sweep, clock.Elapsed.TotalSeconds);
            history.Add(record);
            if (s.Json) WriteJson(context, record);
            else context.Out.WriteLine(EpochLine(record, s.Epochs));
            if (epochData is ShapesSource shapes) epochData = shapes.Next();
        }

        var info = new CheckpointInfo(s.Model, 1, channels);
        Checkpoint.Save(s.Out, model, info, new Dictionary<string, string> { ["task"] = Segmentation, ["data"] = description });
        var last = history[^1];
        if (s.Report is not null)
            SegmentationReport.Write(s.Report, new SegmentationReport.Run(s.Model, description, DescribeSettings(s), history,
                SegmentationReport.Examples(model, test, backend, last.Sweep.BestIoU().Threshold)));
        if (!s.Json)
        {
            var (threshold, best) = last.Sweep.BestIoU();
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"final test IoU {last.Test.Counts.IoU:F4} at threshold 0.5 (best {best.IoU:F4} at {threshold:0.##}), F1 {last.Test.Counts.F1:F4}, pixel accuracy {Format.Percent(last.Test.Counts.PixelAccuracy)}; {clock.Elapsed.TotalSeconds:F1} s ({Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds:F1} s of CPU time)"));
            context.Out.WriteLine($"saved {s.Out}");
            if (s.Report is not null) context.Out.WriteLine($"report {Path.Combine(s.Report, SegmentationReport.PageName)}");
        }
        return 0;
    }

    private static Settings Read(ParsedOptions options)
    {
        string model = options.String("model", DefaultModel);
        ModelZoo.Find(model);
        string optimizer = options.Choice("optimizer", "adam", "sgd", "adam", "adamw");
        string output = TrainCommand.OutputPath(options, model);
        var loss = options.Choice("loss", DefaultLoss, "bce", "dice", "bce+dice") switch
        {
            "bce" => SegmentationLoss.Bce,
            "dice" => SegmentationLoss.Dice,
            _ => SegmentationLoss.BceDice,
        };
        int limit = options.Int(DataOptions.Limit.Name, int.MaxValue, min: 1);
        return new Settings(model,
            options.Int("epochs", DefaultEpochs, min: 1),
            options.Int("batch-size", DefaultBatchSize, min: 1),
            optimizer,
            options.PositiveFloat("lr") ?? (optimizer == "sgd" ? 0.01f : DefaultLearningRate),
            loss,
            options.ULong("seed", TrainCommand.DefaultSeed),
            options.Int("threads", 0, min: 0),
            options.Int("image-size", DefaultImageSize, min: 16),
            Math.Min(options.Int("train-size", DefaultTrainSize, min: 1), limit),
            Math.Min(options.Int("test-size", DefaultTestSize, min: 1), limit),
            output,
            options.String("report"),
            options.Flag("json"));
    }

    /// <summary>
    /// The generated shapes (train stream 0, test stream 1), or image/mask folder pairs under --data (DIR/train and
    /// DIR/test, each with images/ and masks/; cut to --limit).
    /// </summary>
    private static (string Description, ISegmentationSource Train, ISegmentationSource Test) LoadData(ParsedOptions options, Settings s)
    {
        if (options.String(DataOptions.Data.Name) is { } directory)
        {
            var (train, test) = MaskFolder.LoadSplits(directory);
            int limit = options.Int(DataOptions.Limit.Name, int.MaxValue, min: 1);
            return (directory, train.Take(limit), test.Take(limit));
        }
        return ($"generated shapes {s.ImageSize}x{s.ImageSize}",
            new ShapesSource(s.TrainSize, s.ImageSize, s.Seed, stream: 0),
            new ShapesSource(s.TestSize, s.ImageSize, s.Seed, stream: 1));
    }

    private static string LossName(SegmentationLoss loss) => loss switch
    {
        SegmentationLoss.Bce => "bce",
        SegmentationLoss.Dice => "dice",
        _ => "bce+dice",
    };

    private static string DescribeSettings(Settings s) => string.Create(CultureInfo.InvariantCulture,
        $"{s.Epochs} epochs, batch {s.BatchSize}, {s.Optimizer} lr {s.LearningRate}, loss {LossName(s.Loss)}, seed {s.Seed}");

    /// <summary>"epoch 1/8: train loss 0.41, IoU 0.80 | test loss 0.20, pixel accuracy 97.10%, IoU 0.9012, F1 0.9480 (best IoU 0.9050 at 0.4) | 123 images/s, 12.3 s".</summary>
    public static string EpochLine(SegmentationEpoch e, int epochs) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {e.Epoch}/{epochs}: train loss {e.Train.Loss:F4}, IoU {e.Train.Counts.IoU:F4} | test loss {e.Test.Loss:F4}, pixel accuracy {Format.Percent(e.Test.Counts.PixelAccuracy)}, " +
        $"IoU {e.Test.Counts.IoU:F4}, F1 {e.Test.Counts.F1:F4} (best IoU {e.Sweep.BestIoU().Counts.IoU:F4} at {e.Sweep.BestIoU().Threshold:0.##}) | " +
        $"{e.Train.ImagesPerSecond:N0} images/s, {e.Train.Seconds:F2} s");

    private static void WriteJson(CliContext context, SegmentationEpoch e) => JsonLine.Write(context.Out, w =>
    {
        var (threshold, best) = e.Sweep.BestIoU();
        w.WriteNumber("epoch", e.Epoch);
        w.Number("train_loss", e.Train.Loss);
        w.Number("train_iou", e.Train.Counts.IoU);
        w.Number("test_loss", e.Test.Loss);
        w.Number("test_pixel_accuracy", e.Test.Counts.PixelAccuracy);
        w.Number("test_iou", e.Test.Counts.IoU);
        w.Number("test_f1", e.Test.Counts.F1);
        w.Number("best_threshold", threshold);
        w.Number("best_iou", best.IoU);
        w.Number("images_per_second", e.Train.ImagesPerSecond);
        w.Number("seconds", e.Train.Seconds);
        w.Number("elapsed_seconds", e.ElapsedSeconds);
    });
}

/// <summary>One epoch of segmentation training: train and test passes, the test threshold sweep, and the time since the start.</summary>
public sealed record SegmentationEpoch(int Epoch, SegmentationStats Train, SegmentationStats Test, ThresholdSweep Sweep, double ElapsedSeconds);
