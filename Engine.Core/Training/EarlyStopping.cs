namespace Engine.Training;

/// <summary>The validation metric that picks the best epoch and drives early stopping.</summary>
public enum MonitoredMetric
{
    /// <summary>Mean cross-entropy on the validation split (lower is better).</summary>
    ValidationLoss,

    /// <summary>Top-1 accuracy on the validation split (higher is better).</summary>
    ValidationAccuracy,
}

/// <summary>
/// Tracks the best value of a monitored metric: an epoch improves when its value beats the best so far by more
/// than <see cref="MinDelta"/> (below for a loss, above for an accuracy). With a <see cref="Patience"/>, training
/// should stop once that many epochs in a row have not improved.
/// </summary>
public sealed class EarlyStopping
{
    public EarlyStopping(MonitoredMetric metric, int? patience = null, double minDelta = 0)
    {
        if (patience is < 1) throw new ArgumentException($"early stopping: expected a patience of at least 1 epoch, got {patience}");
        if (!(minDelta >= 0)) throw new ArgumentException($"early stopping: expected a non-negative minimum change, got {minDelta}");
        Metric = metric;
        Patience = patience;
        MinDelta = minDelta;
        Best = Minimize ? double.PositiveInfinity : double.NegativeInfinity;
    }

    public MonitoredMetric Metric { get; }
    public int? Patience { get; }
    public double MinDelta { get; }
    public bool Minimize => Metric == MonitoredMetric.ValidationLoss;

    public double Best { get; private set; }

    /// <summary>The 0-based epoch of <see cref="Best"/>, or -1 before any epoch.</summary>
    public int BestEpoch { get; private set; } = -1;

    public int EpochsWithoutImprovement { get; private set; }

    public bool ShouldStop => Patience is { } patience && EpochsWithoutImprovement >= patience;

    /// <summary>The monitored value of validation statistics.</summary>
    public double ValueOf(EpochStats validation) => Minimize ? validation.Loss : validation.Accuracy;

    /// <summary>What a resumed run needs to continue exactly: the best value, its epoch, the epochs since.</summary>
    public EarlyStoppingState State => new(Best, BestEpoch, EpochsWithoutImprovement);

    /// <summary>Continues from a saved <see cref="State"/>.</summary>
    public void Restore(EarlyStoppingState state)
    {
        if (state.BestEpoch < -1 || state.EpochsWithoutImprovement < 0)
            throw new ArgumentException($"early stopping: expected a best epoch >= -1 and a non-negative count, got {state}");
        (Best, BestEpoch, EpochsWithoutImprovement) = (state.Best, state.BestEpoch, state.EpochsWithoutImprovement);
    }

    /// <summary>Records epoch <paramref name="epoch"/>'s validation statistics; true when it is the new best.</summary>
    public bool Update(int epoch, EpochStats validation)
    {
        double value = ValueOf(validation);
        bool improved = Minimize ? value < Best - MinDelta : value > Best + MinDelta;
        if (improved)
        {
            Best = value;
            BestEpoch = epoch;
            EpochsWithoutImprovement = 0;
        }
        else EpochsWithoutImprovement++;
        return improved;
    }
}

/// <summary>The position of an <see cref="EarlyStopping"/>; its text form ("best,bestEpoch,epochsWithoutImprovement", round-trip numbers) goes into checkpoints.</summary>
public readonly record struct EarlyStoppingState(double Best, int BestEpoch, int EpochsWithoutImprovement)
{
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Best:R},{BestEpoch},{EpochsWithoutImprovement}");

    /// <summary>The state written by <see cref="ToString"/>, or null when the text is not one.</summary>
    public static EarlyStoppingState? Parse(string text)
    {
        var parts = text.Split(',');
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        return parts.Length == 3
            && double.TryParse(parts[0], System.Globalization.NumberStyles.Float, invariant, out double best)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.AllowLeadingSign, invariant, out int epoch)
            && int.TryParse(parts[2], System.Globalization.NumberStyles.None, invariant, out int without)
            ? new EarlyStoppingState(best, epoch, without) : null;
    }
}
