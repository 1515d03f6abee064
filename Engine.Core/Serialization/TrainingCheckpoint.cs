using System.Globalization;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Serialization;

/// <summary>
/// Where a run stands: <see cref="Epoch"/> is the epoch in progress (or next to start) and <see cref="Batch"/> the
/// number of its batches already trained. The data order and augmentation are functions of (seed, epoch, sample),
/// so this plus the dropout generator's position is the whole random state of a run.
/// </summary>
public readonly record struct TrainingProgress(int Epoch, int Batch);

/// <summary>
/// A full training checkpoint in one safetensors file: the model's parameters and buffers under their own names
/// (so <see cref="Checkpoint.Load"/> and eval read it like a weights file), the optimizer's state tensors under
/// "optimizer/{slot}.{index}", and in the metadata the optimizer's type, hyperparameters, step counts and learning
/// rate, the scheduler's state, the progress, and the generator's seed and offset. Numbers are written exactly
/// (round-trip), so a run resumed from it is bitwise identical to one never interrupted.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>Prefix of the optimizer's tensors; <see cref="LoadedCheckpoint.LoadInto"/> skips them.</summary>
    public const string OptimizerPrefix = "optimizer/";

    internal const string EpochKey = "training.epoch", BatchKey = "training.batch",
        OptimizerTypeKey = "optimizer.type", OptimizerStepKey = "optimizer.step_count", OptimizerRateKey = "optimizer.lr",
        OptimizerParametersKey = "optimizer.parameters", OptimizerStepsKey = "optimizer.parameter_steps",
        HyperparameterPrefix = "optimizer.hyper.", SchedulerPrefix = "scheduler.", SeedKey = "rng.seed", OffsetKey = "rng.offset";

    /// <summary>
    /// Writes a training checkpoint atomically. <paramref name="generator"/> is the one dropout draws from
    /// (<see cref="Generator.Default"/> unless the model's layers were given another).
    /// </summary>
    public static void Save(string path, Module model, Optimizer optimizer, IStatefulScheduler? scheduler, TrainingProgress progress,
        CheckpointInfo info, IReadOnlyDictionary<string, string>? extra = null, Generator? generator = null)
    {
        var rng = generator ?? Generator.Default;
        var state = optimizer.GetState();
        var metadata = info.ToMetadata();
        void Add(string key, string value)
        {
            if (!metadata.TryAdd(key, value)) throw new ArgumentException($"training checkpoint: metadata '{key}' collides with a reserved key");
        }
        Add(EpochKey, Text(progress.Epoch));
        Add(BatchKey, Text(progress.Batch));
        Add(OptimizerTypeKey, state.Type);
        Add(OptimizerStepKey, Text(state.StepCount));
        Add(OptimizerRateKey, state.LearningRate.ToString("R", CultureInfo.InvariantCulture));
        Add(OptimizerParametersKey, Text(state.ParameterCount));
        if (state.ParameterSteps is { } steps) Add(OptimizerStepsKey, string.Join(',', steps.Select(Text)));
        foreach (var (name, value) in state.Hyperparameters) Add(HyperparameterPrefix + name, value);
        foreach (var (name, value) in scheduler?.GetState() ?? new Dictionary<string, string>()) Add(SchedulerPrefix + name, value);
        Add(SeedKey, rng.Seed.ToString(CultureInfo.InvariantCulture));
        Add(OffsetKey, rng.Offset.ToString(CultureInfo.InvariantCulture));
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) Add(key, value);

        var tensors = model.NamedState()
            .Select(s => new KeyValuePair<string, HostTensor>(s.Name, new HostTensor(s.Parameter.Shape, s.Parameter.ToArray())))
            .Concat(state.Tensors.Select(t => new KeyValuePair<string, HostTensor>(OptimizerPrefix + t.Key, t.Value)));
        SafeTensors.Save(path, tensors, metadata);
    }

    /// <summary>Reads a training checkpoint (validated as safetensors and as a checkpoint; see <see cref="LoadedTrainingCheckpoint.Restore"/>).</summary>
    public static LoadedTrainingCheckpoint Load(string path)
    {
        var checkpoint = Checkpoint.Load(path);
        if (!checkpoint.Content.Metadata.ContainsKey(EpochKey))
            throw new InvalidDataException($"checkpoint '{path}' holds weights only, not a training state (no '{EpochKey}'); write one with train --checkpoint");
        return new LoadedTrainingCheckpoint(checkpoint);
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A training checkpoint read from disk, ready to be restored into a fresh model and optimizer.</summary>
public sealed class LoadedTrainingCheckpoint(LoadedCheckpoint checkpoint)
{
    public LoadedCheckpoint Checkpoint { get; } = checkpoint;
    public string File => Checkpoint.File;
    public IReadOnlyDictionary<string, string> Metadata => Checkpoint.Content.Metadata;

    /// <summary>Where the saved run stood.</summary>
    public TrainingProgress Progress => new(Int(TrainingCheckpoint.EpochKey), Int(TrainingCheckpoint.BatchKey));

    /// <summary>The saved scheduler state (empty when the run had none).</summary>
    public IReadOnlyDictionary<string, string> SchedulerState => Metadata
        .Where(m => m.Key.StartsWith(TrainingCheckpoint.SchedulerPrefix, StringComparison.Ordinal))
        .ToDictionary(m => m.Key[TrainingCheckpoint.SchedulerPrefix.Length..], m => m.Value, StringComparer.Ordinal);

    /// <summary>The saved optimizer state (host tensors and settings).</summary>
    public OptimizerState OptimizerState()
    {
        var hyper = Metadata.Where(m => m.Key.StartsWith(TrainingCheckpoint.HyperparameterPrefix, StringComparison.Ordinal))
            .ToDictionary(m => m.Key[TrainingCheckpoint.HyperparameterPrefix.Length..], m => m.Value, StringComparer.Ordinal);
        var tensors = Checkpoint.Content.Tensors
            .Where(t => t.Key.StartsWith(TrainingCheckpoint.OptimizerPrefix, StringComparison.Ordinal))
            .Select(t => new KeyValuePair<string, HostTensor>(t.Key[TrainingCheckpoint.OptimizerPrefix.Length..], t.Value)).ToList();
        int[]? steps = Metadata.TryGetValue(TrainingCheckpoint.OptimizerStepsKey, out var text)
            ? (text.Length == 0 ? [] : text.Split(',').Select(s => Parse(TrainingCheckpoint.OptimizerStepsKey, s)).ToArray())
            : null;
        string rateText = Get(TrainingCheckpoint.OptimizerRateKey);
        if (!float.TryParse(rateText, NumberStyles.Float, CultureInfo.InvariantCulture, out float rate))
            throw Invalid($"'{TrainingCheckpoint.OptimizerRateKey}' should be a number, got '{rateText}'");
        return new OptimizerState(Get(TrainingCheckpoint.OptimizerTypeKey), hyper, Int(TrainingCheckpoint.OptimizerParametersKey),
            Int(TrainingCheckpoint.OptimizerStepKey), rate, tensors, steps);
    }

    /// <summary>
    /// Loads the weights into <paramref name="model"/>, the optimizer state into <paramref name="optimizer"/>, the
    /// scheduler's position into <paramref name="scheduler"/> and the generator's position into
    /// <paramref name="generator"/> (default <see cref="Generator.Default"/>); returns where to continue. A model,
    /// optimizer or scheduler that does not match the saved one is an <see cref="InvalidDataException"/> naming
    /// every difference, thrown before anything is changed where the check allows it.
    /// </summary>
    public TrainingProgress Restore(Module model, Optimizer optimizer, IStatefulScheduler? scheduler = null, Generator? generator = null)
    {
        var optimizerState = OptimizerState();
        var schedulerState = SchedulerState;
        if (scheduler is null && schedulerState.Count > 0)
            throw Invalid($"it was saved with a {schedulerState.GetValueOrDefault("type", "learning-rate")} scheduler, the run has none");
        if (scheduler is not null && schedulerState.Count == 0)
            throw Invalid("it was saved without a learning-rate scheduler, the run has one");
        var progress = Progress;
        ulong seed = ULong(TrainingCheckpoint.SeedKey), offset = ULong(TrainingCheckpoint.OffsetKey);
        Checkpoint.LoadInto(model);
        try
        {
            optimizer.LoadState(optimizerState);
            scheduler?.LoadState(schedulerState);
        }
        catch (InvalidDataException e)
        {
            throw Invalid(e.Message, e);
        }
        // The scheduler sets the rate for its step; the saved rate wins (it is what the interrupted run had).
        optimizer.LearningRate = optimizerState.LearningRate;
        var rng = generator ?? Generator.Default;
        rng.ManualSeed(seed);
        rng.Offset = offset;
        return progress;
    }

    private string Get(string key) => Metadata.TryGetValue(key, out var value)
        ? value
        : throw Invalid($"the metadata has no '{key}'");

    private int Int(string key) => Parse(key, Get(key));

    private int Parse(string key, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw Invalid($"'{key}' should be a non-negative integer, got '{text}'");

    private ulong ULong(string key) =>
        ulong.TryParse(Get(key), NumberStyles.None, CultureInfo.InvariantCulture, out ulong value)
            ? value
            : throw Invalid($"'{key}' should be a non-negative integer, got '{Get(key)}'");

    private InvalidDataException Invalid(string problem, Exception? inner = null) => new($"training checkpoint '{File}': {problem}", inner);
}
