using Engine.Optim;
using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>
/// SGD (momentum, dampening, Nesterov, weight decay) and Adam/AdamW updates over several steps: the backend
/// primitives and the optimizer classes against the double reference, within 1e-5 relative.
/// </summary>
public abstract class OptimizerTests : BackendFixture
{
    private const int Steps = 4;

    public sealed record SgdCase(float Lr, float Momentum, float Dampening, float WeightDecay, bool Nesterov, int Length, int Seed);

    private static readonly FsCheck.Gen<SgdCase> SgdCases =
        from lr in Gen.Elements(0.1f, 0.01f)
        from momentum in Gen.Elements(0f, 0.9f, 0.5f)
        from nesterov in momentum > 0 ? Gen.Elements(false, true) : Gen.Constant(false)
        from dampening in nesterov ? Gen.Constant(0f) : Gen.Elements(0f, 0.3f)
        from weightDecay in Gen.Elements(0f, 0.01f)
        from length in Gen.OneOf(Gen.Choose(1, 50), Gen.Constant(40000))
        from seed in Properties.DataSeed
        select new SgdCase(lr, momentum, dampening, weightDecay, nesterov, length, seed);

    [Test]
    public void SgdStepMatchesReference() => Properties.Check(SgdCases, c =>
    {
        var random = new Random(c.Seed);
        var p = Numerics.Uniform(random, c.Length);
        double[]? buf = c.Momentum > 0 ? new double[c.Length] : null;
        var pBuffer = Buffer(p);
        var mBuffer = c.Momentum > 0 ? Buffer(new double[c.Length]) : null;
        for (int step = 1; step <= Steps; step++)
        {
            var grad = Numerics.Uniform(random, c.Length);
            var s = new SgdSettings(c.Lr, c.Momentum, c.Dampening, c.WeightDecay, c.Nesterov, FirstStep: step == 1);
            Backend.SgdStep(s, pBuffer, Buffer(grad), mBuffer, c.Length);
            OptimizerReference.Sgd(s, p, grad, buf);
            Numerics.AssertClose(Download(pBuffer, c.Length), p, 1e-5, 1e-6, $"SGD parameters after step {step} {c}");
        }
    }, runs: 30);

    /// <summary>The Sgd class: momentum buffers start at the first step, one per parameter.</summary>
    [Test]
    public void SgdOptimizerMatchesReference() => Properties.Check(SgdCases.Where(c => c.Length < 1000), c =>
    {
        var random = new Random(c.Seed);
        var p = Numerics.Uniform(random, c.Length);
        var tensor = Upload(p, c.Length).Keep();
        tensor.RequiresGrad = true;
        var sgd = new Sgd([tensor], c.Lr, c.Momentum, c.Dampening, c.WeightDecay, c.Nesterov);
        double[]? buf = c.Momentum > 0 ? new double[c.Length] : null;
        for (int step = 1; step <= Steps; step++)
        {
            var grad = Numerics.Uniform(random, c.Length);
            tensor.Grad = Upload(grad, c.Length).Keep();
            sgd.Step();
            OptimizerReference.Sgd(new SgdSettings(c.Lr, c.Momentum, c.Dampening, c.WeightDecay, c.Nesterov, step == 1), p, grad, buf);
            Numerics.AssertClose(tensor.ToArray(), p, 1e-5, 1e-6, $"Sgd after step {step} {c}");
        }
    }, runs: 20);

    public sealed record AdamCase(float Lr, float Beta1, float Beta2, float Epsilon, float WeightDecay, bool Decoupled, int Length, int Seed);

    private static readonly FsCheck.Gen<AdamCase> AdamCases =
        from lr in Gen.Elements(1e-3f, 1e-2f)
        from beta1 in Gen.Elements(0.9f, 0.5f)
        from beta2 in Gen.Elements(0.999f, 0.9f)
        from epsilon in Gen.Elements(1e-8f, 1e-3f)
        from weightDecay in Gen.Elements(0f, 0.01f, 0.1f)
        from decoupled in Gen.Elements(false, true)
        from length in Gen.OneOf(Gen.Choose(1, 50), Gen.Constant(40000))
        from seed in Properties.DataSeed
        select new AdamCase(lr, beta1, beta2, epsilon, weightDecay, decoupled, length, seed);

    /// <summary>
    /// Gradients whose effective value g = grad (+ wd*p when coupled) stays at least 1e-3 from 0: at the first steps
    /// Adam's update is lr * g / (|g| + eps), a smoothed sign of g, which float rounding can flip for |g| near eps.
    /// </summary>
    private static double[] AdamGradients(Random random, double[] p, AdamCase c)
    {
        var grad = Numerics.Uniform(random, p.Length);
        for (int i = 0; i < grad.Length; i++)
        {
            double effective = grad[i] + (c.Decoupled ? 0 : c.WeightDecay * p[i]);
            if (Math.Abs(effective) < 1e-3) grad[i] = (float)(grad[i] + (effective < 0 ? -2e-3 : 2e-3));
        }
        return grad;
    }

    [Test]
    public void AdamStepMatchesReference() => Properties.Check(AdamCases, c =>
    {
        var random = new Random(c.Seed);
        var p = Numerics.Uniform(random, c.Length);
        double[] m = new double[c.Length], v = new double[c.Length];
        var pBuffer = Buffer(p);
        var mBuffer = Buffer(m);
        var vBuffer = Buffer(v);
        for (int step = 1; step <= Steps; step++)
        {
            var grad = AdamGradients(random, p, c);
            var s = new AdamSettings(c.Lr, c.Beta1, c.Beta2, c.Epsilon, c.WeightDecay, c.Decoupled, step);
            Backend.AdamStep(s, pBuffer, Buffer(grad), mBuffer, vBuffer, c.Length);
            OptimizerReference.Adam(s, p, grad, m, v);
            Numerics.AssertClose(Download(pBuffer, c.Length), p, 1e-5, 1e-6, $"Adam parameters after step {step} {c}");
        }
    }, runs: 30);

    /// <summary>The Adam and AdamW classes count steps per parameter for the bias corrections.</summary>
    [Test]
    public void AdamOptimizersMatchReference() => Properties.Check(AdamCases.Where(c => c.Length < 1000), c =>
    {
        var random = new Random(c.Seed);
        var p = Numerics.Uniform(random, c.Length);
        var tensor = Upload(p, c.Length).Keep();
        tensor.RequiresGrad = true;
        Adam adam = c.Decoupled
            ? new AdamW([tensor], c.Lr, c.Beta1, c.Beta2, c.Epsilon, c.WeightDecay)
            : new Adam([tensor], c.Lr, c.Beta1, c.Beta2, c.Epsilon, c.WeightDecay);
        double[] m = new double[c.Length], v = new double[c.Length];
        for (int step = 1; step <= Steps; step++)
        {
            var grad = AdamGradients(random, p, c);
            tensor.Grad = Upload(grad, c.Length).Keep();
            adam.Step();
            OptimizerReference.Adam(new AdamSettings(c.Lr, c.Beta1, c.Beta2, c.Epsilon, c.WeightDecay, c.Decoupled, step), p, grad, m, v);
            Numerics.AssertClose(tensor.ToArray(), p, 1e-5, 1e-6, $"{adam.GetType().Name} after step {step} {c}");
        }
    }, runs: 20);

    /// <summary>AdamW's default weight decay is PyTorch's 0.01; Adam's is 0.</summary>
    [Test]
    public void DefaultsFollowPyTorch()
    {
        var t = Upload(new double[] { 1 }, 1);
        Assert.That(new AdamW([t]).WeightDecay, Is.EqualTo(0.01f));
        Assert.That(new Adam([t]).WeightDecay, Is.EqualTo(0f));
        Assert.That(new Adam([t]).LearningRate, Is.EqualTo(1e-3f));
    }
}
