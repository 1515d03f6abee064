using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

// Block copies, permutation, resizing, max-unpooling and fractional max pooling: every one of them copies values or
// adds the same products in the CPU's order, so all agree bit for bit.
public partial class CudaAgreementTests
{
    /// <summary>Strided blocks (gaps on both sides, offsets); the gaps keep the NaN fill on both backends.</summary>
    [Test]
    public void CopyBlocksAgreesBitwise()
    {
        var gen =
            from length in Gen.Choose(1, 9) from count in Gen.Choose(1, 7)
            from srcGap in Gen.Choose(0, 3) from dstGap in Gen.Choose(0, 3)
            from srcOffset in Gen.Choose(0, 4) from dstOffset in Gen.Choose(0, 4) from seed in Gen.Choose(0, 100000)
            select (length, count, srcStride: length + srcGap, dstStride: length + dstGap, srcOffset, dstOffset, seed);
        ForAll(gen, t =>
        {
            int srcSize = t.srcOffset + t.count * t.srcStride, dstSize = t.dstOffset + t.count * t.dstStride;
            var (cpu, cuda) = Both([Random(t.seed, srcSize)], [dstSize],
                (b, i, o) => b.CopyBlocks(i[0], t.srcOffset, t.srcStride, o[0], t.dstOffset, t.dstStride, t.length, t.count));
            AssertBitwise(cpu[0], cuda[0], $"copy blocks {t}");
        });
    }

    [Test]
    public void PermuteAgreesBitwiseForEveryRank()
    {
        var gen =
            from rank in Gen.Choose(1, Shape.MaxRank)
            from dims in Gen.Choose(1, 4).ArrayOf(rank)
            from seed in Gen.Choose(0, 100000)
            select (dims, seed);
        ForAll(gen, t =>
        {
            var axes = Enumerable.Range(0, t.dims.Length).ToArray();
            new System.Random(t.seed).Shuffle(axes);
            var g = new PermuteGeometry(new Shape(t.dims), new Shape(axes));
            var (cpu, cuda) = Both([Random(t.seed, g.Input.Size)], [g.Input.Size], (b, i, o) => b.Permute(g, i[0], o[0]));
            AssertBitwise(cpu[0], cuda[0], $"permute {g.Input} by {g.Axes}");
        });
    }

    /// <summary>Up- and downsampling in both modes; the backward gathers the CPU's scatter in its order.</summary>
    [Test]
    public void Resize2dAndItsBackwardAgreeBitwise()
    {
        var gen =
            from mode in Gen.Elements(ResizeMode.Nearest, ResizeMode.Bilinear)
            from align in Gen.Elements(false, true)
            from n in Gen.Choose(1, 2) from c in Gen.Choose(1, 2)
            from h in Gen.Choose(1, 7) from w in Gen.Choose(1, 7) from oh in Gen.Choose(1, 13) from ow in Gen.Choose(1, 13)
            from seed in Gen.Choose(0, 100000)
            select (g: new Resize2dGeometry(n, c, h, w, oh, ow, mode, align && mode == ResizeMode.Bilinear), seed);
        ForAll(gen, t =>
        {
            var g = t.g;
            int inputs = g.InputShape.Size, outputs = g.OutputShape.Size;
            var (cpu, cuda) = Both([Random(t.seed, inputs), Random(t.seed + 1, outputs)], [outputs, inputs], (b, i, o) =>
            {
                b.Resize2d(g, i[0], o[0]);
                b.Resize2dBackward(g, i[1], o[1]);
            });
            AssertBitwise(cpu[0], cuda[0], $"resize {g}");
            AssertBitwise(cpu[1], cuda[1], $"resize backward {g}");
        });
    }

    /// <summary>Indices drawn with repeats, so "last write wins" is exercised; values are copies: bitwise.</summary>
    [Test]
    public void MaxUnpool2dAndItsBackwardAgreeBitwise()
    {
        var gen =
            from n in Gen.Choose(1, 2) from c in Gen.Choose(1, 3)
            from p in Gen.Choose(1, 4) from q in Gen.Choose(1, 4) from h in Gen.Choose(1, 6) from w in Gen.Choose(1, 6)
            from seed in Gen.Choose(0, 100000)
            select (g: new Pool2dGeometry(n, c, h, w, 1, 1, 0, 1, AdaptiveOutput: new Size2(p, q)), seed);
        ForAll(gen, t =>
        {
            var g = t.g;
            int unpooled = g.InputShape.Size, pooled = g.OutputShape.Size, plane = g.InHeight * g.InWidth;
            var random = new System.Random(t.seed);
            var indices = Enumerable.Range(0, pooled).Select(_ => (float)random.Next(plane)).ToArray();
            var (cpu, cuda) = Both([Random(t.seed, pooled), indices, Random(t.seed + 1, unpooled)], [unpooled, pooled], (b, i, o) =>
            {
                b.MaxUnpool2d(g, i[0], i[1], o[0]);
                b.MaxUnpool2dBackward(g, i[2], i[1], o[1]);
            });
            AssertBitwise(cpu[0], cuda[0], $"max unpool {g}");
            AssertBitwise(cpu[1], cuda[1], $"max unpool backward {g}");
        });
    }

    /// <summary>Random window starts; small integers with some NaNs force ties and the NaN rule: values and indices bitwise.</summary>
    [Test]
    public void FractionalMaxPool2dAgreesBitwise()
    {
        var gen =
            from n in Gen.Choose(1, 2) from c in Gen.Choose(1, 2)
            from kh in Gen.Choose(1, 3) from kw in Gen.Choose(1, 3) from p in Gen.Choose(1, 4) from q in Gen.Choose(1, 4)
            from extraH in Gen.Choose(0, 4) from extraW in Gen.Choose(0, 4) from seed in Gen.Choose(0, 100000)
            select (g: new Pool2dGeometry(n, c, p + kh - 1 + extraH, q + kw - 1 + extraW, (kh, kw), 1, 0, 1, AdaptiveOutput: new Size2(p, q)), seed);
        ForAll(gen, t =>
        {
            var g = t.g;
            int planes = g.Batch * g.Channels, outputs = g.OutputShape.Size;
            var random = new System.Random(t.seed);
            var rows = Enumerable.Range(0, planes * g.OutHeight).Select(_ => (float)random.Next(g.InHeight - g.Kernel.Height + 1)).ToArray();
            var cols = Enumerable.Range(0, planes * g.OutWidth).Select(_ => (float)random.Next(g.InWidth - g.Kernel.Width + 1)).ToArray();
            var x = Integers(t.seed, g.InputShape.Size, 2);
            for (int i = 0; i < x.Length; i++) if (random.Next(8) == 0) x[i] = float.NaN;
            var (cpu, cuda) = Both([x, rows, cols], [outputs, outputs], (b, i, o) => b.FractionalMaxPool2d(g, i[0], i[1], i[2], o[0], o[1]));
            AssertBitwise(cpu[0], cuda[0], $"fractional max pool values {g}");
            AssertBitwise(cpu[1], cuda[1], $"fractional max pool indices {g}");
        });
    }
}
