using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>Explicit padding in every mode with asymmetric sizes: forward, backward (fold-back), adjoint and autograd.</summary>
public abstract class Pad2dTests : BackendFixture
{
    public sealed record Pad2dCase(int Batch, int Channels, int H, int W, Padding2d Padding, PaddingMode Mode, float Value, int Seed)
    {
        public Pad2dGeometry Geometry => new(Batch, Channels, H, W, Padding, Mode, Value);
        public int OutLength => Batch * Channels * (H + Padding.Top + Padding.Bottom) * (W + Padding.Left + Padding.Right);
    }

    /// <summary>The largest pad PyTorch accepts for the mode (reflect: size - 1, circular: size; others any, capped at 5).</summary>
    private static int MaxPad(PaddingMode mode, int size) => mode switch
    {
        PaddingMode.Reflect => size - 1,
        PaddingMode.Circular => size,
        _ => 5,
    };

    private static readonly FsCheck.Gen<Pad2dCase> Cases =
        from batch in Gen.Choose(1, 2)
        from channels in Gen.Choose(1, 3)
        from h in Gen.Choose(1, 7)
        from w in Gen.Choose(1, 7)
        from mode in Gen.Elements(PaddingMode.Zeros, PaddingMode.Reflect, PaddingMode.Replicate, PaddingMode.Circular)
        from top in Gen.Choose(0, MaxPad(mode, h))
        from bottom in Gen.Choose(0, MaxPad(mode, h))
        from left in Gen.Choose(0, MaxPad(mode, w))
        from right in Gen.Choose(0, MaxPad(mode, w))
        from value in Gen.Elements(0f, 0f, 1.5f)
        from seed in Properties.DataSeed
        select new Pad2dCase(batch, channels, h, w, new Padding2d(top, left, bottom, right), mode, mode == PaddingMode.Zeros ? value : 0f, seed);

    [Test]
    public void ForwardAndBackwardMatchReference() => Properties.Check(Cases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var x = Numerics.Uniform(random, c.Batch * c.Channels * c.H * c.W);
        var dY = Numerics.Uniform(random, c.OutLength);
        var y = Output(c.OutLength);
        Backend.Pad2d(g, Buffer(x), y);
        Numerics.AssertClose(Download(y, c.OutLength), Pad2dReference.Forward(g, x), 0, 0, $"pad forward {c}");
        var dX = Output(x.Length);
        Backend.Pad2dBackward(g, Buffer(dY), dX);
        Numerics.AssertClose(Download(dX, x.Length), Pad2dReference.Backward(g, dY), 1e-5, 2e-5, $"pad backward {c}"); // up to 7*11 folded terms
    }, runs: 300);

    /// <summary>With a zero constant, padding is linear and its backward is its adjoint: &lt;pad(x), dY&gt; = &lt;x, padBackward(dY)&gt;.</summary>
    [Test]
    public void BackwardIsAdjointOfForward() => Properties.Check(Cases.Select(c => c with { Value = 0f }), c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var x = Numerics.Uniform(random, c.Batch * c.Channels * c.H * c.W);
        var dY = Numerics.Uniform(random, c.OutLength);
        var y = Output(c.OutLength);
        var dX = Output(x.Length);
        Backend.Pad2d(g, Buffer(x), y);
        Backend.Pad2dBackward(g, Buffer(dY), dX);
        double left = Numerics.Dot(Numerics.ToDouble(Download(y, c.OutLength)), dY), right = Numerics.Dot(x, Numerics.ToDouble(Download(dX, x.Length)));
        Expect.That(Math.Abs(left - right) <= 1e-5 * (1 + Math.Abs(left)), $"{c}: <pad(x), dY> = {left}, <x, padBackward(dY)> = {right}");
    }, runs: 100);

    [Test]
    public void GradientMatchesFiniteDifferences() => Properties.Check(Cases, c =>
    {
        var random = new Random(c.Seed);
        var x = Numerics.Uniform(random, c.Batch * c.Channels * c.H * c.W);
        AssertAutogradMatchesFiniteDifferences($"Ops.Pad2d {c}", random, [(x, [c.Batch, c.Channels, c.H, c.W], true)],
            t => Engine.Ops.Pad2d(t[0], c.Padding, c.Mode, c.Value), v => Pad2dReference.Forward(c.Geometry, v[0]));
    }, runs: 100);

    /// <summary>PyTorch's documented example: reflect-padding [[0,1,2],[3,4,5],[6,7,8]] by 2 on every side.</summary>
    [Test]
    public void ReflectPaddingMirrorsWithoutRepeatingTheEdge()
    {
        var x = Upload(Enumerable.Range(0, 9).Select(i => (double)i).ToArray(), 1, 1, 3, 3);
        var y = Engine.Ops.Pad2d(x, 2, PaddingMode.Reflect).ToArray();
        float[] firstRow = [8, 7, 6, 7, 8, 7, 6], middleRow = [2, 1, 0, 1, 2, 1, 0];
        Assert.That(y[..7], Is.EqualTo(firstRow));
        Assert.That(y[14..21], Is.EqualTo(middleRow));
    }
}
