using Engine.Nn;
using Engine.Tests.Reference;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>The thin layers composed in a Sequential, against the double reference and central differences.</summary>
public abstract class LayerTests : BackendFixture
{
    /// <summary>
    /// Flatten, Linear, ReLU, Linear, Tanh, Linear, Sigmoid, Linear, LogSoftmax on an N x 2 x 2 x 2 input: forward
    /// and input gradient against the composition of the references, using the layers' own initial weights.
    /// </summary>
    [Test]
    public void SequentialOfLayersMatchesReferenceAndFiniteDifferences()
    {
        var gen = new Generator(21);
        Linear l1 = new(8, 6, generator: gen), l2 = new(6, 5, generator: gen), l3 = new(5, 4, generator: gen), l4 = new(4, 3, generator: gen);
        var model = new Sequential(new Engine.Nn.Flatten(), l1, new ReLU(), l2, new Engine.Nn.Tanh(), l3, new Engine.Nn.Sigmoid(), l4, new Engine.Nn.LogSoftmax(1));
        model.To(Backend);
        const int batch = 3;
        var weights = new[] { l1, l2, l3, l4 }.Select(l => (W: Numerics.ToDouble(l.Weight.ToArray()), B: Numerics.ToDouble(l.Bias!.ToArray()), l.InFeatures, l.OutFeatures)).ToArray();
        double[] Linear(double[] x, int layer)
        {
            var (w, b, inF, outF) = weights[layer];
            var y = GemmReference.Gemm(new GemmGeometry(false, true, batch, outF, inF), 1, x, w, 0, new double[batch * outF]);
            for (int i = 0; i < y.Length; i++) y[i] += b[i % outF];
            return y;
        }
        double[] Reference(double[] x)
        {
            var h = ElementwiseReference.Unary(UnaryOp.Relu, 0, Linear(x, 0));
            h = ElementwiseReference.Unary(UnaryOp.Tanh, 0, Linear(h, 1));
            h = ElementwiseReference.Unary(UnaryOp.Sigmoid, 0, Linear(h, 2));
            return SoftmaxReference.Softmax(batch, 3, 1, true, Linear(h, 3));
        }
        var random = new Random(8);
        var input = Numerics.Uniform(random, batch * 8, -2, 2);
        using (Autograd.NoGrad())
            Numerics.AssertClose(model.Forward(Upload(input, batch, 2, 2, 2)).ToArray(), Reference(input), 1e-5, 1e-6, "Sequential forward");
        AssertAutogradMatchesFiniteDifferences("Sequential", random, [(input, [batch, 2, 2, 2], true)], t => model.Forward(t[0]), v => Reference(v[0]), probes: 24);
    }

    /// <summary>Softmax and LogSoftmax layers along a chosen axis, and ReLU/Tanh/Sigmoid layers, equal their ops.</summary>
    [Test]
    public void ActivationLayersEqualTheirOps()
    {
        var x = Upload(Numerics.Uniform(new Random(2), 2 * 3 * 4, -3, 3), 2, 3, 4);
        Assert.That(new Engine.Nn.Softmax(1).Forward(x).ToArray(), Is.EqualTo(Engine.Ops.Softmax(x, 1).ToArray()));
        Assert.That(new Engine.Nn.LogSoftmax(0).Forward(x).ToArray(), Is.EqualTo(Engine.Ops.LogSoftmax(x, 0).ToArray()));
        Assert.That(new ReLU().Forward(x).ToArray(), Is.EqualTo(Engine.Ops.Relu(x).ToArray()));
        Assert.That(new Engine.Nn.Tanh().Forward(x).ToArray(), Is.EqualTo(Engine.Ops.Tanh(x).ToArray()));
        Assert.That(new Engine.Nn.Sigmoid().Forward(x).ToArray(), Is.EqualTo(Engine.Ops.Sigmoid(x).ToArray()));
    }
}
