using Engine.Data;

namespace Engine.Training;

/// <summary>One finished epoch: training statistics, the evaluations after it, and the learning rate it ended with.</summary>
public sealed record EpochRecord(int Epoch, EpochStats Train, EpochStats? Validation, EpochStats? Test, float LearningRate, bool Improved);

/// <summary>What <see cref="Trainer.Fit"/> did: every epoch, the best one by the monitored metric (when validated), and whether it stopped early.</summary>
public sealed record TrainingHistory(IReadOnlyList<EpochRecord> Epochs, int BestEpoch, bool StoppedEarly)
{
    /// <summary>The best epoch's record; null without validation, or when it came before a resumed run's first epoch.</summary>
    public EpochRecord? Best => Epochs.FirstOrDefault(e => e.Epoch == BestEpoch);
    public EpochRecord Last => Epochs[^1];
}

/// <summary>
/// How <see cref="Trainer.Fit"/> runs: epochs, the data evaluated after each, what is monitored, and callbacks.
/// Without a validation loader nothing is monitored (no best epoch, no early stopping).
/// </summary>
public sealed record FitOptions(int Epochs)
{
    public DataLoader? Validation { get; init; }

    /// <summary>Evaluated after every epoch for the record only; never used to choose anything.</summary>
    public DataLoader? Test { get; init; }

    public MonitoredMetric Monitor { get; init; } = MonitoredMetric.ValidationAccuracy;

    /// <summary>Stop after this many epochs in a row without improvement of the monitored metric (needs validation).</summary>
    public int? Patience { get; init; }

    /// <summary>The best-epoch tracker to continue (a resumed run's); a fresh one from <see cref="Monitor"/> and <see cref="Patience"/> when null.</summary>
    public EarlyStopping? Stopping { get; init; }

    /// <summary>The first epoch's number (0 for a fresh run; later when resuming).</summary>
    public int FirstEpoch { get; init; }

    /// <summary>Sees (epoch, batch index from 1, batches in the epoch, running statistics) after every batch.</summary>
    public Action<int, int, int, EpochStats>? OnBatch { get; init; }

    /// <summary>Sees every finished epoch.</summary>
    public Action<EpochRecord>? OnEpoch { get; init; }

    /// <summary>Called when an epoch is the best so far by the monitored metric (to save the weights, for example).</summary>
    public Action<EpochRecord>? OnImproved { get; init; }
}

public sealed partial class Trainer
{
    /// <summary>
    /// Trains for <see cref="FitOptions.Epochs"/> epochs: after each, evaluates the validation and test loaders,
    /// records the epoch, tells <see cref="FitOptions.OnImproved"/> when the validation metric is the best so far,
    /// and stops early once <see cref="FitOptions.Patience"/> epochs have passed without improvement.
    /// </summary>
    public TrainingHistory Fit(DataLoader train, FitOptions options)
    {
        if (options.Epochs < 1) throw new ArgumentException($"fit: expected at least one epoch, got {options.Epochs}");
        if (options.Patience is not null && options.Validation is null)
            throw new ArgumentException("fit: early stopping (a patience) needs a validation loader");
        var stopping = options.Validation is null ? null : options.Stopping ?? new EarlyStopping(options.Monitor, options.Patience);
        var epochs = new List<EpochRecord>();
        bool stoppedEarly = false;
        for (int epoch = options.FirstEpoch; epoch < options.FirstEpoch + options.Epochs; epoch++)
        {
            int current = epoch;
            var stats = TrainEpoch(train, epoch, options.OnBatch is null ? null : (batch, running) => options.OnBatch(current, batch, train.BatchCount, running));
            EpochStats? validation = options.Validation is null ? null : Evaluate(Model, options.Validation, Backend);
            EpochStats? test = options.Test is null ? null : Evaluate(Model, options.Test, Backend);
            bool improved = stopping is not null && stopping.Update(epoch, validation!.Value);
            var record = new EpochRecord(epoch, stats, validation, test, Optimizer.LearningRate, improved);
            epochs.Add(record);
            options.OnEpoch?.Invoke(record);
            if (improved) options.OnImproved?.Invoke(record);
            if (stopping is { ShouldStop: true } && epoch + 1 < options.FirstEpoch + options.Epochs)
            {
                stoppedEarly = true;
                break;
            }
        }
        return new TrainingHistory(epochs, stopping?.BestEpoch ?? -1, stoppedEarly);
    }
}
