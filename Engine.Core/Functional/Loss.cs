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

    /// <summary>
    /// Cross-entropy with optional class weights and label smoothing eps, PyTorch's definition:
    /// (1 - eps) * weighted NLL + eps * smooth, where smooth[n] = -sum_c w_c logp[n,c] / C; the mean reduction
    /// divides both terms by the sum of the targets' weights.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, float[]? classWeights, float labelSmoothing = 0f, Reduction reduction = Reduction.Mean)
    {
        if (logits.Rank != 2) throw new ArgumentException($"CrossEntropy: expected input (N,classes), got {logits.Shape}");
        int classes = logits.Shape[1];
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentException($"CrossEntropy: expected label smoothing in [0, 1], got {labelSmoothing}");
        if (classWeights is not null && classWeights.Length != classes)
            throw new ArgumentException($"CrossEntropy: expected {classes} class weights, got {classWeights.Length}");
        var logProb = LogSoftmax(logits, 1);
        var nll = NllLoss(logProb, targets, Reduction.None, "CrossEntropy");
        var be = logits.Backend;
        var targetValues = targets.ToArray();
        float weightSum = targets.Length;
        if (classWeights is not null)
        {
            var perSample = new float[targetValues.Length];
            weightSum = 0f;
            for (int i = 0; i < perSample.Length; i++) weightSum += perSample[i] = classWeights[(int)targetValues[i]];
            nll = Multiply(nll, Tensor.FromArray(be, perSample, nll.Shape));
        }
        var loss = nll;
        if (labelSmoothing > 0f)
        {
            var weighted = classWeights is null ? logProb : Multiply(logProb, Tensor.FromArray(be, classWeights, new Shape(1, classes)));
            var smooth = Scale(Reshape(SumTo(weighted, new Shape(targets.Length, 1)), targets.Shape), -1f / classes);
            loss = Add(Scale(nll, 1f - labelSmoothing), Scale(smooth, labelSmoothing));
        }
        return reduction switch
        {
            Reduction.Mean => Scale(Sum(loss), 1f / weightSum),
            Reduction.Sum => Sum(loss),
            _ => loss,
        };
    }

    /// <summary>Cross-entropy against host labels (uploaded to the logits' backend).</summary>
    public static Tensor CrossEntropy(Tensor logits, ReadOnlySpan<int> labels, Reduction reduction = Reduction.Mean)
    {
        var values = System.Buffers.ArrayPool<float>.Shared.Rent(labels.Length);
        try
        {
            for (int i = 0; i < labels.Length; i++) values[i] = labels[i];
            return CrossEntropy(logits, Tensor.FromArray(logits.Backend, values.AsSpan(0, labels.Length), new Shape(labels.Length)), reduction);
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(values);
        }
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
        if (Autograd.Needs(logProb)) Autograd.Record("NllLoss", loss, new NllLossBackward(logProb, targets), logProb);
        return Reduce(loss, reduction);
    }

    /// <summary>dLogProb[n, target[n]] = -dLoss[n], zero elsewhere.</summary>
    private readonly struct NllLossBackward(Tensor logProb, Tensor targets) : IBackward
    {
        public void Backward(Tensor dLoss)
        {
            var be = logProb.Backend;
            var dLogProb = Tensor.Empty(be, logProb.Shape);
            be.NllLossBackward(logProb.Shape[0], logProb.Shape[1], targets.Buffer, dLoss.Buffer, dLogProb.Buffer);
            Autograd.Accumulate(logProb, dLogProb);
        }
    }

    /// <summary>Mean (or sum) of squared differences.</summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        if (input.Shape != target.Shape)
            throw new ArgumentException($"MSE: expected input and target of one shape, got {input.Shape} and {target.Shape}");
        return Reduce(Square(Subtract(input, target)), reduction);
    }

    /// <summary>Binary cross-entropy on logits, stable form: max(x,0) - x*y + log(1 + exp(-|x|)).</summary>
    public static Tensor BceWithLogits(Tensor logits, Tensor target, Reduction reduction = Reduction.Mean)
    {
        if (logits.Shape != target.Shape)
            throw new ArgumentException($"BCEWithLogits: expected input and target of one shape, got {logits.Shape} and {target.Shape}");
        var perElement = Add(Subtract(Relu(logits), Multiply(logits, target)), Softplus(Scale(Abs(logits), -1f)));
        return Reduce(perElement, reduction);
    }

    /// <summary>Mean (or sum) of absolute differences.</summary>
    public static Tensor L1Loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        if (input.Shape != target.Shape)
            throw new ArgumentException($"L1: expected input and target of one shape, got {input.Shape} and {target.Shape}");
        return Reduce(Abs(Subtract(input, target)), reduction);
    }

    /// <summary>Smooth L1 (PyTorch): 0.5 d^2 / beta where |d| &lt; beta, else |d| - 0.5 beta; beta 0 is L1.</summary>
    public static Tensor SmoothL1Loss(Tensor input, Tensor target, float beta = 1f, Reduction reduction = Reduction.Mean)
    {
        if (input.Shape != target.Shape)
            throw new ArgumentException($"SmoothL1: expected input and target of one shape, got {input.Shape} and {target.Shape}");
        if (beta < 0f) throw new ArgumentException($"SmoothL1: expected a non-negative beta, got {beta}");
        var d = Subtract(input, target);
        return Reduce(beta == 0f ? Abs(d) : Unary(UnaryOp.SmoothL1, d, beta), reduction);
    }

    /// <summary>Dice loss on probabilities: 1 - (2 sum(p t) + smooth) / (sum p + sum t + smooth).</summary>
    public static Tensor DiceLoss(Tensor probabilities, Tensor target, float smooth = 1f)
    {
        if (probabilities.Shape != target.Shape)
            throw new ArgumentException($"Dice: expected input and target of one shape, got {probabilities.Shape} and {target.Shape}");
        var intersection = AddScalar(Scale(Sum(Multiply(probabilities, target)), 2f), smooth);
        var total = AddScalar(Add(Sum(probabilities), Sum(target)), smooth);
        return AddScalar(Scale(Divide(intersection, total), -1f), 1f);
    }

    private static Tensor Reduce(Tensor perElement, Reduction reduction) => reduction switch
    {
        Reduction.Mean => Mean(perElement),
        Reduction.Sum => Sum(perElement),
        _ => perElement,
    };

    private static void CheckClassIndices(Tensor targets, int classes, string where)
    {
        var rented = System.Buffers.ArrayPool<float>.Shared.Rent(targets.Length);
        try
        {
            var values = rented.AsSpan(0, targets.Length);
            targets.CopyTo(values);
            for (int i = 0; i < values.Length; i++)
            {
                float t = values[i];
                if (!(t >= 0 && t < classes) || t != MathF.Floor(t))
                    throw new ArgumentException($"{where}: target {i} is {t}; expected a class index in [0, {classes})");
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(rented);
        }
    }
}
