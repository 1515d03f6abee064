namespace Engine.Training;

/// <summary>Classification metrics from logits (N x K, row-major) and labels (N).</summary>
public static class Metrics
{
    /// <summary>
    /// Whether <paramref name="label"/> is among the <paramref name="k"/> largest of <paramref name="row"/>: fewer
    /// than k classes rank above it, where a class ranks above if its logit is larger, or equal at a lower index
    /// (the order a stable descending sort gives).
    /// </summary>
    public static bool InTopK(ReadOnlySpan<float> row, int label, int k)
    {
        float value = row[label];
        int above = 0;
        for (int c = 0; c < row.Length; c++)
            if (row[c] > value || (row[c] == value && c < label)) above++;
        return above < k;
    }

    /// <summary>How many rows have their label among the k largest logits.</summary>
    public static int TopKCorrect(ReadOnlySpan<float> logits, int classes, ReadOnlySpan<int> labels, int k)
    {
        Check(logits, classes, labels);
        if (k < 1) throw new ArgumentException($"top-k: expected k >= 1, got {k}");
        int correct = 0;
        for (int n = 0; n < labels.Length; n++)
            if (InTopK(logits.Slice(n * classes, classes), labels[n], k)) correct++;
        return correct;
    }

    /// <summary>The index of the largest logit of each row (the first on ties).</summary>
    public static int[] Predictions(ReadOnlySpan<float> logits, int classes)
    {
        if (classes < 1 || logits.Length % classes != 0)
            throw new ArgumentException($"metrics: {logits.Length} logits are not whole rows of {classes} classes");
        var predicted = new int[logits.Length / classes];
        for (int n = 0; n < predicted.Length; n++)
        {
            var row = logits.Slice(n * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
            predicted[n] = best;
        }
        return predicted;
    }

    /// <summary>softmax(row)[c] = exp(row[c] - max) / sum_j exp(row[j] - max), in double precision.</summary>
    public static float[] Softmax(ReadOnlySpan<float> row)
    {
        float max = float.NegativeInfinity;
        foreach (float v in row) max = Math.Max(max, v);
        var result = new float[row.Length];
        double sum = 0;
        for (int c = 0; c < row.Length; c++) sum += Math.Exp(row[c] - max);
        for (int c = 0; c < row.Length; c++) result[c] = (float)(Math.Exp(row[c] - max) / sum);
        return result;
    }

    internal static void Check(ReadOnlySpan<float> logits, int classes, ReadOnlySpan<int> labels)
    {
        if (classes < 1 || logits.Length != (long)labels.Length * classes)
            throw new ArgumentException($"metrics: expected {labels.Length} x {classes} logits for {labels.Length} labels, got {logits.Length}");
        foreach (int label in labels)
            if ((uint)label >= (uint)classes) throw new ArgumentException($"metrics: label {label} is outside [0, {classes})");
    }
}

/// <summary>
/// Counts[actual, predicted] over K classes, and the per-class precision TP / (TP + FP), recall TP / (TP + FN) and
/// F1 = 2 P R / (P + R) read from it. A ratio with a zero denominator is 0 (a class never predicted has precision 0).
/// </summary>
public sealed class ConfusionMatrix(int classes)
{
    public int Classes { get; } = classes > 0 ? classes : throw new ArgumentException($"confusion matrix: expected a positive class count, got {classes}");

    /// <summary>K x K, row = actual class, column = predicted class.</summary>
    public long[,] Counts { get; } = new long[classes, classes];

    public long Total { get; private set; }

    public void Add(int actual, int predicted)
    {
        if ((uint)actual >= (uint)Classes || (uint)predicted >= (uint)Classes)
            throw new ArgumentException($"confusion matrix: expected classes in [0, {Classes}), got actual {actual}, predicted {predicted}");
        Counts[actual, predicted]++;
        Total++;
    }

    /// <summary>Adds each row's arg-max prediction against its label.</summary>
    public void AddLogits(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels)
    {
        Metrics.Check(logits, Classes, labels);
        var predicted = Metrics.Predictions(logits, Classes);
        for (int n = 0; n < labels.Length; n++) Add(labels[n], predicted[n]);
    }

    public long TruePositives(int c) => Counts[c, c];

    /// <summary>Samples of class c (row sum).</summary>
    public long Support(int c) => Row(c);

    public double Accuracy => Total == 0 ? 0 : Enumerable.Range(0, Classes).Sum(c => (double)Counts[c, c]) / Total;

    public double Precision(int c) => Ratio(Counts[c, c], Column(c));

    public double Recall(int c) => Ratio(Counts[c, c], Row(c));

    public double F1(int c)
    {
        double p = Precision(c), r = Recall(c);
        return p + r == 0 ? 0 : 2 * p * r / (p + r);
    }

    /// <summary>The unweighted mean of the per-class F1.</summary>
    public double MacroF1 => Enumerable.Range(0, Classes).Average(F1);

    private long Row(int c)
    {
        long sum = 0;
        for (int j = 0; j < Classes; j++) sum += Counts[c, j];
        return sum;
    }

    private long Column(int c)
    {
        long sum = 0;
        for (int i = 0; i < Classes; i++) sum += Counts[i, c];
        return sum;
    }

    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 0 : (double)numerator / denominator;
}

/// <summary>
/// Pixel counts of a binary segmentation: a pixel is predicted foreground when its score is at least the
/// threshold, and is foreground when its target is at least 0.5.
/// Pixel accuracy (TP + TN) / all; IoU TP / (TP + FP + FN); F1 (Dice) 2 TP / (2 TP + FP + FN). When neither the
/// prediction nor the target has foreground, IoU and F1 are 1 (a perfect empty mask).
/// </summary>
public readonly record struct MaskCounts(long TruePositives, long FalsePositives, long FalseNegatives, long TrueNegatives)
{
    public long Total => TruePositives + FalsePositives + FalseNegatives + TrueNegatives;

    public double PixelAccuracy => Total == 0 ? 0 : (double)(TruePositives + TrueNegatives) / Total;

    public double IoU => TruePositives + FalsePositives + FalseNegatives == 0 ? 1 : (double)TruePositives / (TruePositives + FalsePositives + FalseNegatives);

    public double F1 => TruePositives + FalsePositives + FalseNegatives == 0 ? 1 : 2.0 * TruePositives / (2 * TruePositives + FalsePositives + FalseNegatives);

    public static MaskCounts operator +(MaskCounts a, MaskCounts b) =>
        new(a.TruePositives + b.TruePositives, a.FalsePositives + b.FalsePositives, a.FalseNegatives + b.FalseNegatives, a.TrueNegatives + b.TrueNegatives);

    public static MaskCounts Count(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets, float threshold)
    {
        if (scores.Length != targets.Length)
            throw new ArgumentException($"mask metrics: expected as many targets as scores, got {targets.Length} and {scores.Length}");
        long tp = 0, fp = 0, fn = 0, tn = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            bool predicted = scores[i] >= threshold, actual = targets[i] >= 0.5f;
            if (predicted && actual) tp++;
            else if (predicted) fp++;
            else if (actual) fn++;
            else tn++;
        }
        return new MaskCounts(tp, fp, fn, tn);
    }
}

/// <summary>
/// Mask counts at several thresholds at once, accumulated over batches (scores are usually sigmoid outputs), to
/// pick the threshold with the best IoU or F1.
/// </summary>
public sealed class ThresholdSweep
{
    public ThresholdSweep(params float[] thresholds)
    {
        if (thresholds.Length == 0) throw new ArgumentException("threshold sweep: expected at least one threshold");
        Thresholds = thresholds;
        Counts = new MaskCounts[thresholds.Length];
    }

    /// <summary>Thresholds 1/(n+1), 2/(n+1), ..., n/(n+1).</summary>
    public static ThresholdSweep Uniform(int count = 9) =>
        new(Enumerable.Range(1, count).Select(i => (float)i / (count + 1)).ToArray());

    public float[] Thresholds { get; }
    public MaskCounts[] Counts { get; }

    public void Add(ReadOnlySpan<float> scores, ReadOnlySpan<float> targets)
    {
        for (int t = 0; t < Thresholds.Length; t++) Counts[t] += MaskCounts.Count(scores, targets, Thresholds[t]);
    }

    /// <summary>The threshold with the largest IoU (the lowest such threshold on ties) and its counts.</summary>
    public (float Threshold, MaskCounts Counts) BestIoU()
    {
        int best = 0;
        for (int t = 1; t < Thresholds.Length; t++) if (Counts[t].IoU > Counts[best].IoU) best = t;
        return (Thresholds[best], Counts[best]);
    }
}
