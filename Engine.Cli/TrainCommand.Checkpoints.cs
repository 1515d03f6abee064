using System.Globalization;
using System.Text.Json;
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
        "after every epoch, save the full training state here (weights, optimizer, schedule and early-stopping state, epoch, random state; written atomically) for --resume");
    public static readonly OptionSpec ResumeOption = new("resume", "FILE",
        "continue the run saved by --checkpoint FILE, bitwise as if it had never stopped; the run's options (model, optimizer, rates, schedule, augmentation, " +
        "validation split, seed...) come from the checkpoint and options given must agree with it; --epochs counts from the start of the run; " +
        "saving continues to FILE unless --checkpoint names another");

    /// <summary>The checkpoint metadata holding the run's options (a JSON object of option name to text, null for flags).</summary>
    private const string OptionsKey = "train.options", ImagesKey = "train.images", StoppingKey = "train.early_stopping";

    /// <summary>
    /// Options that do not change the numbers a run computes (or, like --epochs and --data, may legitimately be
    /// given again differently); every other option given to train is part of the run and saved with it.
    /// </summary>
    private static readonly HashSet<string> s_notPartOfRun = new(StringComparer.Ordinal)
    {
        "epochs", "data", "threads", "backend", "json", "out", "report", "checkpoint", "resume", "weights", CommandSpec.Help.Name,
    };

    /// <summary>
    /// With --resume, the options of the saved run merged with those given (which must agree with the saved ones);
    /// otherwise <paramref name="options"/> unchanged.
    /// </summary>
    private static ParsedOptions Resumed(ParsedOptions options, out LoadedTrainingCheckpoint? resume)
    {
        resume = null;
        string? path = options.String(ResumeOption.Name);
        if (path is null) return options;
        if (options.Has(WeightsOption.Name))
            throw new UsageException("train: --resume continues from its checkpoint's weights; drop --weights");
        resume = TrainingCheckpoint.Load(path);
        var saved = resume.Metadata.TryGetValue(OptionsKey, out var json)
            ? ParseOptions(json) ?? throw new InvalidDataException($"training checkpoint '{path}': '{OptionsKey}' is not a JSON object of option values")
            : throw new InvalidDataException($"training checkpoint '{path}' was not written by train --checkpoint (no '{OptionsKey}')");
        var merged = new Dictionary<string, string?>(saved, StringComparer.Ordinal);
        var mismatches = new List<string>();
        foreach (var name in options.Names)
        {
            string? given = options.String(name);
            if (!s_notPartOfRun.Contains(name))
            {
                if (!saved.TryGetValue(name, out var kept))
                    mismatches.Add($"--{name} {given} (the checkpoint's run used the default{(Spec.Options.FirstOrDefault(o => o.Name == name)?.Default is { } d ? ": " + d : "")})");
                else if (kept != given) mismatches.Add($"--{name} {given} (the checkpoint has {kept})");
            }
            merged[name] = given;
        }
        if (mismatches.Count > 0)
            throw new UsageException($"train: --resume {path}: the options differ from the checkpoint's run: {string.Join(", ", mismatches)}");
        return options.With(merged);
    }

    /// <summary>The model to train: fresh from the seed, or from --weights with the head sized for the data.</summary>
    private static Module CreateModel(Settings settings, ParsedOptions options, Dataset train)
    {
        var init = new Generator(settings.Seed);
        string? weights = options.String(WeightsOption.Name);
        return weights is null
            ? ModelZoo.Create(settings.Model, train.Classes, train.ItemShape[0], init)
            : ModelZoo.CreateForFineTuning(settings.Model, weights, train.Classes, train.ItemShape[0], init);
    }

    /// <summary>
    /// Restores the saved weights, optimizer, scheduler, early-stopping and generator state; returns the epoch to
    /// start from (0 for a fresh run, whose dropout generator is seeded like everything else).
    /// </summary>
    private static int Restore(LoadedTrainingCheckpoint? resume, Trainer trainer, EarlyStopping? stopping, Dataset train, ulong seed)
    {
        if (resume is null)
        {
            Generator.Default.ManualSeed(seed);
            return 0;
        }
        string images = resume.Metadata.GetValueOrDefault(ImagesKey, "?");
        if (images != train.Count.ToString(CultureInfo.InvariantCulture))
            throw new UsageException($"train: --resume {resume.File}: the run trained on {images} images, this data has {train.Count} (use the same --data and --limit)");
        if (stopping is not null)
        {
            var state = resume.Metadata.TryGetValue(StoppingKey, out var text) ? EarlyStoppingState.Parse(text) : null;
            stopping.Restore(state ?? throw new InvalidDataException($"training checkpoint '{resume.File}': '{StoppingKey}' is missing or malformed"));
            if (stopping.ShouldStop)
                throw new UsageException($"train: --resume {resume.File}: the run stopped early (no improvement for {stopping.EpochsWithoutImprovement} epochs)");
        }
        var progress = resume.Restore(trainer.Model, trainer.Optimizer, trainer.Scheduler);
        return progress.Batch == 0 ? progress.Epoch
            : throw new InvalidDataException($"training checkpoint '{resume.File}' stopped inside epoch {progress.Epoch + 1}; train saves at epoch ends only");
    }

    /// <summary>Writes the --checkpoint file (or the --resume file, which a resumed run keeps updating) after epoch <paramref name="epochsDone"/>.</summary>
    private static void SaveCheckpoint(ParsedOptions options, TrainSession session, Trainer trainer, EarlyStopping? stopping, int epochsDone)
    {
        string? path = options.String(CheckpointOption.Name) ?? options.String(ResumeOption.Name);
        if (path is null) return;
        var run = options.Names.Where(n => !s_notPartOfRun.Contains(n)).ToDictionary(n => n, options.String, StringComparer.Ordinal);
        var extra = session.CheckpointMetadata();
        extra[OptionsKey] = FormatOptions(run);
        extra[ImagesKey] = session.Train.Count.ToString(CultureInfo.InvariantCulture);
        if (stopping is not null) extra[StoppingKey] = stopping.State.ToString();
        var info = new CheckpointInfo(options.String("model", DefaultModel), session.Train.Classes, session.Train.ItemShape[0]);
        TrainingCheckpoint.Save(path, trainer.Model, trainer.Optimizer, trainer.Scheduler, new TrainingProgress(epochsDone, 0), info, extra);
    }

    private static string FormatOptions(IReadOnlyDictionary<string, string?> values)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (name, value) in values.OrderBy(v => v.Key, StringComparer.Ordinal))
            {
                if (value is null) json.WriteNull(name);
                else json.WriteString(name, value);
            }
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static Dictionary<string, string?>? ParseOptions(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object) return null;
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)) return null;
                values[property.Name] = property.Value.GetString();
            }
            return values;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
