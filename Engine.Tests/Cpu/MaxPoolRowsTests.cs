using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cpu;

/// <summary>
/// Max pooling from row loads (column stride 1 or 2, planes at least 16 outputs wide: ResNet's 3x3 stride-2 pooling
/// among them) against the scalar loop, bit for bit in values and indices, with ties, NaNs and infinities.
/// </summary>
[TestFixture]
public sealed class MaxPoolRowsTests
{
    private readonly CpuBackend _backend = new(2);

    [OneTimeTearDown]
    public void DisposeBackend() => _backend.Dispose();

    private static readonly FsCheck.Gen<(Pool2dGeometry Geometry, int Values, int Seed)> Cases =
        from channels in Gen.Choose(1, 3)
        from kh in Gen.Choose(1, 4)
        from kw in Gen.Choose(1, 4)
        from sh in Gen.Choose(1, 3)
        from sw in Gen.Choose(1, 2)
        from dh in Gen.Elements(1, 1, 2)
        from top in Gen.Choose(0, dh * (kh - 1) / 2)
        from bottom in Gen.Choose(0, dh * (kh - 1) / 2)
        from left in Gen.Choose(0, (kw - 1) / 2)
        from right in Gen.Choose(0, (kw - 1) / 2)
        from height in Gen.Choose(dh * (kh - 1) + 1, 20)
        from width in Gen.Choose(16 * sw + kw, 90)
        from ceil in Gen.Elements(false, true)
        from values in Gen.Elements(0, 3, 1000) // 0: distinct values; else values drawn from this many (ties)
        from seed in Properties.DataSeed
        select (new Pool2dGeometry(1, channels, height, width, new Size2(kh, kw), new Size2(sh, sw),
            new Padding2d(top, left, bottom, right), new Size2(dh, 1), ceil), values, seed);

    private void Check((Pool2dGeometry Geometry, int Values, int Seed) c)
    {
        var g = c.Geometry;
        var random = new Random(c.Seed);
        int length = g.Batch * g.Channels * g.InHeight * g.InWidth;
        var x = c.Values == 0
            ? Numerics.DistinctShuffled(random, length).Select(v => (float)v).ToArray()
            : Enumerable.Range(0, length).Select(_ => (float)random.Next(c.Values)).ToArray();
        if (c.Seed % 3 == 0)
            for (int i = 0; i < 1 + length / 50; i++)
                x[random.Next(length)] = random.Next(3) switch { 0 => float.NaN, 1 => float.NegativeInfinity, _ => float.PositiveInfinity };
        var (rowY, rowIndices) = VectorPathTests.MaxPool(_backend, g, x, scalar: false);
        var (scalarY, scalarIndices) = VectorPathTests.MaxPool(_backend, g, x, scalar: true);
        Expect.That(VectorPathTests.Bits(rowY).SequenceEqual(VectorPathTests.Bits(scalarY)), $"{g} values {c.Values}: maxima from row loads differ in their bits from the scalar loop's");
        Expect.That(rowIndices.SequenceEqual(scalarIndices), $"{g} values {c.Values}: indices from row loads differ from the scalar loop's");
    }

    [Test]
    public void RowLoadPathIsTheScalarLoopBitForBit() => Properties.Check(Cases, Check, runs: 200);

    [Test]
    public void ResNetStemPoolingIsTheScalarLoopBitForBit() =>
        Check((new Pool2dGeometry(1, 4, 112, 112, new Size2(3, 3), new Size2(2, 2), new Padding2d(1, 1, 1, 1), new Size2(1, 1)), 3, 7));
}
