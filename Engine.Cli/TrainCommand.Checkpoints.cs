using System.Globalization;
using Engine.Data;
using Engine.Models;
using Engine.Nn;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>train's --weights (fine-tuning start), --checkpoint (full state after every epoch) and --resume.</summary>
public static partial class TrainCommand
{
    public static readonly OptionSpec WeightsOption = new("weights", "FILE",
        "start from these weights: a safetensors file (from train, or Hugging Face's) or a PyTorch .pt/.pth state_dict with the model's torchvision names; " +
        "a classifier head for another number of classes is replaced by a fresh one for the data's classes");
    public static readonly OptionSpec CheckpointOption = new("checkpoint", "FILE",
        "after every epoch, save the full training state here (weights, optimizer state, epoch, random state; written atomically) for --resume");
    public static readonly OptionSpec ResumeOption = new("resume", "FILE",
        "continue the run saved by --checkpoint FILE, bitwise as if it had never stopped; model, optimizer, lr, momentum, batch size and seed come from " +
        "the checkpoint (options given must agree with it); --epochs counts from the start of the run; saving continues to FILE unless --checkpoint names another");

    private const string SettingPrefix = "train.";

    /// <summary>The run's settings, taken from the checkpoint named by --resume when there is one.</summary>
    private static Settings Resumed(Settings settings, ParsedOptions options, out LoadedTrainingCheckpoint? resume)
    {
        resume = null;
        string? path = options.String(ResumeOption.Name);
        if (path is null) return settings;
        if (options.Has(WeightsOption.Name))
            throw new UsageException("train: --resume continues from its checkpoint's weights; drop --weights");
        resume = TrainingCheckpoint.Load(path);
        var saved = resume.Metadata;
        var mismatches = new List<string>();
        string Take(string option, string current)
        {
            string value = saved.TryGetValue(SettingPrefix + option, out var v)
                ? v
                : throw new InvalidDataException($"training checkpoint '{path}' was not written by train --checkpoint (no '{SettingPrefix + option}')");
            if (options.Has(option) && value != current) mismatches.Add($"--{option} {current} (the checkpoint has {value})");
            return value;
        }
        var resumed = settings with
        {
            Model = Take("model", settings.Model),
            Optimizer = Take("optimizer", settings.Optimizer),
            LearningRate = float.Parse(Take("lr", Text(settings.LearningRate)), CultureInfo.InvariantCulture),
            Momentum = float.Parse(Take("momentum", Text(settings.Momentum)), CultureInfo.InvariantCulture),
            BatchSize = int.Parse(Take("batch-size", Text(settings.BatchSize)), CultureInfo.InvariantCulture),
            Seed = ulong.Parse(Take("seed", settings.Seed.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
        };
        if (mismatches.Count > 0)
            throw new UsageException($"train: --resume {path}: the options differ from the checkpoint's run: {string.Join(", ", mismatches)}");
        var done = resume.Progress;
        if (done.Epoch >= resumed.Epochs)
            throw new UsageException($"train: --resume {path}: the checkpoint has finished {done.Epoch} epochs; pass --epochs above {done.Epoch}");
        return resumed;
    }

    private static string Text(float value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The model to train: fresh from the seed, or from --weights with the head sized for the data.</summary>
    private static Module CreateModel(Settings settings, ParsedOptions options, Dataset train)
    {
        var init = new Generator(settings.Seed);
        string? weights = options.String(WeightsOption.Name);
        return weights is null
            ? ModelZoo.Create(settings.Model, train.Classes, train.ItemShape[0], init)
            : ModelZoo.CreateForFineTuning(settings.Model, weights, train.Classes, train.ItemShape[0], init);
    }

    /// <summary>Restores the saved state into the new model and optimizer; the start of the run otherwise.</summary>
    private static TrainingProgress Restore(LoadedTrainingCheckpoint? resume, Trainer trainer, Dataset train, ulong seed)
    {
        if (resume is null)
        {
            // Dropout draws from the default generator: seed it like everything else (a resume restores its position).
            Generator.Default.ManualSeed(seed);
            return new TrainingProgress(0, 0);
        }
        string images = resume.Metadata.GetValueOrDefault(SettingPrefix + "images", "?");
        if (images != Text(train.Count))
            throw new UsageException($"train: --resume {resume.File}: the run trained on {images} images, this data has {train.Count} (use the same --data and --limit)");
        return resume.Restore(trainer.Model, trainer.Optimizer);
    }

    /// <summary>Writes the --checkpoint file after epoch <paramref name="epochsDone"/>.</summary>
    private static void SaveCheckpoint(ParsedOptions options, Settings settings, Trainer trainer, Dataset train, string directory, int epochsDone)
    {
        string? path = options.String(CheckpointOption.Name) ?? (options.Has(ResumeOption.Name) ? options.String(ResumeOption.Name) : null);
        if (path is null) return;
        var extra = new Dictionary<string, string>
        {
            ["data"] = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)),
            [SettingPrefix + "model"] = settings.Model,
            [SettingPrefix + "optimizer"] = settings.Optimizer,
            [SettingPrefix + "lr"] = Text(settings.LearningRate),
            [SettingPrefix + "momentum"] = Text(settings.Momentum),
            [SettingPrefix + "batch-size"] = Text(settings.BatchSize),
            [SettingPrefix + "seed"] = settings.Seed.ToString(CultureInfo.InvariantCulture),
            [SettingPrefix + "images"] = Text(train.Count),
        };
        TrainingCheckpoint.Save(path, trainer.Model, trainer.Optimizer, scheduler: null, new TrainingProgress(epochsDone, 0),
            new CheckpointInfo(settings.Model, train.Classes, train.ItemShape[0]), extra);
    }
}
