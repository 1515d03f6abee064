using Engine.Training;
using NUnit.Framework;

namespace Engine.Tests.Training;

/// <summary>Metrics against values worked out by hand in the comments.</summary>
public class MetricsTests
{
    [Test]
    public void TopKCountsTheLabelAmongTheLargestLogits()
    {
        float[] logits =
        [
            0.1f, 0.5f, 0.3f, 0.2f, // ranks: 1, 2, 3, 0
            4f, 3f, 2f, 1f,         // ranks: 0, 1, 2, 3
            1f, 1f, 1f, 0f,         // ties rank by index: 0, 1, 2, then 3
        ];
        int[] labels = [2, 3, 2];
        // top-1: row 0 predicts 1, row 1 predicts 0, row 2 predicts 0: none right.
        Assert.That(Metrics.TopKCorrect(logits, 4, labels, 1), Is.Zero);
        // top-2: row 0 {1, 2} has 2; row 1 {0, 1} lacks 3; row 2 {0, 1} lacks 2.
        Assert.That(Metrics.TopKCorrect(logits, 4, labels, 2), Is.EqualTo(1));
        // top-3: row 2 {0, 1, 2} has 2; row 1 {0, 1, 2} lacks 3.
        Assert.That(Metrics.TopKCorrect(logits, 4, labels, 3), Is.EqualTo(2));
        Assert.That(Metrics.TopKCorrect(logits, 4, labels, 4), Is.EqualTo(3));
        Assert.That(Metrics.Predictions(logits, 4), Is.EqualTo(new[] { 1, 0, 0 }));
    }

    [Test]
    public void ConfusionMatrixGivesPerClassPrecisionRecallAndF1()
    {
        var m = new ConfusionMatrix(3);
        int[] actual = [0, 0, 1, 1, 2, 2, 2], predicted = [0, 1, 1, 1, 2, 0, 2];
        for (int i = 0; i < actual.Length; i++) m.Add(actual[i], predicted[i]);
        //            predicted 0 1 2
        // actual 0:            1 1 0
        // actual 1:            0 2 0
        // actual 2:            1 0 2
        Assert.That(m.Counts, Is.EqualTo(new long[,] { { 1, 1, 0 }, { 0, 2, 0 }, { 1, 0, 2 } }));
        Assert.That(m.Accuracy, Is.EqualTo(5.0 / 7));
        // class 0: P = 1/2, R = 1/2, F1 = 1/2. class 1: P = 2/3, R = 1, F1 = 0.8. class 2: P = 1, R = 2/3, F1 = 0.8.
        Assert.That(new[] { m.Precision(0), m.Precision(1), m.Precision(2) }, Is.EqualTo(new[] { 0.5, 2.0 / 3, 1.0 }).Within(1e-12));
        Assert.That(new[] { m.Recall(0), m.Recall(1), m.Recall(2) }, Is.EqualTo(new[] { 0.5, 1.0, 2.0 / 3 }).Within(1e-12));
        Assert.That(new[] { m.F1(0), m.F1(1), m.F1(2) }, Is.EqualTo(new[] { 0.5, 0.8, 0.8 }).Within(1e-12));
        Assert.That(m.MacroF1, Is.EqualTo(2.1 / 3).Within(1e-12));
        Assert.That(m.Support(2), Is.EqualTo(3));
    }

    [Test]
    public void ConfusionFromLogitsAndAClassNeverPredicted()
    {
        var m = new ConfusionMatrix(3);
        m.AddLogits([2f, 1f, 0f, 0f, 3f, 1f], [0, 2]);
        // row 0 predicts 0 (right); row 1 predicts 1 for a 2. Class 2 is never predicted: precision 0 by convention.
        Assert.That(m.Counts[0, 0] + m.Counts[2, 1], Is.EqualTo(2));
        Assert.That((m.Precision(2), m.Recall(2), m.F1(2)), Is.EqualTo((0.0, 0.0, 0.0)));
        Assert.Throws<ArgumentException>(() => m.AddLogits([1f, 2f, 3f], [3]));
    }

    [Test]
    public void MaskMetricsAtAThresholdAndTheSweep()
    {
        float[] scores = [0.9f, 0.2f, 0.6f, 0.4f], targets = [1, 0, 0, 1];
        // threshold 0.5: predicted 1 0 1 0 -> TP 1, FP 1, FN 1, TN 1: accuracy 1/2, IoU 1/3, F1 2/4.
        var half = MaskCounts.Count(scores, targets, 0.5f);
        Assert.That(half, Is.EqualTo(new MaskCounts(1, 1, 1, 1)));
        Assert.That((half.PixelAccuracy, half.IoU, half.F1), Is.EqualTo((0.5, 1.0 / 3, 0.5)));
        // threshold 0.3: predicted 1 0 1 1 -> TP 2, FP 1, FN 0, TN 1: accuracy 3/4, IoU 2/3, F1 4/5.
        var sweep = new ThresholdSweep(0.3f, 0.5f, 0.95f);
        sweep.Add(scores, targets);
        Assert.That(sweep.Counts[0], Is.EqualTo(new MaskCounts(2, 1, 0, 1)));
        Assert.That((sweep.Counts[0].PixelAccuracy, sweep.Counts[0].IoU, sweep.Counts[0].F1), Is.EqualTo((0.75, 2.0 / 3, 0.8)).Within(1e-12));
        // threshold 0.95: nothing predicted -> TP 0, FN 2: IoU 0.
        Assert.That(sweep.Counts[2].IoU, Is.Zero);
        Assert.That(sweep.BestIoU().Threshold, Is.EqualTo(0.3f));
        // Adding the same batch again doubles the counts and leaves the ratios.
        sweep.Add(scores, targets);
        Assert.That(sweep.Counts[1], Is.EqualTo(half + half));
        Assert.That(sweep.Counts[1].IoU, Is.EqualTo(1.0 / 3));
    }

    [Test]
    public void EmptyPredictionOfAnEmptyMaskIsPerfect()
    {
        var counts = MaskCounts.Count([0.1f, 0.2f], [0f, 0f], 0.5f);
        Assert.That((counts.PixelAccuracy, counts.IoU, counts.F1), Is.EqualTo((1.0, 1.0, 1.0)));
        Assert.That(ThresholdSweep.Uniform(4).Thresholds, Is.EqualTo(new[] { 0.2f, 0.4f, 0.6f, 0.8f }));
    }
}
