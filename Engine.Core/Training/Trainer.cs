using System.Diagnostics;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Training;

/// <summary>Loss and accuracy over a pass through data.</summary>
public readonly record struct EpochStats(double Loss, double Accuracy, int Images, double Seconds)
{
    public double ImagesPerSecond => Seconds > 0 ? Images / Seconds : 0;

    /// <summary>The fraction whose label is among the 5 largest logits (all of them with 5 classes or fewer); evaluation only.</summary>
    public double Top5Accuracy { get; init; }
}

/// <summary>
/// The classification training loop: per batch, one scope (every intermediate released at its end), forward,
/// cross-entropy, backward, gradient clipping (when <see cref="ClipNorm"/> is set), optimizer step, then one
/// step of <see cref="Scheduler"/> (schedules are counted in batches). <see cref="Fit"/> adds validation,
/// early stopping and best-state tracking (Trainer.Fit.cs).
/// </summary>
public sealed partial class Trainer(Module model, Optimizer optimizer, IBackend backend)
{
    public Module Model { get; } = model;
    public Optimizer Optimizer { get; } = optimizer;
    public IBackend Backend { get; } = backend;

    /// <summary>When set, gradients are scaled so their joint L2 norm is at most this before each step.</summary>
    public float? ClipNorm
    {
        get;
        init => field = value is null || value > 0 ? value : throw new ArgumentException($"trainer: expected a positive clip norm, got {value}");
    }

    /// <summary>Stepped once after every optimizer step (its steps are batches).</summary>
    public LearningRateScheduler? Scheduler { get; init; }

    /// <summary>
    /// Whether each step runs in a recycling scope (<see cref="Scope.BeginRecycling"/>, the default), so a
    /// steady-state step allocates nothing: its tensor handles are reused by the next step. The contract is the
    /// scope's: nothing made in a step is used after it. A custom module that keeps a tensor of one step past it
    /// (without <see cref="Tensor.Keep"/>) would then read whatever reused its handle; with false each step runs in a
    /// plain <see cref="Scope.Begin"/> scope, where such a use fails loudly, at the cost of one handle per tensor made
    /// in the forward pass (~1.8 KB per LeNet-5 step).
    /// </summary>
    public bool RecycleSteps { get; init; } = true;

    /// <summary>
    /// Trains one epoch; <paramref name="onBatch"/> sees the number of batches done and the running stats after
    /// every step. <paramref name="startBatch"/> resumes an epoch after that many batches (stats cover the rest).
    /// Each step reads its loss and accuracy count into host values inside its scope (see <see cref="RecycleSteps"/>),
    /// on a batch in the loader's reused buffers, so a steady-state step allocates nothing. <paramref name="onBatch"/>
    /// runs after the step's scope has closed, in a scope of its own that releases whatever tensors it makes when it
    /// returns.
    /// </summary>
    public EpochStats TrainEpoch(DataLoader loader, int epoch, Action<int, EpochStats>? onBatch = null, int startBatch = 0)
    {
        Model.Train();
        var totals = new StepTotals();
        int batchIndex = startBatch;
        var clock = Stopwatch.StartNew();
        using var batches = loader.Batches(Backend, epoch, startBatch, reuseHostLabels: true).GetEnumerator();
        while (true)
        {
            bool stepped;
            if (RecycleSteps)
            {
                using (Scope.BeginRecycling()) stepped = Step(batches, ref totals);
            }
            else
            {
                using (Scope.Begin()) stepped = Step(batches, ref totals);
            }
            if (!stepped) break;
            if (onBatch is null) continue;
            using (Scope.BeginReleasing()) onBatch(++batchIndex, totals.Stats(clock));
        }
        return totals.Stats(clock);
    }

    /// <summary>Sums over the steps of an epoch so far.</summary>
    private struct StepTotals
    {
        public double LossSum;
        public int Correct, Seen;

        public readonly EpochStats Stats(Stopwatch clock) => new(LossSum / Seen, (double)Correct / Seen, Seen, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// One step on the next batch, in the caller's scope: forward, cross-entropy, backward, clipping, optimizer and
    /// scheduler steps, and the loss and correct count added to <paramref name="totals"/>. False when no batch is left.
    /// </summary>
    private bool Step(IEnumerator<Batch> batches, ref StepTotals totals)
    {
        if (!batches.MoveNext()) return false;
        var batch = batches.Current;
        Optimizer.ZeroGrad();
        var logits = Model.Forward(batch.Images);
        var loss = Ops.CrossEntropy(logits, batch.Labels);
        loss.Backward();
        if (ClipNorm is { } maxNorm) GradClip.ClipNorm(Optimizer.Parameters, maxNorm);
        Optimizer.Step();
        Scheduler?.Step();
        totals.LossSum += loss.Item() * batch.Count;
        totals.Correct += CountCorrect(logits, batch.HostLabels, ref _logitValues);
        totals.Seen += batch.Count;
        return true;
    }

    // The host copy of a step's logits, reused from step to step.
    private float[] _logitValues = [];

    /// <summary>Mean loss, top-1 and top-5 accuracy in eval mode, without recording gradients.</summary>
    public static EpochStats Evaluate(Module model, DataLoader loader, IBackend backend) => EvaluateDetailed(model, loader, backend).Stats;

    /// <summary>
    /// Evaluates in eval mode without gradients, keeping each sample's prediction and its softmax probability
    /// (in the loader's order) and the confusion matrix.
    /// </summary>
    public static Evaluation EvaluateDetailed(Module model, DataLoader loader, IBackend backend)
    {
        model.Eval();
        double lossSum = 0;
        int top1 = 0, top5 = 0, seen = 0, classes = loader.Dataset.Classes;
        var confusion = new ConfusionMatrix(classes);
        var predicted = new int[loader.Dataset.Count];
        var confidence = new float[loader.Dataset.Count];
        var labels = new int[loader.Dataset.Count];
        var clock = Stopwatch.StartNew();
        using (Autograd.NoGrad())
        {
            foreach (var batch in BatchesInScopes(loader, backend))
            {
                var logits = model.Forward(batch.Images);
                if (logits.Rank != 2 || logits.Shape[1] != classes)
                    throw new ArgumentException($"evaluation: {model.Describe()} gave logits {logits.Shape}; expected (N, {classes}) for the data set's {classes} classes");
                lossSum += Ops.CrossEntropy(logits, batch.Labels, Reduction.Sum).Item();
                var values = logits.ToArray();
                confusion.AddLogits(values, batch.HostLabels);
                top5 += Metrics.TopKCorrect(values, classes, batch.HostLabels, Math.Min(TopK, classes));
                var rows = Metrics.Predictions(values, classes);
                for (int n = 0; n < rows.Length; n++)
                {
                    predicted[seen + n] = rows[n];
                    confidence[seen + n] = Metrics.Softmax(values.AsSpan(n * classes, classes))[rows[n]];
                    labels[seen + n] = batch.HostLabels[n];
                    if (rows[n] == batch.HostLabels[n]) top1++;
                }
                seen += batch.Count;
            }
        }
        var stats = new EpochStats(lossSum / seen, (double)top1 / seen, seen, clock.Elapsed.TotalSeconds) { Top5Accuracy = (double)top5 / seen };
        return new Evaluation(stats, confusion, labels, predicted, confidence);
    }

    /// <summary>The k of the top-k accuracy that evaluation reports.</summary>
    public const int TopK = 5;

    /// <summary>Each batch lives in its own scope, closed when the consumer moves to the next.</summary>
    private static IEnumerable<Batch> BatchesInScopes(DataLoader loader, IBackend backend)
    {
        using var order = loader.Batches(backend, 0, 0, reuseHostLabels: true).GetEnumerator();
        while (true)
        {
            using var scope = Scope.Begin();
            if (!order.MoveNext()) yield break;
            yield return order.Current;
        }
    }

    /// <summary>Number of rows whose largest logit is at the label.</summary>
    public static int CountCorrect(Tensor logits, int[] labels)
    {
        var values = Array.Empty<float>();
        return CountCorrect(logits, labels, ref values);
    }

    /// <summary><see cref="CountCorrect(Tensor, int[])"/> reading the logits into <paramref name="values"/>, grown when too small.</summary>
    private static int CountCorrect(Tensor logits, int[] labels, ref float[] values)
    {
        if (values.Length < logits.Length) values = new float[logits.Length];
        logits.CopyTo(values.AsSpan(0, logits.Length));
        int classes = logits.Shape[1], correct = 0;
        for (int n = 0; n < labels.Length; n++)
        {
            var row = values.AsSpan(n * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
            if (best == labels[n]) correct++;
        }
        return correct;
    }
}
