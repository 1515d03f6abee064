using System.Diagnostics;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Training;

/// <summary>Loss and accuracy over a pass through data.</summary>
public readonly record struct EpochStats(double Loss, double Accuracy, int Images, double Seconds)
{
    public double ImagesPerSecond => Seconds > 0 ? Images / Seconds : 0;
}

/// <summary>
/// The classification training loop: per batch, one scope (every intermediate released at its end), forward,
/// cross-entropy, backward, optimizer step.
/// </summary>
public sealed class Trainer(Module model, Optimizer optimizer, IBackend backend)
{
    public Module Model { get; } = model;
    public Optimizer Optimizer { get; } = optimizer;
    public IBackend Backend { get; } = backend;

    /// <summary>
    /// Trains one epoch; <paramref name="onBatch"/> sees the number of batches done and the running stats after
    /// every step. <paramref name="startBatch"/> resumes an epoch after that many batches (stats cover the rest).
    /// </summary>
    public EpochStats TrainEpoch(DataLoader loader, int epoch, Action<int, EpochStats>? onBatch = null, int startBatch = 0)
    {
        Model.Train();
        double lossSum = 0;
        int correct = 0, seen = 0, batchIndex = startBatch;
        var clock = Stopwatch.StartNew();
        foreach (var batch in BatchesInScopes(loader, epoch, startBatch))
        {
            Optimizer.ZeroGrad();
            var logits = Model.Forward(batch.Images);
            var loss = Ops.CrossEntropy(logits, batch.Labels);
            loss.Backward();
            Optimizer.Step();
            lossSum += loss.Item() * batch.Count;
            correct += CountCorrect(logits, batch.HostLabels);
            seen += batch.Count;
            onBatch?.Invoke(++batchIndex, new EpochStats(lossSum / seen, (double)correct / seen, seen, clock.Elapsed.TotalSeconds));
        }
        return new EpochStats(lossSum / seen, (double)correct / seen, seen, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Mean loss and accuracy in eval mode, without recording gradients.</summary>
    public static EpochStats Evaluate(Module model, DataLoader loader, IBackend backend)
    {
        model.Eval();
        double lossSum = 0;
        int correct = 0, seen = 0;
        var clock = Stopwatch.StartNew();
        using (Autograd.NoGrad())
        {
            foreach (var batch in BatchesInScopes(loader, 0, 0, backend))
            {
                var logits = model.Forward(batch.Images);
                lossSum += Ops.CrossEntropy(logits, batch.Labels, Reduction.Sum).Item();
                correct += CountCorrect(logits, batch.HostLabels);
                seen += batch.Count;
            }
        }
        return new EpochStats(lossSum / seen, (double)correct / seen, seen, clock.Elapsed.TotalSeconds);
    }

    private IEnumerable<Batch> BatchesInScopes(DataLoader loader, int epoch, int startBatch) => BatchesInScopes(loader, epoch, startBatch, Backend);

    /// <summary>Each batch lives in its own scope, closed when the consumer moves to the next.</summary>
    private static IEnumerable<Batch> BatchesInScopes(DataLoader loader, int epoch, int startBatch, IBackend backend)
    {
        using var order = loader.Batches(backend, epoch, startBatch).GetEnumerator();
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
        var values = logits.ToArray();
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
