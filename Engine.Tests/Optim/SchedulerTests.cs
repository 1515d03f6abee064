using Engine.Optim;
using NUnit.Framework;

namespace Engine.Tests.Optim;

public class SchedulerTests
{
    private static readonly Engine.Cpu.CpuBackend Backend = new(1);

    private static Optimizer Sgd(float lr) => new Sgd([Tensor.Zeros(Backend, new Shape(1)).Keep()], lr);

    private static float[] Rates(LearningRateScheduler s, int steps)
    {
        var r = new List<float> { s.Optimizer.LearningRate };
        for (int i = 0; i < steps; i++)
        {
            s.Step();
            r.Add(s.Optimizer.LearningRate);
        }
        return [.. r];
    }

    [Test]
    public void StepAndMultiStepDecayAtTheirBoundaries()
    {
        Assert.That(Rates(new StepLR(Sgd(1f), 2, 0.5f), 5), Is.EqualTo(new[] { 1f, 1f, 0.5f, 0.5f, 0.25f, 0.25f }));
        Assert.That(Rates(new MultiStepLR(Sgd(1f), [1, 3], 0.1f), 4), Is.EqualTo(new[] { 1f, 0.1f, 0.1f, 0.01f, 0.01f }).Within(1e-7));
    }

    [Test]
    public void CosineWithWarmupRampsThenFollowsTheHalfCosine()
    {
        var r = Rates(new CosineAnnealingLR(Sgd(1f), total: 6, warmup: 2, minRate: 0.1f), 6);
        Assert.That(r[0], Is.EqualTo(0f));
        Assert.That(r[1], Is.EqualTo(0.5f));
        Assert.That(r[2], Is.EqualTo(1f));
        Assert.That(r[4], Is.EqualTo(0.1 + 0.9 * (1 + Math.Cos(Math.PI / 2)) / 2).Within(1e-6));
        Assert.That(r[6], Is.EqualTo(0.1f).Within(1e-6));
    }

    [Test]
    public void OneCycleStartsLowPeaksAndEndsLower()
    {
        // total 10, pct 0.3: peak at step 2 (0.3*10 - 1), initial 1/25, final initial/1e4 at step 9.
        var r = Rates(new OneCycleLR(Sgd(123f), maxRate: 1f, total: 10), 9);
        Assert.That(r[0], Is.EqualTo(0.04f).Within(1e-7));
        Assert.That(r[1], Is.EqualTo(0.04 + (1 - 0.04) * (1 - Math.Cos(Math.PI * 0.5)) / 2).Within(1e-6));
        Assert.That(r[2], Is.EqualTo(1f).Within(1e-6));
        Assert.That(r[9], Is.EqualTo(0.04f / 1e4f).Within(1e-9));
        Assert.That(r.Skip(2).Zip(r.Skip(3)).All(p => p.Second <= p.First), "monotone after the peak");
    }

    [Test]
    public void PlateauReducesAfterPatienceAndCoolsDown()
    {
        var opt = Sgd(1f);
        var plateau = new ReduceLROnPlateau(opt, factor: 0.5f, patience: 1, cooldown: 1);
        float[] metrics = [1f, 1f, 1f, 1f, 1f, 0.5f];
        var rates = metrics.Select(m => { plateau.Step(m); return opt.LearningRate; }).ToArray();
        // best=1; bad 1 (<= patience); bad 2 -> halve, cooldown; cooling resets; bad 1; ...
        Assert.That(rates, Is.EqualTo(new[] { 1f, 1f, 0.5f, 0.5f, 0.5f, 0.5f }));
    }
}

public class RmsPropAndClippingTests
{
    private static readonly Engine.Cpu.CpuBackend Backend = new(1);

    [TestCase(0f, false, 0f)]
    [TestCase(0.9f, true, 0.01f)]
    public void RmsPropMatchesTheScalarRecurrence(float momentum, bool centered, float weightDecay)
    {
        var p = Tensor.FromArray(Backend, [1f, -2f, 0.5f], new Shape(3)).Keep();
        p.RequiresGrad = true;
        var opt = new RmsProp([p], 0.01f, 0.9f, 1e-8f, weightDecay, momentum, centered);
        double[] pr = [1, -2, 0.5], sq = new double[3], avg = new double[3], buf = new double[3];
        float[][] grads = [[0.3f, -0.1f, 2f], [0.1f, 0.2f, -1f], [-0.5f, 0.4f, 0.3f]];
        foreach (var g in grads)
        {
            p.Grad = Tensor.FromArray(Backend, g, new Shape(3)).Keep();
            opt.Step();
            for (int i = 0; i < 3; i++)
            {
                double d = g[i] + weightDecay * pr[i];
                sq[i] = 0.9 * sq[i] + 0.1 * d * d;
                double v = sq[i];
                if (centered) { avg[i] = 0.9 * avg[i] + 0.1 * d; v -= avg[i] * avg[i]; }
                double step = d / (Math.Sqrt(v) + 1e-8);
                if (momentum > 0) { buf[i] = momentum * buf[i] + step; step = buf[i]; }
                pr[i] -= 0.01 * step;
            }
        }
        Assert.That(p.ToArray(), Is.EqualTo(pr.Select(v => (float)v).ToArray()).Within(1e-5));
    }

    [Test]
    public void ClipNormScalesAllGradientsTogether()
    {
        var a = Tensor.Zeros(Backend, new Shape(2)).Keep();
        var b = Tensor.Zeros(Backend, new Shape(1)).Keep();
        a.Grad = Tensor.FromArray(Backend, [3f, 0f], new Shape(2)).Keep();
        b.Grad = Tensor.FromArray(Backend, [4f], new Shape(1)).Keep();
        float norm = GradClip.ClipNorm([a, b], 1f);
        Assert.That(norm, Is.EqualTo(5f).Within(1e-5));
        Assert.That(a.Grad.ToArray()[0], Is.EqualTo(3f / (5f + 1e-6f)).Within(1e-6));
        Assert.That(b.Grad.ToArray()[0], Is.EqualTo(4f / (5f + 1e-6f)).Within(1e-6));
        Assert.That(GradClip.ClipNorm([a, b], 10f), Is.EqualTo(1f).Within(1e-5), "below the limit nothing changes");
    }
}
