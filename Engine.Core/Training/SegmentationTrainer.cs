using System.Diagnostics;
using Engine.Data;
using Engine.Nn;
using Engine.Optim;

namespace Engine.Training;

/// <summary>Per-pixel losses of binary segmentation, on logits (B x 1 x H x W) against masks of 0 and 1.</summary>
public enum SegmentationLoss
{
    /// <summary>Mean binary cross-entropy on logits over every pixel.</summary>
    Bce,
    /// <summary>Dice loss on sigmoid probabilities, over the whole batch (smooth 1).</summary>
    Dice,
    /// <summary>BCE + Dice (the sum), the usual pairing: BCE's per-pixel gradient with Dice's balance of classes.</summary>
    BceDice,
}

/// <summary>A pass of segmentation: mean loss, and the pixel counts at threshold 0.5.</summary>
public readonly record struct SegmentationStats(double Loss, MaskCounts Counts, int Images, double Seconds)
{
    public double ImagesPerSecond => Seconds > 0 ? Images / Seconds : 0;
}

/// <summary>
/// The binary segmentation loop: per batch, one scope, forward to logits (B x 1 x H x W), the chosen per-pixel loss,
/// backward, optimizer step. Evaluation sweeps thresholds over sigmoid probabilities.
/// </summary>
public sealed class SegmentationTrainer(Module model, Optimizer optimizer, IBackend backend, SegmentationLoss loss = SegmentationLoss.BceDice)
{
    public const float DefaultThreshold = 0.5f;

    public Module Model { get; } = model;
    public Optimizer Optimizer { get; } = optimizer;
    public IBackend Backend { get; } = backend;
    public SegmentationLoss Loss { get; } = loss;

    /// <summary>The loss of <paramref name="logits"/> against <paramref name="masks"/> (same shape), a rank-0 tensor.</summary>
    public static Tensor LossOf(Tensor logits, Tensor masks, SegmentationLoss loss) => loss switch
    {
        SegmentationLoss.Bce => Ops.BceWithLogits(logits, masks),
        SegmentationLoss.Dice => Ops.DiceLoss(Ops.Sigmoid(logits), masks),
        _ => Ops.Add(Ops.BceWithLogits(logits, masks), Ops.DiceLoss(Ops.Sigmoid(logits), masks)),
    };

    /// <summary>Trains one epoch; <paramref name="onBatch"/> sees the running stats after every batch.</summary>
    public SegmentationStats TrainEpoch(SegmentationLoader loader, int epoch, Action<int, SegmentationStats>? onBatch = null)
    {
        Model.Train();
        double lossSum = 0;
        var counts = default(MaskCounts);
        int seen = 0, batchIndex = 0;
        var clock = Stopwatch.StartNew();
        foreach (var batch in InScopes(loader.Batches(Backend, epoch)))
        {
            Optimizer.ZeroGrad();
            var logits = Model.Forward(batch.Images);
            CheckOutput(logits, batch.Masks);
            var value = LossOf(logits, batch.Masks, Loss);
            value.Backward();
            Optimizer.Step();
            lossSum += value.Item() * batch.Count;
            counts += CountAt(logits, batch.Masks, DefaultThreshold);
            seen += batch.Count;
            onBatch?.Invoke(++batchIndex, new SegmentationStats(lossSum / seen, counts, seen, clock.Elapsed.TotalSeconds));
        }
        return new SegmentationStats(lossSum / seen, counts, seen, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Mean loss and pixel counts at 0.5 in eval mode without gradients; <paramref name="sweep"/> (when given)
    /// accumulates the counts at its thresholds.
    /// </summary>
    public static SegmentationStats Evaluate(Module model, SegmentationLoader loader, IBackend backend, SegmentationLoss loss, ThresholdSweep? sweep = null)
    {
        model.Eval();
        double lossSum = 0;
        var counts = default(MaskCounts);
        int seen = 0;
        var clock = Stopwatch.StartNew();
        using (Autograd.NoGrad())
        {
            foreach (var batch in InScopes(loader.Batches(backend)))
            {
                var logits = model.Forward(batch.Images);
                CheckOutput(logits, batch.Masks);
                lossSum += LossOf(logits, batch.Masks, loss).Item() * batch.Count;
                var probabilities = Ops.Sigmoid(logits).ToArray();
                var masks = batch.Masks.ToArray();
                counts += MaskCounts.Count(probabilities, masks, DefaultThreshold);
                sweep?.Add(probabilities, masks);
                seen += batch.Count;
            }
        }
        return new SegmentationStats(lossSum / seen, counts, seen, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Sigmoid probabilities (B x 1 x H x W, host) of the model for images (B x C x H x W), in eval mode.</summary>
    public static float[] Predict(Module model, Tensor images)
    {
        model.Eval();
        using var noGrad = Autograd.NoGrad();
        using var scope = Scope.Begin();
        return Ops.Sigmoid(model.Forward(images)).ToArray();
    }

    private static MaskCounts CountAt(Tensor logits, Tensor masks, float threshold)
    {
        // sigmoid(x) >= t exactly when x >= logit(t), so the logits can be counted directly.
        float logitThreshold = MathF.Log(threshold / (1f - threshold));
        return MaskCounts.Count(logits.ToArray(), masks.ToArray(), logitThreshold);
    }

    private static void CheckOutput(Tensor logits, Tensor masks)
    {
        if (logits.Shape != masks.Shape)
            throw new ArgumentException($"segmentation: expected the model to output one map per image {masks.Shape} (one class), got {logits.Shape}");
    }

    /// <summary>Each batch lives in its own scope, closed when the consumer moves to the next.</summary>
    private static IEnumerable<SegmentationBatch> InScopes(IEnumerable<SegmentationBatch> batches)
    {
        using var order = batches.GetEnumerator();
        while (true)
        {
            using var scope = Scope.Begin();
            if (!order.MoveNext()) yield break;
            yield return order.Current;
        }
    }
}
