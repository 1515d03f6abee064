using System.Globalization;

namespace Engine.Optim;

/// <summary>
/// A learning-rate schedule whose position can be saved and restored (training checkpoints), as a map of strings
/// with exact (round-trip) numbers. Restoring checks the type and refuses a state made by another schedule.
/// </summary>
public interface IStatefulScheduler
{
    IReadOnlyDictionary<string, string> GetState();

    /// <summary>Restores the position; a state of another type or with malformed values is an <see cref="InvalidDataException"/>.</summary>
    void LoadState(IReadOnlyDictionary<string, string> state);
}

internal static class SchedulerStateFormat
{
    public const string TypeKey = "type";

    public static string Text(float value) => value.ToString("R", CultureInfo.InvariantCulture);

    public static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static void CheckType(IReadOnlyDictionary<string, string> state, string type)
    {
        string saved = state.TryGetValue(TypeKey, out var t) ? t : "(none)";
        if (saved != type) throw new InvalidDataException($"scheduler: the run uses {type}, the saved state is for {saved}");
    }

    public static string Get(IReadOnlyDictionary<string, string> state, string key) =>
        state.TryGetValue(key, out var value) ? value : throw new InvalidDataException($"scheduler: the saved state has no '{key}'");

    public static int Int(IReadOnlyDictionary<string, string> state, string key) =>
        int.TryParse(Get(state, key), NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new InvalidDataException($"scheduler: '{key}' should be a non-negative integer, got '{state[key]}'");

    public static float Float(IReadOnlyDictionary<string, string> state, string key) =>
        float.TryParse(Get(state, key), NumberStyles.Float, CultureInfo.InvariantCulture, out float value)
            ? value
            : throw new InvalidDataException($"scheduler: '{key}' should be a number, got '{state[key]}'");
}

public abstract partial class LearningRateScheduler : IStatefulScheduler
{
    private const string StepKey = "step_count", BaseRateKey = "base_rate";

    public IReadOnlyDictionary<string, string> GetState() => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [SchedulerStateFormat.TypeKey] = GetType().Name,
        [StepKey] = SchedulerStateFormat.Text(StepCount),
        [BaseRateKey] = SchedulerStateFormat.Text(BaseRate),
    };

    /// <summary>Moves to the saved step (the base rate must be the same) and sets the optimizer's rate for it.</summary>
    public void LoadState(IReadOnlyDictionary<string, string> state)
    {
        SchedulerStateFormat.CheckType(state, GetType().Name);
        float baseRate = SchedulerStateFormat.Float(state, BaseRateKey);
        if (SchedulerStateFormat.Text(baseRate) != SchedulerStateFormat.Text(BaseRate))
            throw new InvalidDataException($"scheduler: the base learning rate is {SchedulerStateFormat.Text(BaseRate)} here, {SchedulerStateFormat.Text(baseRate)} in the saved state");
        StepCount = SchedulerStateFormat.Int(state, StepKey);
        Optimizer.LearningRate = RateAt(StepCount);
    }
}

public sealed partial class ReduceLROnPlateau : IStatefulScheduler
{
    private const string BestKey = "best", BadKey = "bad_epochs", CoolingKey = "cooldown_left";

    public IReadOnlyDictionary<string, string> GetState() => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [SchedulerStateFormat.TypeKey] = nameof(ReduceLROnPlateau),
        [BestKey] = SchedulerStateFormat.Text(_best),
        [BadKey] = SchedulerStateFormat.Text(_bad),
        [CoolingKey] = SchedulerStateFormat.Text(_cooling),
    };

    public void LoadState(IReadOnlyDictionary<string, string> state)
    {
        SchedulerStateFormat.CheckType(state, nameof(ReduceLROnPlateau));
        (_best, _bad, _cooling) = (SchedulerStateFormat.Float(state, BestKey), SchedulerStateFormat.Int(state, BadKey), SchedulerStateFormat.Int(state, CoolingKey));
    }
}
