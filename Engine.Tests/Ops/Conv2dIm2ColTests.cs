using Engine.Cpu;
using Engine.Tests.Reference;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Ops;

/// <summary>The CPU backend's column transform: im2col matches the reference, and col2im is its adjoint.</summary>
[TestFixture]
public sealed class Conv2dIm2ColTests
{
    [Test]
    public void Im2ColMatchesReferenceAndCol2ImIsItsAdjoint() => Properties.Check(Conv2dCase.Cases, c =>
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        var (p, q) = Conv2dReference.OutSizes(g);
        int rows = c.Cg * g.Kernel.Height * g.Kernel.Width;
        var x = Numerics.Uniform(random, c.Cg * g.InHeight * g.InWidth);
        var y = Numerics.Uniform(random, rows * p * q);
        var columns = new float[rows * p * q];
        CpuBackend.Im2Col(g, x.Select(v => (float)v).ToArray(), columns);
        var expected = Conv2dReference.Im2Col(g, x);
        Numerics.AssertClose(columns, expected, 0, 0, $"im2col {c}");
        var dx = new float[x.Length];
        CpuBackend.Col2Im(g, y.Select(v => (float)v).ToArray(), dx);
        // <im2col(x), y> = <x, col2im(y)>
        double left = Numerics.Dot(expected, y), right = Numerics.Dot(x, Numerics.ToDouble(dx));
        Expect.That(Math.Abs(left - right) <= 1e-4 * (1 + Math.Abs(left)), $"{c}: <im2col(x), y> = {left}, <x, col2im(y)> = {right}");
    }, runs: 200);
}
