using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Cuda;

// Convolution, padding and pooling.
public partial class CudaAgreementTests
{
    private static Gen<Conv2dGeometry> ConvGeometries =>
        (from batch in Gen.Choose(1, 3)
         from groups in Gen.Choose(1, 2)
         from cPer in Gen.Choose(1, 3)
         from kPer in Gen.Choose(1, 3)
         from h in Gen.Choose(1, 9)
         from w in Gen.Choose(1, 9)
         from r in Gen.Choose(1, 3)
         from s in Gen.Choose(1, 3)
         from sh in Gen.Choose(1, 2)
         from sw in Gen.Choose(1, 3)
         from pad in Gen.Choose(0, 2).ArrayOf(4)
         from dh in Gen.Choose(1, 2)
         from dw in Gen.Choose(1, 2)
         select new Conv2dGeometry(batch, cPer * groups, h, w, kPer * groups, (r, s), (sh, sw),
             new Padding2d(pad[0], pad[1], pad[2], pad[3]), (dh, dw), groups))
        .Where(g => IsValid(g));

    private static bool IsValid(Conv2dGeometry g)
    {
        try { g.Validate("conv"); return g.OutHeight > 0 && g.OutWidth > 0; }
        catch (ArgumentException) { return false; }
    }

    /// <summary>
    /// Each output is a dot product of n terms on both backends (GEMM on the CPU, cuBLAS after im2col on CUDA), so
    /// they differ by at most 2 (n + 2) u times the same convolution of |inputs| (the bias adds one more rounding).
    /// </summary>
    [Test]
    public void Conv2dForwardAgreesWithinTheDotProductBound()
    {
        ForAll(ConvGeometries.Zip(Gen.Choose(0, 100000)), t =>
        {
            var (g, seed) = t;
            float[] x = Random(seed, g.InputShape.Size), w = Random(seed + 1, g.WeightShape.Size), bias = Random(seed + 2, g.OutChannels);
            int n = g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width;
            var (cpu, cuda) = Both([x, w, bias], [g.OutputShape.Size], (b, i, o) => b.Conv2d(g, i[0], i[1], i[2], o[0]));
            var bound = Conv(g, x, w, bias);
            AssertWithin(cpu[0], cuda[0], i => 2 * (n + 3) * U * bound[i], $"conv2d {g}");
        });
    }

    [Test]
    public void Conv2dBackwardDataAgreesWithinTheDotProductBound()
    {
        ForAll(ConvGeometries.Zip(Gen.Choose(0, 100000)), t =>
        {
            var (g, seed) = t;
            float[] dY = Random(seed, g.OutputShape.Size), w = Random(seed + 1, g.WeightShape.Size);
            int n = g.OutChannelsPerGroup * g.Kernel.Height * g.Kernel.Width;
            var (cpu, cuda) = Both([dY, w], [g.InputShape.Size], (b, i, o) => b.Conv2dBackwardData(g, i[0], i[1], o[0]));
            var (bound, _) = Both([Abs(dY), Abs(w)], [g.InputShape.Size], (b, i, o) => b.Conv2dBackwardData(g, i[0], i[1], o[0]));
            AssertWithin(cpu[0], cuda[0], i => 2 * (n + 2) * U * bound[0][i], $"conv2d backward data {g}");
        });
    }

    /// <summary>dW sums N*P*Q products (same bound); dBias sums each plane in the CPU's fixed order: bitwise.</summary>
    [Test]
    public void Conv2dBackwardWeightAgreesWithinTheDotProductBoundAndBiasBitwise()
    {
        ForAll(ConvGeometries.Zip(Gen.Choose(0, 100000)), t =>
        {
            var (g, seed) = t;
            float[] x = Random(seed, g.InputShape.Size), dY = Random(seed + 1, g.OutputShape.Size);
            int n = g.Batch * g.OutHeight * g.OutWidth;
            var (cpu, cuda) = Both([x, dY], [g.WeightShape.Size, g.OutChannels], (b, i, o) => b.Conv2dBackwardWeight(g, i[0], i[1], o[0], o[1]));
            var (bound, _) = Both([Abs(x), Abs(dY)], [g.WeightShape.Size], (b, i, o) => b.Conv2dBackwardWeight(g, i[0], i[1], o[0], null));
            AssertWithin(cpu[0], cuda[0], i => 2 * (n + 2) * U * bound[0][i], $"conv2d backward weight {g}");
            AssertBitwise(cpu[1], cuda[1], $"conv2d backward bias {g}");
        });
    }

    private float[] Conv(Conv2dGeometry g, float[] x, float[] w, float[] bias) =>
        Both([Abs(x), Abs(w), Abs(bias)], [g.OutputShape.Size], (b, i, o) => b.Conv2d(g, i[0], i[1], i[2], o[0])).Cpu[0];

    private static float[] Abs(float[] values) => values.Select(MathF.Abs).ToArray();

    [Test]
    public void Pad2dAndItsBackwardAgreeBitwise()
    {
        var gen =
            (from mode in Gen.Elements(PaddingMode.Zeros, PaddingMode.Reflect, PaddingMode.Replicate, PaddingMode.Circular)
             from n in Gen.Choose(1, 2) from c in Gen.Choose(1, 3) from h in Gen.Choose(1, 7) from w in Gen.Choose(1, 7)
             from top in Gen.Choose(0, 4) from left in Gen.Choose(0, 4) from bottom in Gen.Choose(0, 4) from right in Gen.Choose(0, 4)
             from seed in Gen.Choose(0, 100000)
             select (g: new Pad2dGeometry(n, c, h, w, new Padding2d(top, left, bottom, right), mode, 0.5f), seed))
            .Where(t => IsValidPad(t.g));
        ForAll(gen, t =>
        {
            var g = t.g;
            var (cpu, cuda) = Both([Random(t.seed, g.InputShape.Size), Random(t.seed + 1, g.OutputShape.Size)],
                [g.OutputShape.Size, g.InputShape.Size], (b, i, o) =>
                {
                    b.Pad2d(g, i[0], o[0]);
                    b.Pad2dBackward(g, i[1], o[1]);
                });
            AssertBitwise(cpu[0], cuda[0], $"pad2d {g}");
            AssertBitwise(cpu[1], cuda[1], $"pad2d backward {g}");
        });
    }

    private static bool IsValidPad(Pad2dGeometry g)
    {
        try { g.Validate("pad"); return true; }
        catch (ArgumentException) { return false; }
    }

    private static Gen<Pool2dGeometry> PoolGeometries(bool isMax) =>
        (from n in Gen.Choose(1, 2) from c in Gen.Choose(1, 3) from h in Gen.Choose(1, 9) from w in Gen.Choose(1, 9)
         from adaptive in Gen.Elements(false, false, true)
         from outH in Gen.Choose(1, 5) from outW in Gen.Choose(1, 5)
         from kh in Gen.Choose(1, 3) from kw in Gen.Choose(1, 3) from sh in Gen.Choose(1, 3) from sw in Gen.Choose(1, 3)
         from ph in Gen.Choose(0, 1) from pw in Gen.Choose(0, 1) from dilation in Gen.Choose(1, isMax ? 2 : 1)
         from ceil in Gen.Elements(false, true) from includePad in Gen.Elements(false, true) from divisor in Gen.Elements(0, 0, 5)
         select adaptive
             ? Pool2dGeometry.Adaptive(new Shape(n, c, h, w), (outH, outW))
             : new Pool2dGeometry(n, c, h, w, (kh, kw), (sh, sw), (ph, pw), dilation, ceil, includePad, isMax ? 0 : divisor))
        .Where(g => IsValidPool(g, isMax));

    private static bool IsValidPool(Pool2dGeometry g, bool isMax)
    {
        try { g.Validate("pool", isMax); return true; }
        catch (ArgumentException) { return false; }
    }

    /// <summary>Max pooling copies values and picks indices by the CPU's rule (ties: first in window order); integer data forces ties.</summary>
    [Test]
    public void MaxPool2dValuesIndicesAndBackwardAgreeBitwise()
    {
        ForAll(PoolGeometries(true).Zip(Gen.Choose(0, 100000)), t =>
        {
            var (g, seed) = t;
            int inputs = g.InputShape.Size, outputs = g.OutputShape.Size;
            var (cpu, cuda) = Both([Integers(seed, inputs, 2)], [outputs, outputs], (b, i, o) => b.MaxPool2d(g, i[0], o[0], o[1]));
            AssertBitwise(cpu[0], cuda[0], $"max pool values {g}");
            AssertBitwise(cpu[1], cuda[1], $"max pool indices {g}");
            var dY = Random(seed + 1, outputs);
            var (cpuBack, cudaBack) = Both([dY, cpu[1]], [inputs], (b, i, o) => b.MaxPool2dBackward(g, i[0], i[1], o[0]));
            AssertBitwise(cpuBack[0], cudaBack[0], $"max pool backward {g}");
        });
    }

    /// <summary>Average pooling sums the window in the CPU's order and divides by the same divisor: bitwise.</summary>
    [Test]
    public void AvgPool2dAndItsBackwardAgreeBitwise()
    {
        ForAll(PoolGeometries(false).Zip(Gen.Choose(0, 100000)), t =>
        {
            var (g, seed) = t;
            int inputs = g.InputShape.Size, outputs = g.OutputShape.Size;
            var (cpu, cuda) = Both([Random(seed, inputs), Random(seed + 1, outputs)], [outputs, inputs], (b, i, o) =>
            {
                b.AvgPool2d(g, i[0], o[0]);
                b.AvgPool2dBackward(g, i[1], o[1]);
            });
            AssertBitwise(cpu[0], cuda[0], $"avg pool {g}");
            AssertBitwise(cpu[1], cuda[1], $"avg pool backward {g}");
        });
    }
}
