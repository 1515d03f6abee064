using System.Globalization;
using System.Text.Json;
using Engine.Data;
using Engine.Nn;
using Engine.Serialization;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// One "engine train" run after its options are read: the training and validation splits, the loaders, the
/// epoch loop with its progress output, the best and last checkpoints, and the final per-class summary.
/// </summary>
public sealed class TrainSession
{
    public static readonly OptionSpec ReportOption = new("report", "DIR",
        "write an HTML report to DIR/index.html: loss and accuracy curves, confusion matrix, first-layer filters, test images (mistakes first)");

    /// <summary>Checkpoint metadata beside the model description (CheckpointInfo).</summary>
    public const string DataKey = "data", DataKindKey = "data_kind", ClassNamesKey = "class_names", InputMeanKey = "input_mean", InputStdKey = "input_std",
        InputHeightKey = "input_height", InputWidthKey = "input_width", EpochKey = "epoch";

    private readonly CliContext _context;
    private readonly LoadedData _data;
    private readonly TrainRecipe _recipe;

    public TrainSession(CliContext context, LoadedData data, TrainRecipe recipe, ulong seed, int batchSize)
    {
        _context = context;
        _data = data;
        _recipe = recipe;
        (Train, Validation) = recipe.ValidationSplit > 0 ? DatasetSplit.Split(data.Train, recipe.ValidationSplit, seed) : (data.Train, null);
        var geometry = ItemGeometry.Of(data.Train.ItemShape);
        Loader = new DataLoader(Train, batchSize, shuffle: true, seed: seed) { Augmentation = recipe.CreateAugmentation(geometry, BlackValue(data.Train)) };
        ValidationLoader = Validation is null ? null : new DataLoader(Validation, TrainCommand.EvalBatchSize);
        TestLoader = new DataLoader(data.Test, TrainCommand.EvalBatchSize);
    }

    public Dataset Train { get; }
    public Dataset? Validation { get; }
    public DataLoader Loader { get; }
    public DataLoader? ValidationLoader { get; }
    public DataLoader TestLoader { get; }

    /// <summary>The directory of --report (created), or null; checked before any data is read.</summary>
    public static string? ReportDirectory(ParsedOptions options)
    {
        var directory = options.String(ReportOption.Name);
        if (directory is null) return null;
        var parent = Path.GetDirectoryName(Path.GetFullPath(directory));
        if (parent is not null && !Directory.Exists(parent))
            throw new UsageException($"train: the parent directory of --report '{directory}' does not exist");
        Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>A black pixel after normalization on single-channel data (the background of MNIST-like images), else 0 (the mean).</summary>
    private static float BlackValue(Dataset data) =>
        data.ItemShape[0] == 1 && data.Normalization is { } n ? -n.Mean[0] / n.Std[0] : 0f;

    /// <summary>Where the best epoch's weights go: NAME.best.safetensors beside NAME.safetensors.</summary>
    public static string BestPath(string output) =>
        Path.Combine(Path.GetDirectoryName(output) ?? "", Path.GetFileNameWithoutExtension(output) + ".best" + Path.GetExtension(output));

    /// <summary>The tracker of the best epoch when there is a validation split (null otherwise).</summary>
    public EarlyStopping? CreateEarlyStopping() => Validation is null ? null : new EarlyStopping(_recipe.Monitor, _recipe.Patience);

    /// <summary>
    /// Runs epochs <paramref name="firstEpoch"/> to the recipe's last with progress output; with validation, saves
    /// each new best epoch's weights; <paramref name="afterEpoch"/> sees every finished epoch (to save a checkpoint).
    /// </summary>
    public TrainingHistory Fit(Trainer trainer, string output, bool json, string modelName, int firstEpoch = 0, EarlyStopping? stopping = null,
        Action<EpochRecord>? afterEpoch = null)
    {
        var report = new TrainReport(_context, json, _recipe.Epochs);
        TrainingHistory? history = null;
        report.Run((onBatch, onEpoch) => history = trainer.Fit(Loader, new FitOptions(_recipe.Epochs - firstEpoch)
        {
            FirstEpoch = firstEpoch,
            Stopping = stopping,
            Validation = ValidationLoader,
            Test = TestLoader,
            Monitor = _recipe.Monitor,
            Patience = _recipe.Patience,
            OnBatch = (epoch, batch, batches, running) => onBatch(epoch, batch, batches, running),
            OnEpoch = record =>
            {
                afterEpoch?.Invoke(record);
                onEpoch(record);
            },
            OnImproved = record => SaveCheckpoint(BestPath(output), trainer.Model, modelName, record.Epoch),
        }));
        return history!;
    }

    /// <summary>Saves the weights with what predict and reports need: class names, input size and normalization, data kind.</summary>
    public void SaveCheckpoint(string path, Module model, string modelName, int? epoch = null)
    {
        var info = new CheckpointInfo(modelName, _data.Train.Classes, _data.Train.ItemShape[0]);
        var extra = CheckpointMetadata();
        if (epoch is { } e) extra[EpochKey] = (e + 1).ToString(CultureInfo.InvariantCulture);
        Checkpoint.Save(path, model, info, extra);
    }

    /// <summary>The metadata every checkpoint of this run carries: data name and kind, input size, class names, normalization.</summary>
    public Dictionary<string, string> CheckpointMetadata()
    {
        var shape = _data.Train.ItemShape;
        var extra = new Dictionary<string, string>
        {
            [DataKey] = Path.GetFileName(Path.TrimEndingDirectorySeparator(_data.Directory)),
            [DataKindKey] = _data.KindName,
            [InputHeightKey] = shape.Height.ToString(CultureInfo.InvariantCulture),
            [InputWidthKey] = shape.Width.ToString(CultureInfo.InvariantCulture),
        };
        if (_data.Train.ClassNames is { } names) extra[ClassNamesKey] = FormatNames(names);
        if (_data.Train.Normalization is { } n)
        {
            extra[InputMeanKey] = string.Join(",", n.Mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
            extra[InputStdKey] = string.Join(",", n.Std.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        }
        return extra;
    }

    /// <summary>Class names as a JSON array of strings (the checkpoint's class_names).</summary>
    public static string FormatNames(IReadOnlyList<string> names)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var name in names) json.WriteStringValue(name);
            json.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The names of <see cref="FormatNames"/>, or null when the text is not a JSON array of strings.</summary>
    public static string[]? ParseNames(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Array) return null;
            var names = new List<string>();
            foreach (var item in document.RootElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) return null;
                names.Add(item.GetString()!);
            }
            return [.. names];
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The final test results: accuracy, per-class precision, recall and F1, and the confusion matrix (text or one JSON object).</summary>
    public void WriteSummary(TrainingHistory history, Evaluation final, bool json, string output)
    {
        var names = _data.Test.ClassNames;
        string Name(int c) => names is not null && c < names.Count ? names[c] : c.ToString(CultureInfo.InvariantCulture);
        var matrix = final.Confusion;
        if (json)
        {
            JsonLine.Write(_context.Out, w =>
            {
                w.WriteBoolean("summary", true);
                w.Number("test_loss", final.Stats.Loss);
                w.Number("test_accuracy", final.Stats.Accuracy);
                w.Number("test_top5_accuracy", final.Stats.Top5Accuracy);
                w.Number("macro_f1", matrix.MacroF1);
                w.WriteNumber("epochs", history.Last.Epoch + 1);
                w.WriteBoolean("stopped_early", history.StoppedEarly);
                if (history.Best is { } best) w.WriteNumber("best_epoch", best.Epoch + 1);
                w.WriteStartArray("classes");
                for (int c = 0; c < matrix.Classes; c++)
                {
                    w.WriteStartObject();
                    w.WriteString("name", Name(c));
                    w.Number("precision", matrix.Precision(c));
                    w.Number("recall", matrix.Recall(c));
                    w.Number("f1", matrix.F1(c));
                    w.WriteNumber("support", matrix.Support(c));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteStartArray("confusion");
                for (int a = 0; a < matrix.Classes; a++)
                {
                    w.WriteStartArray();
                    for (int p = 0; p < matrix.Classes; p++) w.WriteNumberValue(matrix.Counts[a, p]);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            });
            return;
        }
        var o = _context.Out;
        if (history.StoppedEarly) o.WriteLine($"stopped early after epoch {history.Last.Epoch + 1}: no improvement for {_recipe.Patience} epochs");
        if (history.Best is { } b)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"best epoch {b.Epoch + 1}: val accuracy {Format.Percent(b.Validation!.Value.Accuracy)}, loss {b.Validation.Value.Loss:F4}; saved {BestPath(output)}"));
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"final test accuracy: {Format.Percent(final.Stats.Accuracy)} ({final.Stats.Images:N0} images, loss {final.Stats.Loss:F4}), top-5 {Format.Percent(final.Stats.Top5Accuracy)}, macro F1 {matrix.MacroF1:F4}"));
        foreach (var line in TextTables.PerClass(matrix, Name)) o.WriteLine(line);
        foreach (var line in TextTables.Confusion(matrix)) o.WriteLine(line);
        o.WriteLine($"saved {output}");
    }
}
