using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>Softmax and log-softmax along any axis: forward, backward (against the explicit Jacobian) and autograd.</summary>
public abstract class SoftmaxTests : BackendFixture
{
    public sealed record SoftmaxCase(int Outer, int Axis, int Inner, bool Log, double Spread, int Seed);

    private static readonly FsCheck.Gen<SoftmaxCase> Cases =
        from outer in Gen.Choose(1, 6)
        from axis in Gen.Choose(1, 12)
        from inner in Gen.Elements(1, 1, 3, 5)
        from log in Gen.Elements(false, true)
        from spread in Gen.Elements(1.0, 10.0, 60.0)
        from seed in Properties.DataSeed
        select new SoftmaxCase(outer, axis, inner, log, spread, seed);

    /// <summary>Large spreads (logits up to 60) check the max-subtraction: nothing overflows, NaNs never appear.</summary>
    [Test]
    public void SoftmaxMatchesReference() => Properties.Check(Cases, c =>
    {
        var random = new Random(c.Seed);
        var g = new SoftmaxGeometry(c.Outer, c.Axis, c.Inner);
        var x = Numerics.Uniform(random, g.Size, -c.Spread, c.Spread);
        var dY = Numerics.Uniform(random, g.Size);
        var xBuffer = Buffer(x);
        var y = Output(g.Size);
        Backend.Softmax(g, c.Log, xBuffer, y);
        Numerics.AssertClose(Download(y, g.Size), SoftmaxReference.Softmax(c.Outer, c.Axis, c.Inner, c.Log, x), 1e-5, 1e-6, $"forward {c}");
        var dX = Output(g.Size);
        Backend.SoftmaxBackward(g, c.Log, y, Buffer(dY), dX);
        Numerics.AssertClose(Download(dX, g.Size), SoftmaxReference.SoftmaxBackward(c.Outer, c.Axis, c.Inner, c.Log, x, dY), 1e-4, 1e-5, $"backward {c}");
    }, runs: 150);

    /// <summary>Through Ops.Softmax/LogSoftmax on a rank-3 tensor along its middle axis.</summary>
    [Test]
    public void SoftmaxGradientMatchesFiniteDifferences() => Properties.Check(Cases.Where(c => c.Spread < 20), c =>
    {
        var random = new Random(c.Seed);
        int[] shape = [c.Outer, c.Axis, c.Inner];
        AssertAutogradMatchesFiniteDifferences($"softmax {c}", random, [(Numerics.Uniform(random, c.Outer * c.Axis * c.Inner, -c.Spread, c.Spread), shape, true)],
            t => c.Log ? Engine.Ops.LogSoftmax(t[0], 1) : Engine.Ops.Softmax(t[0], 1),
            v => SoftmaxReference.Softmax(c.Outer, c.Axis, c.Inner, c.Log, v[0]));
    }, runs: 60);

    [Test]
    public void SoftmaxRowsSumToOne()
    {
        var x = Upload(new double[] { 1, 2, 3, -1000, 0, 1000 }, 2, 3);
        var y = Engine.Ops.Softmax(x).ToArray();
        Assert.That(y[0] + y[1] + y[2], Is.EqualTo(1f).Within(1e-6));
        Assert.That(y[5], Is.EqualTo(1f), "a logit 1000 above the rest takes all the mass without overflow");
        Assert.That(y[3], Is.EqualTo(0f));
    }
}
