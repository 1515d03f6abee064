using System.Globalization;
using Engine.Data;
using Engine.Models;
using Engine.Nn;
using Engine.Optim;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>"engine train": trains a zoo model on MNIST-format data, reports every epoch, saves a checkpoint.</summary>
public static class TrainCommand
{
    public const string DefaultModel = "lenet5";
    public const int DefaultEpochs = 5, DefaultBatchSize = 64, EvalBatchSize = 256;
    public const ulong DefaultSeed = 1;
    public const float DefaultMomentum = 0.9f;

    // SGD: 0.03 reached 96.7-97.3% on the bundled digits after 5 epochs for seeds 1-3 (0.05: 95.2-97.2%; 0.02: 96.2-97.4%; 0.01: 96.6-97.1%).
    /// <summary>The default learning rate of each optimizer.</summary>
    public static float DefaultLearningRate(string optimizer) => optimizer == "sgd" ? 0.03f : 0.001f;

    public static readonly CommandSpec Spec = new("train", "Train a model on MNIST-format data, print each epoch's loss and accuracy, and save the weights.",
    SegmentationTrain.WithOptions(
    [
        new("model", "NAME", $"model to train ({string.Join(", ", ModelZoo.Names)})", DefaultModel),
        DataOptions.Data,
        new("epochs", "N", "passes over the training set", DefaultEpochs.ToString(CultureInfo.InvariantCulture)),
        new("batch-size", "N", "images per training step", DefaultBatchSize.ToString(CultureInfo.InvariantCulture)),
        new("optimizer", "NAME", "sgd (with momentum), adam or adamw", "sgd"),
        new("lr", "RATE", "learning rate", "0.03 for sgd, 0.001 for adam and adamw"),
        new("momentum", "M", "SGD momentum", "0.9"),
        new("seed", "N", "seed of the initial weights and of the shuffling", DefaultSeed.ToString(CultureInfo.InvariantCulture)),
        new("threads", "N", "CPU threads (0: one per core)", "0"),
        BackendOptions.Backend,
        DataOptions.Limit,
        new("out", "FILE", "where to save the trained weights (safetensors, written atomically)", "MODEL.safetensors"),
        new("json", null, "print one JSON object per epoch (epoch, train_loss, train_accuracy, test_loss, test_accuracy, images_per_second, seconds) and nothing else"),
    ]),
    "The same seed gives bitwise identical weights for any thread count.\n" +
    "Full Fashion-MNIST (Debian package dataset-fashion-mnist): engine train --data /usr/share/datasets/fashion-mnist\n" +
    "Segmentation (U-Net on generated shapes): engine train --task segmentation --report DIR");

    /// <summary>Everything the run needs, validated before any data is read.</summary>
    private sealed record Settings(string Model, int Epochs, int BatchSize, string Optimizer, float LearningRate, float Momentum,
        ulong Seed, int Threads, string Out, bool Json);

    public static int Run(ParsedOptions options, CliContext context)
    {
        if (SegmentationTrain.Requested(options)) return SegmentationTrain.Run(options, context);
        var settings = Read(options);
        var (directory, train, test) = DataOptions.Load(options);
        var backend = BackendOptions.Create(options, settings.Threads);
        using var disposeBackend = backend as IDisposable;
        var model = ModelZoo.Create(settings.Model, train.Classes, train.ItemShape[0], new Generator(settings.Seed));
        model.To(backend);
        var trainer = new Trainer(model, CreateOptimizer(settings, model), backend);
        var report = new TrainReport(context, settings.Json, settings.Epochs);
        if (!settings.Json)
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"training {settings.Model} ({model.ParameterCount():N0} parameters) on {directory}: {train.Count:N0} training and {test.Count:N0} test images; " +
                $"batch {settings.BatchSize}, {Describe(settings)}, seed {settings.Seed}, {BackendOptions.Describe(backend)}"));

        var loader = new DataLoader(train, settings.BatchSize, shuffle: true, seed: settings.Seed);
        var testLoader = new DataLoader(test, EvalBatchSize);
        EpochStats last = default;
        report.Run((onBatch, onEpoch) =>
        {
            for (int epoch = 0; epoch < settings.Epochs; epoch++)
            {
                var stats = trainer.TrainEpoch(loader, epoch, (batch, running) => onBatch(epoch, batch, loader.BatchCount, running));
                last = Trainer.Evaluate(model, testLoader, backend);
                onEpoch(epoch, stats, last);
            }
        });

        var info = new CheckpointInfo(settings.Model, train.Classes, train.ItemShape[0]);
        Checkpoint.Save(settings.Out, model, info, new Dictionary<string, string> { ["data"] = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)) });
        if (!settings.Json)
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"final test accuracy: {Format.Percent(last.Accuracy)} ({last.Images:N0} images, loss {last.Loss:F4})"));
            context.Out.WriteLine($"saved {settings.Out}");
        }
        return 0;
    }

    private static Settings Read(ParsedOptions options)
    {
        string model = options.String("model", DefaultModel);
        ModelZoo.Find(model);
        string optimizer = options.Choice("optimizer", "sgd", "sgd", "adam", "adamw");
        string output = options.String("out") ?? $"{model}.safetensors";
        var directory = Path.GetDirectoryName(Path.GetFullPath(output));
        if (directory is not null && !Directory.Exists(directory))
            throw new UsageException($"train: the directory of --out '{output}' does not exist");
        return new Settings(
            model,
            options.Int("epochs", DefaultEpochs, min: 1),
            options.Int("batch-size", DefaultBatchSize, min: 1),
            optimizer,
            options.PositiveFloat("lr") ?? DefaultLearningRate(optimizer),
            options.NonNegativeFloat("momentum", DefaultMomentum),
            options.ULong("seed", DefaultSeed),
            options.Int("threads", 0, min: 0),
            output,
            options.Flag("json"));
    }

    private static Optimizer CreateOptimizer(Settings s, Module model) => s.Optimizer switch
    {
        "adam" => new Adam(model.Parameters(), s.LearningRate),
        "adamw" => new AdamW(model.Parameters(), s.LearningRate),
        _ => new Sgd(model.Parameters(), s.LearningRate, momentum: s.Momentum),
    };

    private static string Describe(Settings s) => s.Optimizer == "sgd"
        ? string.Create(CultureInfo.InvariantCulture, $"sgd lr {s.LearningRate} momentum {s.Momentum}")
        : string.Create(CultureInfo.InvariantCulture, $"{s.Optimizer} lr {s.LearningRate}");
}
