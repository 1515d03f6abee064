namespace Engine;

/// <summary>How a per-sample loss is reduced to the result.</summary>
public enum Reduction { Mean, Sum, None }

public static partial class Ops
{
    /// <summary>
    /// Cross-entropy from logits (N x classes) and class indices (N, exact float values in [0, classes)):
    /// NLL of log-softmax, reduced by mean (the default) or sum, or per sample.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, Reduction reduction = Reduction.Mean) =>
        NllLoss(LogSoftmax(logits, 1), targets, reduction, "CrossEntropy");

    /// <summary>Cross-entropy against host labels (uploaded to the logits' backend).</summary>
    public static Tensor CrossEntropy(Tensor logits, ReadOnlySpan<int> labels, Reduction reduction = Reduction.Mean)
    {
        var values = new float[labels.Length];
        for (int i = 0; i < labels.Length; i++) values[i] = labels[i];
        return CrossEntropy(logits, Tensor.FromArray(logits.Backend, values, new Shape(labels.Length)), reduction);
    }

    /// <summary>Negative log-likelihood: loss[n] = -logProb[n, target[n]]. dLogProb[n, target[n]] = -dLoss[n].</summary>
    public static Tensor NllLoss(Tensor logProb, Tensor targets, Reduction reduction = Reduction.Mean, string where = "NllLoss")
    {
        if (logProb.Rank != 2)
            throw new ArgumentException($"{where}: expected input (N,classes), got {logProb.Shape}");
        int n = logProb.Shape[0], classes = logProb.Shape[1];
        if (targets.Rank != 1 || targets.Length != n)
            throw new ArgumentException($"{where}: expected {n} targets (one per input row) as shape ({n}), got {targets.Shape}");
        logProb.CheckSameBackend(targets, where);
        CheckClassIndices(targets, classes, where);
        var be = logProb.Backend;
        var loss = Tensor.Empty(be, new Shape(n));
        be.NllLoss(n, classes, logProb.Buffer, targets.Buffer, loss.Buffer);
        if (Autograd.Needs(logProb))
        {
            Autograd.Record("NllLoss", loss, [logProb], dLoss =>
            {
                var dLogProb = Tensor.Empty(be, logProb.Shape);
                be.NllLossBackward(n, classes, targets.Buffer, dLoss.Buffer, dLogProb.Buffer);
                Autograd.Accumulate(logProb, dLogProb);
            });
        }
        return Reduce(loss, reduction);
    }

    /// <summary>Mean (or sum) of squared differences.</summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        if (input.Shape != target.Shape)
            throw new ArgumentException($"MSE: expected input and target of one shape, got {input.Shape} and {target.Shape}");
        return Reduce(Square(Subtract(input, target)), reduction);
    }

    private static Tensor Reduce(Tensor perElement, Reduction reduction) => reduction switch
    {
        Reduction.Mean => Mean(perElement),
        Reduction.Sum => Sum(perElement),
        _ => perElement,
    };

    private static void CheckClassIndices(Tensor targets, int classes, string where)
    {
        var values = targets.ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            float t = values[i];
            if (!(t >= 0 && t < classes) || t != MathF.Floor(t))
                throw new ArgumentException($"{where}: target {i} is {t}; expected a class index in [0, {classes})");
        }
    }
}
