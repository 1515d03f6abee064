using System.Globalization;
using Engine.Data;
using Engine.Optim;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// The training options beyond model and optimizer (epochs, validation split, schedule, warm-up, clipping, early
/// stopping, augmentation), with defaults chosen per kind of data: the "recipe". Options given on the command line
/// always win.
/// </summary>
public sealed record TrainRecipe(int Epochs, double ValidationSplit, string Schedule, int WarmupEpochs, int StepEpochs, float Gamma,
    float? ClipNorm, int? Patience, MonitoredMetric Monitor, string Augment, float WeightDecay)
{
    public static readonly string[] Schedules = ["constant", "step", "cosine", "onecycle"];

    public static readonly OptionSpec[] Options =
    [
        new("val-split", "FRACTION", "hold out this fraction of the training set (seeded) for validation: picks the best epoch, drives --patience", "0"),
        new("schedule", "NAME", "learning-rate schedule, stepped every batch: constant, step (x --gamma every --step-epochs), cosine (to 0), onecycle (--lr is the peak)", "per data, see below"),
        new("warmup", "EPOCHS", "linear learning-rate warm-up before constant, step or cosine", "0"),
        new("step-epochs", "N", "epochs between decays of --schedule step", "a third of --epochs"),
        new("gamma", "G", "decay factor of --schedule step", "0.1"),
        new("weight-decay", "WD", "L2 weight decay (sgd, adam) or decoupled decay (adamw)", "per data, see below"),
        new("clip-norm", "MAX", "clip the gradients' joint L2 norm to MAX before each step", "no clipping"),
        new("patience", "N", "stop after N epochs without improvement of --monitor (needs --val-split)", "never"),
        new("monitor", "METRIC", "val_accuracy or val_loss: what picks the best epoch and drives --patience", "val_accuracy"),
        new("augment", "LIST", "none, or a comma list of crop[:PAD] (random crop after padding PAD pixels, default 2 for 28x28 and 4 for 32x32), flip (horizontal), erase (random erasing)", "per data, see below"),
    ];

    public const string Notes =
        "Recipes (defaults of --epochs, --schedule, --augment, --weight-decay by data):\n" +
        "  MNIST digits:   5 epochs, constant, none, 0\n" +
        "  Fashion-MNIST:  15 epochs, cosine, flip, 0  (a directory whose name contains 'fashion')\n" +
        "  CIFAR-10/100:   30 epochs, cosine, crop:4,flip, 5e-4\n" +
        "  image folders:  10 epochs, cosine, flip, 0\n" +
        "With --val-split, the best epoch's weights are saved beside --out as NAME.best.safetensors.";

    /// <summary>The recipe for <paramref name="kind"/>, overridden by what the options give.</summary>
    public static TrainRecipe Read(ParsedOptions options, DataKind kind)
    {
        var defaults = For(kind);
        int epochs = options.Int("epochs", defaults.Epochs, min: 1);
        double split = options.NonNegativeFloat("val-split", 0f);
        if (split >= 1) throw new UsageException($"train: option '--val-split' expects a fraction in [0, 1), got '{options.String("val-split")}'");
        var monitor = options.Choice("monitor", "val_accuracy", "val_accuracy", "val_loss") == "val_loss" ? MonitoredMetric.ValidationLoss : MonitoredMetric.ValidationAccuracy;
        int? patience = options.Has("patience") ? options.Int("patience", 0, min: 1) : null;
        if (patience is not null && split == 0) throw new UsageException("train: option '--patience' needs a validation split (--val-split FRACTION)");
        if (options.Has("monitor") && split == 0) throw new UsageException("train: option '--monitor' needs a validation split (--val-split FRACTION)");
        string augment = options.String("augment", defaults.Augment);
        ParseAugment(augment, 28, 0f);
        return new TrainRecipe(
            epochs,
            split,
            options.Choice("schedule", defaults.Schedule, Schedules),
            options.Int("warmup", 0, min: 0),
            options.Int("step-epochs", Math.Max(epochs / 3, 1), min: 1),
            options.PositiveFloat("gamma") ?? 0.1f,
            options.PositiveFloat("clip-norm"),
            patience,
            monitor,
            augment,
            options.NonNegativeFloat("weight-decay", defaults.WeightDecay));
    }

    /// <summary>The defaults for a kind of data (see <see cref="Notes"/>).</summary>
    public static TrainRecipe For(DataKind kind) => kind switch
    {
        DataKind.FashionMnist => Base with { Epochs = 15, Schedule = "cosine", Augment = "flip" },
        DataKind.Cifar10 or DataKind.Cifar100 => Base with { Epochs = 30, Schedule = "cosine", Augment = "crop:4,flip", WeightDecay = 5e-4f },
        DataKind.ImageFolder => Base with { Epochs = 10, Schedule = "cosine", Augment = "flip" },
        _ => Base,
    };

    private static readonly TrainRecipe Base = new(TrainCommand.DefaultEpochs, 0, "constant", 0, 1, 0.1f, null, null, MonitoredMetric.ValidationAccuracy, "none", 0f);

    /// <summary>The schedule over <paramref name="batchesPerEpoch"/> x <see cref="Epochs"/> optimizer steps (null: constant without warm-up).</summary>
    public LearningRateScheduler? CreateScheduler(Optimizer optimizer, int batchesPerEpoch)
    {
        int total = Epochs * batchesPerEpoch, warmup = Math.Min(WarmupEpochs * batchesPerEpoch, total);
        return Schedule switch
        {
            "onecycle" => new OneCycleLR(optimizer, optimizer.LearningRate, total),
            "cosine" => new CosineAnnealingLR(optimizer, total, warmup),
            "step" => new LinearWarmup(optimizer, warmup, new StepLR(optimizer, StepEpochs * batchesPerEpoch, Gamma)),
            _ => warmup > 0 ? new LinearWarmup(optimizer, warmup) : null,
        };
    }

    /// <summary>The augmentation for items of <paramref name="geometry"/>; crops and erasing fill with <paramref name="fill"/> (the normalized value of a black pixel on one channel, else 0, the mean).</summary>
    public Augmentation? CreateAugmentation(ItemGeometry geometry, float fill) =>
        ParseAugment(Augment, geometry.Height, fill) is { Length: > 0 } transforms ? new Augmentation(transforms) : null;

    private static ITransform[] ParseAugment(string text, int side, float fill)
    {
        if (text == "none") return [];
        var transforms = new List<ITransform>();
        foreach (var term in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var parts = term.Split(':');
            transforms.Add(parts[0] switch
            {
                "crop" when parts.Length == 1 => new RandomCrop(side >= 32 ? 4 : 2, fill),
                "crop" when parts.Length == 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int pad) && pad > 0 => new RandomCrop(pad, fill),
                "flip" when parts.Length == 1 => new HorizontalFlip(),
                "erase" when parts.Length == 1 => new RandomErasing(Value: fill),
                _ => throw new UsageException($"train: option '--augment' expects none or a comma list of crop[:PAD], flip, erase; got '{term}' in '{text}'"),
            });
        }
        return [.. transforms];
    }

    /// <summary>"cosine schedule, warm-up 1 epoch, augment crop:2,flip, validation 10%, ...", for the header line.</summary>
    public string Describe()
    {
        var parts = new List<string> { $"{Epochs} epochs", $"{Schedule} schedule" };
        if (WarmupEpochs > 0) parts.Add($"warm-up {WarmupEpochs} epoch{(WarmupEpochs > 1 ? "s" : "")}");
        if (Schedule == "step") parts.Add(string.Create(CultureInfo.InvariantCulture, $"x{Gamma} every {StepEpochs} epochs"));
        parts.Add($"augment {Augment}");
        if (WeightDecay > 0) parts.Add(string.Create(CultureInfo.InvariantCulture, $"weight decay {WeightDecay}"));
        if (ClipNorm is { } clip) parts.Add(string.Create(CultureInfo.InvariantCulture, $"clip norm {clip}"));
        if (ValidationSplit > 0) parts.Add($"validation {Format.Percent(ValidationSplit, 0)}");
        if (Patience is { } patience) parts.Add($"patience {patience} on {(Monitor == MonitoredMetric.ValidationLoss ? "val_loss" : "val_accuracy")}");
        return string.Join(", ", parts);
    }
}
