using System.Globalization;
using Engine.Data;
using Engine.Models;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>"engine train": trains a zoo model on MNIST-format, CIFAR or image-folder data, reports every epoch, saves a checkpoint.</summary>
public static partial class TrainCommand
{
    public const string DefaultModel = "lenet5";
    public const int DefaultEpochs = 5, DefaultBatchSize = 64, EvalBatchSize = 256;
    public const ulong DefaultSeed = 1;
    public const float DefaultMomentum = 0.9f;

    // SGD: 0.03 reached 96.7-97.3% on the bundled digits after 5 epochs for seeds 1-3 (0.05: 95.2-97.2%; 0.02: 96.2-97.4%; 0.01: 96.6-97.1%).
    /// <summary>The default learning rate of each optimizer.</summary>
    public static float DefaultLearningRate(string optimizer) => optimizer == "sgd" ? 0.03f : 0.001f;

    public static readonly CommandSpec Spec = new("train", "Train a model on MNIST-format, CIFAR or image-folder data (or U-Net segmentation on generated shapes), print each epoch's loss and accuracy, and save the weights.",
    SegmentationTrain.WithOptions(
    [
        new("model", "NAME", $"model to train ({string.Join(", ", ModelZoo.Names)})", DefaultModel),
        DataOptions.Data,
        new("epochs", "N", "passes over the training set", "per data, see below"),
        new("batch-size", "N", "images per training step", DefaultBatchSize.ToString(CultureInfo.InvariantCulture)),
        new("optimizer", "NAME", "sgd (with momentum), adam or adamw", "sgd"),
        new("lr", "RATE", "learning rate", "0.03 for sgd, 0.001 for adam and adamw"),
        new("momentum", "M", "SGD momentum", "0.9"),
        new("seed", "N", "seed of the initial weights and of the shuffling", DefaultSeed.ToString(CultureInfo.InvariantCulture)),
        new("threads", "N", "CPU threads (0: one per core)", "0"),
        BackendOptions.Backend,
        DataOptions.Limit,
        new("out", "FILE", "where to save the trained weights (safetensors, written atomically)", "MODEL.safetensors"),
        WeightsOption,
        CheckpointOption,
        ResumeOption,
        new("json", null, "print one JSON object per epoch (epoch, train_loss, train_accuracy, [val_loss, val_accuracy, best,] test_loss, test_accuracy, test_top5_accuracy, learning_rate, images_per_second, seconds), then one summary object (per-class metrics, confusion matrix), and nothing else"),
        .. TrainRecipe.Options,
        TrainSession.ReportOption,
    ]),
    "The same seed gives bitwise identical weights for any thread count.\n" +
    "Interrupted runs: engine train --epochs 10 --checkpoint run.safetensors, then the same command with --resume run.safetensors.\n" +
    "Fine-tuning: engine train --model resnet18 --weights resnet18-f37072fd.pth --data DIR (torchvision's file; the 1000-class head is replaced).\n" +
    "Full Fashion-MNIST (Debian package dataset-fashion-mnist): engine train --data /usr/share/datasets/fashion-mnist\n" +
    "Segmentation (U-Net on generated shapes): engine train --task segmentation --report DIR\n" +
    TrainRecipe.Notes);

    /// <summary>Everything the run needs, validated before any data is read.</summary>
    private sealed record Settings(string Model, int BatchSize, string Optimizer, float LearningRate, float Momentum,
        ulong Seed, int Threads, string Out, bool Json);

    public static int Run(ParsedOptions options, CliContext context)
    {
        if (SegmentationTrain.Requested(options)) return SegmentationTrain.Run(options, context);
        SegmentationTrain.CheckOptions(options, segmentation: false);
        options = Resumed(options, out var resume);
        var settings = Read(options);
        string? reportDirectory = TrainSession.ReportDirectory(options);
        var data = DataOptions.LoadData(options);
        var recipe = TrainRecipe.Read(options, data.Kind);
        if (resume is not null && resume.Progress.Epoch >= recipe.Epochs)
            throw new UsageException($"train: --resume {resume.File}: the checkpoint has finished {resume.Progress.Epoch} epochs; pass --epochs above {resume.Progress.Epoch}");
        var backend = BackendOptions.Create(options, settings.Threads);
        using var disposeBackend = backend as IDisposable;
        var model = CreateModel(settings, options, data.Train);
        model.To(backend);
        var session = new TrainSession(context, data, recipe, settings.Seed, settings.BatchSize);
        var optimizer = CreateOptimizer(settings, model, recipe.WeightDecay);
        var trainer = new Trainer(model, optimizer, backend)
        {
            ClipNorm = recipe.ClipNorm,
            Scheduler = recipe.CreateScheduler(optimizer, session.Loader.BatchCount),
        };
        var stopping = session.CreateEarlyStopping();
        int firstEpoch = Restore(resume, trainer, stopping, session.Train, settings.Seed);
        if (!settings.Json)
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"training {settings.Model} ({model.ParameterCount():N0} parameters) on {data.Directory}: {session.Train.Count:N0} training{(session.Validation is null ? "" : $", {session.Validation.Count:N0} validation")} and {data.Test.Count:N0} test images; " +
                $"batch {settings.BatchSize}, {Describe(settings)}, seed {settings.Seed}, {BackendOptions.Describe(backend)}; {recipe.Describe()}"));

        var history = session.Fit(trainer, settings.Out, settings.Json, settings.Model, firstEpoch, stopping,
            record => SaveCheckpoint(options, session, trainer, stopping, record.Epoch + 1));
        session.SaveCheckpoint(settings.Out, model, settings.Model);
        var final = Trainer.EvaluateDetailed(model, session.TestLoader, backend);
        session.WriteSummary(history, final, settings.Json, settings.Out);
        if (reportDirectory is not null)
        {
            var page = Reports.TrainingReportPage.Write(reportDirectory, settings.Model, model, data, history, final, backend);
            if (!settings.Json) context.Out.WriteLine($"report {page}");
        }
        return 0;
    }

    private static Settings Read(ParsedOptions options)
    {
        string model = options.String("model", DefaultModel);
        ModelZoo.Find(model);
        string optimizer = options.Choice("optimizer", "sgd", "sgd", "adam", "adamw");
        string output = OutputPath(options, model);
        return new Settings(
            model,
            options.Int("batch-size", DefaultBatchSize, min: 1),
            optimizer,
            options.PositiveFloat("lr") ?? DefaultLearningRate(optimizer),
            options.NonNegativeFloat("momentum", DefaultMomentum),
            options.ULong("seed", DefaultSeed),
            options.Int("threads", 0, min: 0),
            output,
            options.Flag("json"));
    }

    /// <summary>--out, or MODEL.safetensors; its directory must exist (checked before any training).</summary>
    internal static string OutputPath(ParsedOptions options, string model)
    {
        string output = options.String("out") ?? $"{model}.safetensors";
        var directory = Path.GetDirectoryName(Path.GetFullPath(output));
        if (directory is not null && !Directory.Exists(directory))
            throw new UsageException($"train: the directory of --out '{output}' does not exist");
        return output;
    }

    private static Optimizer CreateOptimizer(Settings s, Module model, float weightDecay) => s.Optimizer switch
    {
        "adam" => new Adam(model.Parameters(), s.LearningRate, weightDecay: weightDecay),
        "adamw" => new AdamW(model.Parameters(), s.LearningRate, weightDecay: weightDecay > 0 ? weightDecay : 1e-2f),
        _ => new Sgd(model.Parameters(), s.LearningRate, momentum: s.Momentum, weightDecay: weightDecay),
    };

    private static string Describe(Settings s) => s.Optimizer == "sgd"
        ? string.Create(CultureInfo.InvariantCulture, $"sgd lr {s.LearningRate} momentum {s.Momentum}")
        : string.Create(CultureInfo.InvariantCulture, $"{s.Optimizer} lr {s.LearningRate}");
}
