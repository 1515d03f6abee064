namespace Engine.Optim;

/// <summary>
/// Linear warm-up in front of another schedule (or a constant rate): rate(t) = inner(t) * min(1, (t + 1) / warmup),
/// so the first step runs at 1/warmup of the scheduled rate and step warmup - 1 at the full rate. Only this
/// scheduler is stepped; the inner one is read through its RateAt.
/// </summary>
public sealed class LinearWarmup(Optimizer optimizer, int warmup, LearningRateScheduler? inner = null) : LearningRateScheduler(optimizer)
{
    public int Warmup { get; } = warmup >= 0 ? warmup : throw new ArgumentException($"warm-up: expected a non-negative number of steps, got {warmup}");

    public override float RateAt(int step)
    {
        float scheduled = inner?.RateAt(step) ?? BaseRate;
        return step >= Warmup ? scheduled : scheduled * (step + 1f) / Warmup;
    }
}
