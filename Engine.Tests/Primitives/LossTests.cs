using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>NLL, cross-entropy from logits (mean and sum) and MSE: backend primitives and autograd.</summary>
public abstract class LossTests : BackendFixture
{
    public sealed record LossCase(int Batch, int Classes, Reduction Reduction, int Seed);

    private static readonly FsCheck.Gen<LossCase> Cases =
        from batch in Gen.Choose(1, 9)
        from classes in Gen.Choose(2, 12)
        from reduction in Gen.Elements(Reduction.Mean, Reduction.Sum, Reduction.None)
        from seed in Properties.DataSeed
        select new LossCase(batch, classes, reduction, seed);

    private static int[] Targets(Random random, int batch, int classes) => Enumerable.Range(0, batch).Select(_ => random.Next(classes)).ToArray();

    [Test]
    public void NllLossMatchesReference() => Properties.Check(Cases, c =>
    {
        var random = new Random(c.Seed);
        var logProb = Numerics.Uniform(random, c.Batch * c.Classes, -5, 0);
        var targets = Targets(random, c.Batch, c.Classes);
        var dLoss = Numerics.Uniform(random, c.Batch);
        var targetBuffer = Buffer(targets.Select(t => (double)t).ToArray());
        var loss = Output(c.Batch);
        Backend.NllLoss(c.Batch, c.Classes, Buffer(logProb), targetBuffer, loss);
        Numerics.AssertClose(Download(loss, c.Batch), SoftmaxReference.NllLoss(c.Batch, c.Classes, logProb, targets), 0, 0, $"NLL {c}");
        var dLogProb = Output(c.Batch * c.Classes);
        Backend.NllLossBackward(c.Batch, c.Classes, targetBuffer, Buffer(dLoss), dLogProb);
        Numerics.AssertClose(Download(dLogProb, c.Batch * c.Classes), SoftmaxReference.NllLossBackward(c.Batch, c.Classes, targets, dLoss), 0, 0, $"NLL backward {c}");
    }, runs: 60);

    private static double[] CrossEntropyReference(LossCase c, double[] logits, int[] targets)
    {
        var perSample = SoftmaxReference.NllLoss(c.Batch, c.Classes, SoftmaxReference.Softmax(c.Batch, c.Classes, 1, true, logits), targets);
        return c.Reduction switch
        {
            Reduction.Mean => [perSample.Average()],
            Reduction.Sum => [perSample.Sum()],
            _ => perSample,
        };
    }

    /// <summary>Cross-entropy from logits = NLL of log-softmax, reduced; forward and gradient w.r.t. the logits.</summary>
    [Test]
    public void CrossEntropyMatchesReferenceAndFiniteDifferences() => Properties.Check(Cases, c =>
    {
        var random = new Random(c.Seed);
        var logits = Numerics.Uniform(random, c.Batch * c.Classes, -4, 4);
        var targets = Targets(random, c.Batch, c.Classes);
        var loss = Engine.Ops.CrossEntropy(Upload(logits, c.Batch, c.Classes), targets, c.Reduction);
        Numerics.AssertClose(loss.ToArray(), CrossEntropyReference(c, logits, targets), 1e-5, 1e-6, $"cross-entropy {c}");
        AssertAutogradMatchesFiniteDifferences($"cross-entropy {c}", random, [(logits, [c.Batch, c.Classes], true)],
            t => Engine.Ops.CrossEntropy(t[0], targets, c.Reduction), v => CrossEntropyReference(c, v[0], targets));
    }, runs: 60);

    [Test]
    public void MseMatchesReferenceAndFiniteDifferences() => Properties.Check(Cases, c =>
    {
        var random = new Random(c.Seed);
        int n = c.Batch * c.Classes;
        var input = Numerics.Uniform(random, n, -2, 2);
        var target = Numerics.Uniform(random, n, -2, 2);
        double[] Reference(double[][] v)
        {
            var squares = v[0].Select((x, i) => (x - v[1][i]) * (x - v[1][i])).ToArray();
            return c.Reduction switch { Reduction.Mean => [squares.Average()], Reduction.Sum => [squares.Sum()], _ => squares };
        }
        var loss = Engine.Ops.MseLoss(Upload(input, c.Batch, c.Classes), Upload(target, c.Batch, c.Classes), c.Reduction);
        Numerics.AssertClose(loss.ToArray(), Reference([input, target]), 1e-5, 1e-6, $"MSE {c}");
        AssertAutogradMatchesFiniteDifferences($"MSE {c}", random, [(input, [c.Batch, c.Classes], true), (target, [c.Batch, c.Classes], true)],
            t => Engine.Ops.MseLoss(t[0], t[1], c.Reduction), Reference);
    }, runs: 60);

    /// <summary>Uniform logits over C classes give loss ln C (a value from the definition, not from the code).</summary>
    [Test]
    public void CrossEntropyOfUniformLogitsIsLogOfClassCount()
    {
        var loss = Engine.Ops.CrossEntropy(Upload(new double[4 * 10], 4, 10), [0, 3, 9, 5]);
        Assert.That(loss.Item(), Is.EqualTo(Math.Log(10)).Within(1e-6));
    }
}
