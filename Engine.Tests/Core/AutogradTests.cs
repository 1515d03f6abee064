using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>Reverse-mode autograd: deep graphs, reuse, accumulation, NoGrad, gradients with respect to inputs.</summary>
public abstract class AutogradTests : BackendFixture
{
    /// <summary>
    /// 5000 chained ops back-propagate without recursion: run on a thread with a 256 KB stack, which a recursive
    /// walk of 5000 nodes would overflow. d/dx of x * 1.0001^5000 is 1.0001^5000.
    /// </summary>
    [Test]
    public void DeepChainBackPropagatesWithoutStackOverflow()
    {
        const int depth = 5000;
        float[]? grad = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                var x = Upload(new double[] { 1, 2 }, 2);
                x.RequiresGrad = true;
                var y = x;
                for (int i = 0; i < depth; i++) y = Engine.Ops.Scale(y, 1.0001f);
                Engine.Ops.Sum(y).Backward();
                grad = x.Grad!.ToArray();
            }
            catch (Exception e) { error = e; }
        }, 256 * 1024);
        thread.Start();
        thread.Join();
        Assert.That(error, Is.Null, error?.ToString());
        double expected = Math.Pow(1.0001, depth);
        Assert.That(grad, Is.All.EqualTo(expected).Within(1e-3 * expected));
    }

    /// <summary>A tensor read twice collects both gradients: d/dx (x*x + x) = 2x + 1, d/dx (x + x) = 2.</summary>
    [Test]
    public void GradientsOfATensorUsedTwiceAdd()
    {
        var x = Upload(new double[] { -1.5, 0, 2 }, 3);
        x.RequiresGrad = true;
        Engine.Ops.Sum(Engine.Ops.Add(Engine.Ops.Multiply(x, x), x)).Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { -2f, 1f, 5f }));

        var z = Upload(new double[] { 3, 4 }, 2);
        z.RequiresGrad = true;
        Engine.Ops.Sum(Engine.Ops.Add(z, z)).Backward();
        Assert.That(z.Grad!.ToArray(), Is.EqualTo(new[] { 2f, 2f }));
    }

    /// <summary>As in PyTorch, leaf gradients accumulate over backward calls until zeroed.</summary>
    [Test]
    public void LeafGradientsAccumulateAcrossBackwardCalls()
    {
        var x = Upload(new double[] { 1, 2 }, 2);
        x.RequiresGrad = true;
        Engine.Ops.Sum(Engine.Ops.Scale(x, 3)).Backward();
        Engine.Ops.Sum(Engine.Ops.Scale(x, 3)).Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 6f, 6f }));
        var sgd = new Engine.Optim.Sgd([x], 0.1f);
        sgd.ZeroGrad();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0f, 0f }));
    }

    /// <summary>
    /// ZeroGrad defers its zeros: a backward pass right after it writes the gradient over them (the gradient is the new
    /// one, not the old one plus it), a second backward adds as usual, and the same buffer is kept throughout.
    /// </summary>
    [Test]
    public void BackwardAfterZeroGradOverwritesThenAccumulates()
    {
        var x = Upload(new double[] { 1, -2, 0.5 }, 3);
        x.RequiresGrad = true;
        var sgd = new Engine.Optim.Sgd([x], 0.1f);
        Engine.Ops.Sum(Engine.Ops.Scale(x, 7)).Backward();
        var buffer = x.Grad!;
        sgd.ZeroGrad();
        Engine.Ops.Sum(Engine.Ops.Multiply(x, x)).Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2f, -4f, 1f }), "d/dx sum(x^2) = 2x, without the 7 of before ZeroGrad");
        Assert.That(x.Grad, Is.SameAs(buffer), "the gradient's buffer is reused");
        Engine.Ops.Sum(Engine.Ops.Scale(x, 3)).Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 5f, -1f, 4f }), "the second backward adds 3");
    }

    /// <summary>
    /// A parameter no backward reached after ZeroGrad reads zeros, and an optimizer step sees zeros for it: with
    /// momentum, the step moves it by the momentum of earlier steps only (p -= lr * momentum * buf).
    /// </summary>
    [Test]
    public void ParameterUntouchedAfterZeroGradStepsWithZeroGradient()
    {
        var used = Upload(new double[] { 1, 2 }, 2);
        var unused = Upload(new double[] { 10, 20 }, 2);
        used.RequiresGrad = true;
        unused.RequiresGrad = true;
        var sgd = new Engine.Optim.Sgd([used, unused], 0.5f, momentum: 0.5f);
        Engine.Ops.Sum(Engine.Ops.Add(used, unused)).Backward();
        sgd.Step(); // buf = 1, p -= 0.5: unused = (9.5, 19.5)
        sgd.ZeroGrad();
        Engine.Ops.Sum(Engine.Ops.Scale(used, 2)).Backward();
        Assert.That(unused.Grad!.ToArray(), Is.EqualTo(new[] { 0f, 0f }));
        sgd.Step(); // unused: buf = 0.5 * 1 + 0 = 0.5, p -= 0.5 * 0.5
        Assert.That(unused.ToArray(), Is.EqualTo(new[] { 9.25f, 19.25f }));
        Assert.That(used.ToArray(), Is.EqualTo(new[] { 0.5f - 0.5f * (0.5f * 1f + 2f), 1.5f - 0.5f * (0.5f * 1f + 2f) }));
    }

    /// <summary>
    /// Training steps with ZeroGrad (deferred zeros, gradients overwritten) give the bits of the same steps with the
    /// gradients explicitly filled with zeros before each backward (the fill-and-add path).
    /// </summary>
    [Test]
    public void DeferredZerosTrainLikeExplicitZeros()
    {
        float[] Train(bool explicitZeros)
        {
            var w = Upload(new double[] { 0.3, -0.7, 1.1, 0.2, -0.4, 0.9 }, 2, 3);
            var x = Upload(new double[] { 1, 2, -1, 0.5, -2, 3, 0.25, 1.5, -0.5 }, 3, 3);
            w.RequiresGrad = true;
            var sgd = new Engine.Optim.Sgd([w], 0.05f, momentum: 0.9f, weightDecay: 0.01f);
            for (int step = 0; step < 4; step++)
            {
                sgd.ZeroGrad();
                if (explicitZeros && w.Grad is { } g) Backend.Fill(g.Buffer, 0f, g.Length);
                Engine.Ops.Sum(Engine.Ops.Square(Engine.Ops.MatMul(w, x))).Backward();
                sgd.Step();
            }
            return w.ToArray();
        }
        Assert.That(Train(explicitZeros: false), Is.EqualTo(Train(explicitZeros: true)));
    }

    [Test]
    public void NoGradRecordsNothing()
    {
        var x = Upload(new double[] { 1, 2 }, 2);
        x.RequiresGrad = true;
        Tensor y;
        using (Autograd.NoGrad())
        {
            Assert.That(Autograd.IsEnabled, Is.False);
            y = Engine.Ops.Sum(Engine.Ops.Square(x));
        }
        Assert.That(Autograd.IsEnabled, Is.True);
        Assert.That(y.RequiresGrad, Is.False);
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.That(e!.Message, Does.Contain("does not require grad"));
    }

    /// <summary>A second backward through a consumed graph says so instead of silently returning zeros.</summary>
    [Test]
    public void SecondBackwardThroughTheSameGraphThrows()
    {
        var x = Upload(new double[] { 1 }, 1);
        x.RequiresGrad = true;
        var y = Engine.Ops.Sum(Engine.Ops.Square(x));
        y.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.That(e!.Message, Does.Contain("already used"));
    }

    /// <summary>
    /// Gradient with respect to an input image through LeNet-5 (RequiresGrad on the input), checked against
    /// central differences of the float forward pass at a few pixels.
    /// </summary>
    [Test]
    public void GradientWithRespectToTheInputOfLeNet5()
    {
        var model = new Engine.Models.LeNet5(generator: new Generator(3));
        model.To(Backend);
        var random = new Random(5);
        var pixels = Numerics.Uniform(random, 28 * 28);
        var x = Upload(pixels, 1, 1, 28, 28);
        x.RequiresGrad = true;
        Engine.Ops.CrossEntropy(model.Forward(x), [7]).Backward();
        var grad = x.Grad!.ToArray();
        Assert.That(x.Grad!.Shape, Is.EqualTo(x.Shape));
        double Loss(double[] p)
        {
            using var _ = Autograd.NoGrad();
            return Engine.Ops.CrossEntropy(model.Forward(Upload(p, 1, 1, 28, 28)), [7]).Item();
        }
        var probed = Numerics.SampleIndices(random, pixels.Length, 12);
        var fd = Numerics.FiniteDifferences(Loss, pixels, 1e-2, probed);
        Numerics.AssertGradient(grad, fd, probed, 0.05, 2e-4, "LeNet-5 dLoss/dInput");
        Assert.That(grad.Any(v => v != 0), "the input gradient is not all zero");
    }

    /// <summary>RetainGrad keeps an intermediate's gradient, as PyTorch's retain_grad().</summary>
    [Test]
    public void RetainGradKeepsAnIntermediateGradient()
    {
        var x = Upload(new double[] { 1, -2 }, 2);
        x.RequiresGrad = true;
        var h = Engine.Ops.Scale(x, 2).RetainGrad();
        Engine.Ops.Sum(Engine.Ops.Square(h)).Backward();
        Assert.That(h.Grad!.ToArray(), Is.EqualTo(new[] { 4f, -8f }), "d/dh sum(h^2) = 2h");
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 8f, -16f }), "d/dx = 2 * 2h");
    }
}
