using Engine.Tests.Reference;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Primitives;

/// <summary>
/// Max and average pooling over random geometries (stride, asymmetric padding, dilation for max, ceil mode,
/// count_include_pad, divisor override, adaptive windows): backend vs reference, adjoint, and autograd through the
/// layers vs central differences. Max pooling reads distinct values 0.01 apart so no tie sits within a
/// finite-difference step.
/// </summary>
public abstract class Pool2dTests : BackendFixture
{
    public sealed record Pool2dCase(Pool2dGeometry Geometry, bool Max, int Seed)
    {
        public int InLength => Geometry.Batch * Geometry.Channels * Geometry.InHeight * Geometry.InWidth;
        public int OutLength
        {
            get
            {
                var (p, q) = Pool2dReference.OutSizes(Geometry);
                return Geometry.Batch * Geometry.Channels * p * q;
            }
        }
        public int[] InShape => [Geometry.Batch, Geometry.Channels, Geometry.InHeight, Geometry.InWidth];
        public override string ToString() => $"{(Max ? "max" : "avg")} {Geometry}, seed {Seed}";
    }

    private static FsCheck.Gen<(int Kernel, int Stride, int Dilation, int Before, int After, int Size)> Axis(bool max) =>
        from kernel in Gen.Choose(1, 4)
        from stride in Gen.Choose(1, 3)
        from dilation in max ? Gen.Elements(1, 1, 2) : Gen.Constant(1)
        let half = (dilation * (kernel - 1) + 1) / 2
        from before in Gen.Choose(0, half)
        from after in Gen.Choose(0, half)
        from size in Gen.Choose(1, 12)
        select (kernel, stride, dilation, before, after, Math.Max(size, dilation * (kernel - 1) + 1 - before - after));

    private static readonly FsCheck.Gen<Pool2dCase> FixedCases =
        from max in Gen.Elements(true, false)
        from batch in Gen.Choose(1, 2)
        from channels in Gen.Choose(1, 3)
        from rows in Axis(max)
        from cols in Axis(max)
        from ceil in Gen.Elements(false, true)
        from countPad in Gen.Elements(true, false)
        from divisor in Gen.Elements(0, 0, 0, 3)
        from seed in Properties.DataSeed
        select new Pool2dCase(new Pool2dGeometry(batch, channels, rows.Size, cols.Size,
            new Size2(rows.Kernel, cols.Kernel), new Size2(rows.Stride, cols.Stride),
            new Padding2d(rows.Before, cols.Before, rows.After, cols.After), new Size2(rows.Dilation, cols.Dilation),
            ceil, countPad, max ? 0 : divisor), max, seed);

    /// <summary>Adaptive windows, including outputs larger than the input (windows then repeat pixels).</summary>
    private static readonly FsCheck.Gen<Pool2dCase> AdaptiveCases =
        from max in Gen.Elements(true, false)
        from batch in Gen.Choose(1, 2)
        from channels in Gen.Choose(1, 3)
        from h in Gen.Choose(1, 12)
        from w in Gen.Choose(1, 12)
        from p in Gen.Choose(1, 7)
        from q in Gen.Choose(1, 7)
        from seed in Properties.DataSeed
        select new Pool2dCase(Pool2dGeometry.Adaptive(new Shape(batch, channels, h, w), new Size2(p, q)), max, seed);

    private static readonly FsCheck.Gen<Pool2dCase> Cases = Gen.Frequency((3, FixedCases), (1, AdaptiveCases));

    private static double[] Inputs(Pool2dCase c, Random random) =>
        c.Max ? Numerics.DistinctShuffled(random, c.InLength) : Numerics.Uniform(random, c.InLength);

    [Test]
    public void OutputSizeFollowsTheFormula() => Properties.Check(Cases, c =>
    {
        var (p, q) = Pool2dReference.OutSizes(c.Geometry);
        Expect.That(c.Geometry.OutHeight == p && c.Geometry.OutWidth == q, $"{c}: output {c.Geometry.OutHeight}x{c.Geometry.OutWidth}, expected {p}x{q}");
    }, runs: 200);

    /// <summary>
    /// Inputs smaller than the window too: when the formula gives an empty output the geometry says so (it once
    /// truncated a negative span toward zero and pooled a 3x3 input with a 4x4 window into one value).
    /// </summary>
    [Test]
    public void TooSmallInputsAreRejected() => Properties.Check(
        from kernel in Gen.Choose(1, 6)
        from stride in Gen.Choose(1, 3)
        from size in Gen.Choose(1, 5)
        from ceil in Gen.Elements(false, true)
        from max in Gen.Elements(false, true)
        select (kernel, stride, size, ceil, max),
        c =>
        {
            var g = new Pool2dGeometry(1, 1, c.size, c.size, c.kernel, c.stride, 0, 1, c.ceil);
            int expected = Pool2dReference.OutSize(c.size, 0, 0, c.kernel, c.stride, 1, c.ceil);
            bool rejected = false;
            try { g.Validate("pool", c.max); }
            catch (ArgumentException) { rejected = true; }
            Expect.That(rejected == (expected <= 0), $"{c}: formula gives {expected}, geometry gives {g.OutHeight}, rejected: {rejected}");
            if (expected > 0) Expect.That(g.OutHeight == expected, $"{c}: output {g.OutHeight}, expected {expected}");
        }, runs: 200);

    [Test]
    public void ForwardAndBackwardMatchReference() => Properties.Check(Cases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var x = Inputs(c, random);
        var dY = Numerics.Uniform(random, c.OutLength);
        var xBuffer = Buffer(x);
        var y = Output(c.OutLength);
        var dX = Output(c.InLength);
        if (c.Max)
        {
            var indices = Output(c.OutLength);
            Backend.MaxPool2d(g, xBuffer, y, indices);
            var (expected, argMax) = Pool2dReference.MaxPool(g, x);
            Numerics.AssertClose(Download(y, c.OutLength), expected, 0, 0, $"forward {c}");
            Numerics.AssertClose(Download(indices, c.OutLength), argMax.Select(i => (double)i).ToArray(), 0, 0, $"indices {c}");
            Backend.MaxPool2dBackward(g, Buffer(dY), indices, dX);
            Numerics.AssertClose(Download(dX, c.InLength), Pool2dReference.MaxPoolBackward(g, x, dY), 1e-5, 1e-5, $"backward {c}");
        }
        else
        {
            Backend.AvgPool2d(g, xBuffer, y);
            Numerics.AssertClose(Download(y, c.OutLength), Pool2dReference.AvgPool(g, x), 1e-5, 1e-6, $"forward {c}");
            Backend.AvgPool2dBackward(g, Buffer(dY), dX);
            Numerics.AssertClose(Download(dX, c.InLength), Pool2dReference.AvgPoolBackward(g, dY), 1e-5, 1e-6, $"backward {c}");
        }
    }, runs: 400);

    /// <summary>Average pooling is linear and its backward is its adjoint: &lt;avg(x), dY&gt; = &lt;x, avgBackward(dY)&gt;.</summary>
    [Test]
    public void AvgBackwardIsAdjointOfForward() => Properties.Check(Cases.Where(c => !c.Max), c =>
    {
        var random = new Random(c.Seed);
        var x = Numerics.Uniform(random, c.InLength);
        var dY = Numerics.Uniform(random, c.OutLength);
        var y = Output(c.OutLength);
        var dX = Output(c.InLength);
        Backend.AvgPool2d(c.Geometry, Buffer(x), y);
        Backend.AvgPool2dBackward(c.Geometry, Buffer(dY), dX);
        double left = Numerics.Dot(Numerics.ToDouble(Download(y, c.OutLength)), dY), right = Numerics.Dot(x, Numerics.ToDouble(Download(dX, c.InLength)));
        Expect.That(Math.Abs(left - right) <= 1e-5 * (1 + Math.Abs(left)), $"{c}: <avg(x), dY> = {left}, <x, avgBackward(dY)> = {right}");
    }, runs: 100);

    /// <summary>The layer that PyTorch would use for the geometry (MaxPool2d, AvgPool2d or an adaptive one).</summary>
    private static Engine.Nn.Module Layer(Pool2dCase c)
    {
        var g = c.Geometry;
        if (g.IsAdaptive) return c.Max ? new Engine.Nn.AdaptiveMaxPool2d(g.AdaptiveOutput) : new Engine.Nn.AdaptiveAvgPool2d(g.AdaptiveOutput);
        return c.Max
            ? new Engine.Nn.MaxPool2d(g.Kernel, g.Stride, g.Padding, g.Dilation, g.CeilMode)
            : new Engine.Nn.AvgPool2d(g.Kernel, g.Stride, g.Padding, g.CeilMode, g.CountIncludePad, g.DivisorOverride > 0 ? g.DivisorOverride : null);
    }

    [Test]
    public void LayerGradientMatchesFiniteDifferences() => Properties.Check(Cases, c =>
    {
        var random = new Random(c.Seed);
        var layer = Layer(c);
        AssertAutogradMatchesFiniteDifferences($"{layer.TypeName} {c}", random, [(Inputs(c, random), c.InShape, true)],
            t => layer.Forward(t[0]),
            v => c.Max ? Pool2dReference.MaxPool(c.Geometry, v[0]).Output : Pool2dReference.AvgPool(c.Geometry, v[0]));
    }, runs: 150);

    [Test]
    public void GlobalPoolingReducesEachPlaneToOneValue()
    {
        var x = Upload(new double[] { 1, 2, 3, 4, -1, -2, -3, -9 }, 1, 2, 2, 2);
        Assert.That(new Engine.Nn.GlobalAvgPool2d().Forward(x).ToArray(), Is.EqualTo(new[] { 2.5f, -3.75f }));
        Assert.That(new Engine.Nn.GlobalMaxPool2d().Forward(x).ToArray(), Is.EqualTo(new[] { 4f, -1f }));
    }
}
