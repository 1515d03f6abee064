using Engine.Cpu;
using Engine.Data;
using Engine.Models;
using Engine.Optim;
using Engine.Tests.Support;
using Engine.Training;
using NUnit.Framework;

namespace Engine.Tests.Training;

/// <summary>The training loop's parts: validation split, early stopping, warm-up, clipping, per-batch schedules, Fit and detailed evaluation.</summary>
[TestFixture]
public sealed class FitTests
{
    private static Dataset Slice(Dataset data, int count) => DatasetSplit.Subset(data, Enumerable.Range(0, count).ToArray());

    [Test]
    public void ValidationSplitIsSeededDisjointAndKeepsLabelsWithTheirImages()
    {
        var data = Slice(TestData.MnistTrain, 200);
        var (train, validation) = DatasetSplit.Split(data, 0.25, seed: 7);
        Assert.That((train.Count, validation.Count), Is.EqualTo((150, 50)), "round(0.25 * 200) held out");
        var (train2, validation2) = DatasetSplit.Split(data, 0.25, seed: 7);
        Assert.That(validation2.Images, Is.EqualTo(validation.Images), "the same seed gives the same split");
        Assert.That(DatasetSplit.Split(data, 0.25, seed: 8).Validation.Images, Is.Not.EqualTo(validation.Images), "another seed another split");
        // Every item lands on exactly one side, with its own label: match items by their pixels.
        int item = data.ItemShape.Size;
        string Key(Dataset d, int i) => Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.Images.AsSpan(i * item, item)));
        var original = Enumerable.Range(0, data.Count).GroupBy(i => Key(data, i)).ToDictionary(g => g.Key, g => g.Select(i => data.Labels[i]).ToList());
        var seen = new List<(string, int)>();
        foreach (var part in new[] { train2, validation2 })
            for (int i = 0; i < part.Count; i++) seen.Add((Key(part, i), part.Labels[i]));
        Assert.That(seen.Select(s => s.Item1).OrderBy(k => k, StringComparer.Ordinal),
            Is.EqualTo(Enumerable.Range(0, data.Count).Select(i => Key(data, i)).OrderBy(k => k, StringComparer.Ordinal)), "the two parts together are the data set");
        Assert.That(seen.All(s => original[s.Item1].Contains(s.Item2)), "each image keeps its label");
        Assert.Throws<ArgumentException>(() => DatasetSplit.Split(data, 1.0, 1));
        Assert.Throws<ArgumentException>(() => DatasetSplit.Split(data, 0.001, 1), "0.2 of an item rounds to none");
    }

    [Test]
    public void EarlyStoppingFollowsTheBestValueAndCountsPatience()
    {
        var byLoss = new EarlyStopping(MonitoredMetric.ValidationLoss, patience: 2);
        // losses 1.0 (best), 0.8 (best), 0.9, 0.85 (two without improvement: stop), 0.7 would have been best.
        bool[] improved = [.. new[] { 1.0, 0.8, 0.9, 0.85 }.Select((loss, e) => byLoss.Update(e, new EpochStats(loss, 0, 1, 1)))];
        Assert.That(improved, Is.EqualTo(new[] { true, true, false, false }));
        Assert.That((byLoss.Best, byLoss.BestEpoch, byLoss.EpochsWithoutImprovement, byLoss.ShouldStop), Is.EqualTo((0.8, 1, 2, true)));

        var byAccuracy = new EarlyStopping(MonitoredMetric.ValidationAccuracy, minDelta: 0.01);
        // 0.50 best; 0.505 is within min delta (not better); 0.52 best; no patience: never stops.
        bool[] accuracyImproved = [.. new[] { 0.50, 0.505, 0.52 }.Select((acc, e) => byAccuracy.Update(e, new EpochStats(0, acc, 1, 1)))];
        Assert.That(accuracyImproved, Is.EqualTo(new[] { true, false, true }));
        Assert.That((byAccuracy.BestEpoch, byAccuracy.ShouldStop), Is.EqualTo((2, false)));
    }

    [Test]
    public void LinearWarmupRampsThenFollowsTheInnerSchedule()
    {
        using var backend = new CpuBackend(1);
        var sgd = new Sgd([Tensor.Zeros(backend, new Shape(1))], 0.4f);
        var warm = new LinearWarmup(sgd, warmup: 4, new StepLR(sgd, stepSize: 6, gamma: 0.5f));
        // steps 0..3: 0.4 * (t + 1) / 4; steps 4, 5: 0.4; step 6: 0.2.
        Assert.That(Enumerable.Range(0, 7).Select(warm.RateAt), Is.EqualTo(new[] { 0.1f, 0.2f, 0.3f, 0.4f, 0.4f, 0.4f, 0.2f }).Within(1e-7f));
        Assert.That(sgd.LearningRate, Is.EqualTo(0.1f).Within(1e-7f), "the optimizer starts at the first step's rate");
        warm.Step();
        Assert.That(sgd.LearningRate, Is.EqualTo(0.2f).Within(1e-7f));
    }

    private static (LeNet5 Model, CpuBackend Backend) Model()
    {
        var backend = new CpuBackend(2);
        var model = new LeNet5(generator: new Generator(3));
        model.To(backend);
        return (model, backend);
    }

    [Test]
    public void ClippingBoundsTheStepAndTheSchedulerStepsEveryBatch()
    {
        var (model, backend) = Model();
        using var _ = backend;
        var before = model.StateDict();
        const float lr = 1f, clip = 1e-3f;
        var sgd = new Sgd(model.Parameters(), lr);
        var scheduler = new CosineAnnealingLR(sgd, total: 10);
        var trainer = new Trainer(model, sgd, backend) { ClipNorm = clip, Scheduler = scheduler };
        var loader = new DataLoader(Slice(TestData.MnistTrain, 64), 64);
        trainer.TrainEpoch(loader, 0);
        // One plain SGD step of the clipped gradient: |delta| = lr * |g clipped| <= lr * clip (up to rounding).
        double squares = model.StateDict().Sum(p => p.Value.Zip(before[p.Key], (a, b) => (double)(a - b) * (a - b)).Sum());
        Assert.That(Math.Sqrt(squares), Is.LessThanOrEqualTo(lr * clip * 1.001).And.GreaterThan(lr * clip * 0.5), "the unclipped gradient is far larger than 1e-3");
        Assert.That(scheduler.StepCount, Is.EqualTo(loader.BatchCount));
        Assert.That(sgd.LearningRate, Is.EqualTo(scheduler.RateAt(1)));
    }

    [Test]
    public void FitStopsEarlyWhenNothingImprovesAndReportsTheBestEpoch()
    {
        var (model, backend) = Model();
        using var _ = backend;
        var (train, validation) = DatasetSplit.Split(Slice(TestData.MnistTrain, 160), 0.2, seed: 1);
        // Learning rate 0: the weights never change, so validation accuracy never beats epoch 1's.
        var trainer = new Trainer(model, new Sgd(model.Parameters(), 0f), backend);
        var improvedEpochs = new List<int>();
        var seenEpochs = new List<int>();
        var history = trainer.Fit(new DataLoader(train, 32, shuffle: true, seed: 1), new FitOptions(Epochs: 10)
        {
            Validation = new DataLoader(validation, 64),
            Test = new DataLoader(Slice(TestData.MnistTest, 64), 64),
            Patience = 2,
            OnEpoch = e => seenEpochs.Add(e.Epoch),
            OnImproved = e => improvedEpochs.Add(e.Epoch),
        });
        Assert.That(history.StoppedEarly);
        Assert.That(seenEpochs, Is.EqualTo(new[] { 0, 1, 2 }), "epoch 1 is the best; epochs 2 and 3 exhaust a patience of 2");
        Assert.That((history.BestEpoch, improvedEpochs), Is.EqualTo((0, new List<int> { 0 })));
        Assert.That(history.Epochs.All(e => e.Validation is not null && e.Test is { Top5Accuracy: >= 0 and <= 1 }));
        Assert.Throws<ArgumentException>(() => trainer.Fit(new DataLoader(train, 32), new FitOptions(1) { Patience = 1 }), "patience without validation");
    }

    [Test]
    public void DetailedEvaluationAgreesWithMetricsOnTheSameLogits()
    {
        var (model, backend) = Model();
        using var _ = backend;
        var test = Slice(TestData.MnistTest, 100);
        var evaluation = Trainer.EvaluateDetailed(model, new DataLoader(test, 32), backend);
        float[] logits;
        using (Scope.Begin())
        using (Autograd.NoGrad())
            logits = model.Forward(Tensor.FromArray(backend, test.Images, new Shape(100, 1, 28, 28))).ToArray();
        Assert.That(evaluation.Predicted, Is.EqualTo(Metrics.Predictions(logits, 10)));
        Assert.That(evaluation.Labels, Is.EqualTo(test.Labels));
        Assert.That(evaluation.Stats.Top5Accuracy, Is.EqualTo(Metrics.TopKCorrect(logits, 10, test.Labels, 5) / 100.0));
        Assert.That(evaluation.Stats.Accuracy, Is.EqualTo(evaluation.Confusion.Accuracy).Within(1e-12));
        Assert.That(evaluation.Confusion.Total, Is.EqualTo(100));
        // Mistakes come first, most confident first; then correct answers, least confident first.
        var order = evaluation.MistakesFirst();
        int mistakes = evaluation.Predicted.Where((p, i) => p != test.Labels[i]).Count();
        Assert.That(order.Take(mistakes).All(i => evaluation.Predicted[i] != test.Labels[i]) && order.Skip(mistakes).All(i => evaluation.Predicted[i] == test.Labels[i]));
        Assert.That(order.Take(mistakes).Select(i => evaluation.Confidence[i]), Is.Ordered.Descending);
        Assert.That(order.Skip(mistakes).Select(i => evaluation.Confidence[i]), Is.Ordered.Ascending);
    }

    [Test]
    public void SoftmaxOfARowSumsToOneAndKeepsTheOrder()
    {
        // softmax(0, ln 2, ln 5) = (1, 2, 5) / 8.
        Assert.That(Metrics.Softmax([0f, MathF.Log(2), MathF.Log(5)]), Is.EqualTo(new[] { 0.125f, 0.25f, 0.625f }).Within(1e-6f));
        Assert.That(Metrics.Softmax([1000f, 1000f]), Is.EqualTo(new[] { 0.5f, 0.5f }), "large logits do not overflow");
    }
}
