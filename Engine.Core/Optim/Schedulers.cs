namespace Engine.Optim;

/// <summary>
/// Sets an optimizer's learning rate from a step count: call <see cref="Step"/> once per epoch (or per batch for
/// schedules defined in batches, such as one-cycle). The rate for step t is <see cref="RateAt"/>(t).
/// </summary>
public abstract partial class LearningRateScheduler
{
    protected LearningRateScheduler(Optimizer optimizer)
    {
        Optimizer = optimizer;
        BaseRate = optimizer.LearningRate;
        Optimizer.LearningRate = RateAt(0);
    }

    public Optimizer Optimizer { get; }
    public float BaseRate { get; }
    public int StepCount { get; private set; }

    public abstract float RateAt(int step);

    public virtual void Step()
    {
        StepCount++;
        Optimizer.LearningRate = RateAt(StepCount);
    }
}

/// <summary>lr = base * gamma^floor(t / stepSize).</summary>
public sealed class StepLR(Optimizer optimizer, int stepSize, float gamma = 0.1f) : LearningRateScheduler(optimizer)
{
    public override float RateAt(int step) => BaseRate * MathF.Pow(gamma, step / Math.Max(stepSize, 1));
}

/// <summary>lr = base * gamma^(number of milestones reached).</summary>
public sealed class MultiStepLR(Optimizer optimizer, int[] milestones, float gamma = 0.1f) : LearningRateScheduler(optimizer)
{
    public override float RateAt(int step)
    {
        int reached = 0;
        foreach (int milestone in milestones) if (milestone <= step) reached++;
        return BaseRate * MathF.Pow(gamma, reached);
    }
}

/// <summary>
/// Linear warm-up from base*startFactor to base over <c>warmup</c> steps, then cosine annealing to
/// <c>minRate</c> at <c>total</c> steps: min + (base - min) * (1 + cos(pi * (t - warmup) / (total - warmup))) / 2.
/// With warmup 0 it is PyTorch's CosineAnnealingLR with T_max = total.
/// </summary>
public sealed class CosineAnnealingLR(Optimizer optimizer, int total, int warmup = 0, float minRate = 0f, float startFactor = 0f)
    : LearningRateScheduler(optimizer)
{
    public override float RateAt(int step)
    {
        if (step < warmup) return BaseRate * (startFactor + (1f - startFactor) * step / warmup);
        int span = Math.Max(total - warmup, 1);
        double t = Math.Min(step - warmup, span);
        return (float)(minRate + (BaseRate - minRate) * (1 + Math.Cos(Math.PI * t / span)) / 2);
    }
}

/// <summary>
/// One-cycle (Smith 2018), PyTorch's two-phase cosine form: from max/div up to max over pctStart*total - 1 steps,
/// then down to max/(div*finalDiv) at step total - 1. The optimizer's rate at construction is ignored.
/// </summary>
public sealed class OneCycleLR(Optimizer optimizer, float maxRate, int total, float pctStart = 0.3f, float divFactor = 25f, float finalDivFactor = 1e4f)
    : LearningRateScheduler(optimizer)
{
    public override float RateAt(int step)
    {
        float initial = maxRate / divFactor, final = initial / finalDivFactor;
        float peak = pctStart * total - 1, end = total - 1;
        if (step <= peak) return Cosine(initial, maxRate, peak <= 0 ? 1 : step / peak);
        return Cosine(maxRate, final, Math.Min((step - peak) / (end - peak), 1f));
    }

    private static float Cosine(float start, float end, float pct) => end + (start - end) / 2f * (MathF.Cos(MathF.PI * pct) + 1f);
}

/// <summary>
/// Divides the rate by 1/factor when a metric has not improved (relative threshold, mode min or max) for more than
/// <c>patience</c> epochs, then waits <c>cooldown</c> epochs; never below <c>minRate</c>.
/// </summary>
public sealed partial class ReduceLROnPlateau(Optimizer optimizer, bool minimize = true, float factor = 0.1f, int patience = 10,
    float threshold = 1e-4f, int cooldown = 0, float minRate = 0f)
{
    private float _best = minimize ? float.PositiveInfinity : float.NegativeInfinity;
    private int _bad, _cooling;

    public Optimizer Optimizer { get; } = optimizer;

    public void Step(float metric)
    {
        bool better = minimize ? metric < _best * (1f - threshold) : metric > _best * (1f + threshold);
        if (better)
        {
            _best = metric;
            _bad = 0;
        }
        else _bad++;
        if (_cooling > 0)
        {
            _cooling--;
            _bad = 0;
        }
        if (_bad > patience)
        {
            Optimizer.LearningRate = Math.Max(Optimizer.LearningRate * factor, minRate);
            _cooling = cooldown;
            _bad = 0;
        }
    }
}
