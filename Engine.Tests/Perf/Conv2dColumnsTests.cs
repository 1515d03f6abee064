using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Perf;

/// <summary>
/// The column-split forward GEMM (<c>GemmDriver.RunColumns</c>: short, wide outputs cut into column chunks that pack
/// their own B panels and add the bias themselves) and the im2col window copies it packs with: the forward agrees with
/// the double-precision reference, and its bits equal the blocked driver's, for 1, 2 and 3 threads, with uncached and
/// cached weights, on the 512-bit and the forced 256-bit kernels; and the stride-1 data gradient, a forward
/// convolution on the same driver.
/// </summary>
[TestFixture]
public sealed class Conv2dColumnsTests : ThreadCountFixture
{

    /// <summary>
    /// At least 768 output pixels (the split takes them at up to 3 threads), strides 1-3 (2: the de-interleaving
    /// copies), padding up to the kernel's extent, dilation, groups, 1x1 pointwise layers, and C*R*S past one 384-deep
    /// K block; at most 1 M multiply-adds so the reference stays quick.
    /// </summary>
    private static readonly FsCheck.Gen<(Conv2dGeometry Geometry, bool Bias, int Seed)> Cases =
        from batch in Gen.Choose(1, 3)
        from groups in Gen.Elements(1, 1, 2)
        from cg in Gen.Elements(1, 3, 5, 9)
        from kg in Gen.Choose(1, 30)
        from kernel in Gen.Elements(1, 2, 3, 5, 7)
        from kernelW in Gen.Elements(kernel, kernel, 3)
        from stride in Gen.Elements(1, 2, 2, 3)
        from dilation in Gen.Elements(1, 1, 2)
        from padTop in Gen.Choose(0, dilation * (kernel - 1))
        from padLeft in Gen.Choose(0, dilation * (kernelW - 1))
        from padBottom in Gen.Choose(0, 2)
        from padRight in Gen.Choose(0, 3)
        from height in Gen.Choose(dilation * (kernel - 1) + 12, 40)
        from width in Gen.Choose(dilation * (kernelW - 1) + 16, 60)
        from pointwise in Gen.Elements(false, false, false, true)
        from bias in Gen.Elements(false, true)
        from seed in Properties.DataSeed
        select (Widened(new Conv2dGeometry(batch, groups * cg, height, width, groups * kg, (kernel, kernelW), stride,
            new Padding2d(padTop, padLeft, padBottom, padRight), dilation, groups), pointwise), bias, seed);

    /// <summary>The drawn geometry (made pointwise if asked) with at least 768 output pixels and at most 1 M multiply-adds.</summary>
    private static Conv2dGeometry Widened(Conv2dGeometry g, bool pointwise)
    {
        if (pointwise) g = g with { Kernel = 1, Stride = 1, Padding = 0, Dilation = 1 };
        int pq = g.OutHeight * g.OutWidth, batch = Math.Max(g.Batch, (768 + pq - 1) / pq);
        long perChannel = (long)batch * pq * g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width;
        int kg = (int)Math.Clamp(1_000_000 / perChannel, 1, g.OutChannelsPerGroup);
        return g with { Batch = batch, OutChannels = g.Groups * kg };
    }

    /// <summary>Three forwards (the first with uncached weights, the later ones cached) on one backend.</summary>
    private static float[][] Forwards(CpuBackend backend, Conv2dGeometry g, float[] x, float[] w, float[]? bias)
    {
        var xb = Upload(backend, x);
        var wb = Upload(backend, w);
        var bb = bias is null ? null : Upload(backend, bias);
        var runs = new float[3][];
        for (int run = 0; run < runs.Length; run++)
        {
            var y = backend.Allocate(g.OutputShape.Size);
            backend.Fill(y, float.NaN, g.OutputShape.Size); // overwritten, never accumulated
            backend.Conv2d(g, xb, wb, bb, y);
            runs[run] = Download(backend, y, g.OutputShape.Size);
        }
        return runs;
    }

    private static void Check((Conv2dGeometry Geometry, bool Bias, int Seed) c, CpuBackend[] backends)
    {
        var g = c.Geometry;
        var x = Random(g.InputShape.Size, c.Seed);
        var w = Random(g.WeightShape.Size, c.Seed + 1);
        var bias = c.Bias ? Random(g.OutChannels, c.Seed + 2) : null;
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.WinogradEnabled = false; // F(2x2, 3x3) would take the 3x3 cases: these check the GEMM paths
        try
        {
            var expected = ConvForward(g, x, w, bias);
            var magnitude = ConvForward(g, x.Select(Math.Abs).ToArray(), w.Select(Math.Abs).ToArray(), bias?.Select(Math.Abs).ToArray());
            float[]? first = null;
            foreach (bool split in new[] { true, false })
            {
                GemmDriver.ColumnsDisabled = !split;
                foreach (var backend in backends)
                {
                    var runs = Forwards(backend, g, x, w, bias);
                    first ??= runs[0];
                    ExpectClose(runs[0], expected, magnitude, $"forward {g} (bias {c.Bias}, {backend.Name}, column split {split})");
                    for (int run = 0; run < runs.Length; run++)
                        ExpectSameBits(first, runs[run], $"forward {g} (bias {c.Bias}), {backend.Name}, column split {split}, run {run} against run 0");
                }
            }
        }
        finally
        {
            GemmDriver.ColumnsDisabled = false;
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }



    [Test]
    public void ColumnSplitForward_AgreesWithReference_AndKeepsTheBits() => Properties.Check(Cases, c => Check(c, Backends), runs: 16);

    [Test]
    public void ColumnSplitForward_AgreesWithReference_AndKeepsTheBits_Vector256Forced()
    {
        GemmKernels.ForceVector256 = true;
        try
        {
            Properties.Check(Cases, c => Check(c, Backends), runs: 8);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    /// <summary>
    /// The stride-1 data gradient, which runs as a forward convolution through the same driver choice: dX agrees with
    /// the reference and has the same bits with the column split on and off, at 1, 2 and 3 threads.
    /// </summary>
    private static void CheckBackwardData((Conv2dGeometry Geometry, bool Bias, int Seed) c, CpuBackend[] backends)
    {
        var g = c.Geometry with { Stride = 1 };
        var dY = Random(g.OutputShape.Size, c.Seed);
        var w = Random(g.WeightShape.Size, c.Seed + 1);
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.WinogradEnabled = false; // F(2x2, 3x3) would take the 3x3 cases: these check the GEMM paths
        try
        {
            var expected = ConvBackwardData(g, dY, w);
            var magnitude = ConvBackwardData(g, dY.Select(Math.Abs).ToArray(), w.Select(Math.Abs).ToArray());
            float[]? first = null;
            foreach (bool split in new[] { true, false })
            {
                GemmDriver.ColumnsDisabled = !split;
                foreach (var backend in backends)
                {
                    var dYb = Upload(backend, dY);
                    var wb = Upload(backend, w);
                    var dX = backend.Allocate(g.InputShape.Size);
                    backend.Fill(dX, float.NaN, g.InputShape.Size); // overwritten, never accumulated
                    backend.Conv2dBackwardData(g, dYb, wb, dX);
                    var got = Download(backend, dX, g.InputShape.Size);
                    first ??= got;
                    ExpectClose(got, expected, magnitude, $"data gradient {g} ({backend.Name}, column split {split})");
                    ExpectSameBits(first, got, $"data gradient {g}, {backend.Name}, column split {split} against the first run");
                }
            }
        }
        finally
        {
            GemmDriver.ColumnsDisabled = false;
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }

    [Test]
    public void ColumnSplitBackwardData_AgreesWithReference_AndKeepsTheBits() =>
        Properties.Check(Cases, c => CheckBackwardData(c, Backends), runs: 12);

    /// <summary>The ResNet-18 stem's geometry (7x7, stride 2, padding 3) at batch 1 on 224 x 224 against the reference, split and not.</summary>
    [Test]
    public void ResNetStem_AgreesWithReference_AndKeepsTheBits() =>
        Check((new Conv2dGeometry(1, 3, 224, 224, 5, 7, 2, 3, 1), true, 11), [Backends[0], Backends[1]]);

    /// <summary>
    /// The run copies of the im2col packing: destination[t] = row[w0 + t*stride] inside [0, width), 0 outside, for
    /// strides 1 and 2 (vector copies and de-interleaves, masked at the borders) and 3 (scalar), any offset and length.
    /// </summary>
    [Test]
    public unsafe void WindowCopies_MatchTheirDefinition() => Properties.Check(
        from w0 in Gen.Choose(-40, 70) from count in Gen.Choose(0, 50) from width in Gen.Choose(1, 70) from stride in Gen.Choose(1, 3)
        select (w0, count, width, stride),
        c =>
        {
            var row = Random(c.width, c.w0 + 1000 * c.count);
            var actual = new float[c.count + 1];
            actual[c.count] = 12345f; // the copy must not write past count
            fixed (float* pr = row, pd = actual)
            {
                if (c.stride == 1) PanelCopy.Window(pd, pr, c.w0, c.count, c.width);
                else if (c.stride == 2) PanelCopy.Window2(pd, pr, c.w0, c.count, c.width);
                else PanelCopy.Strided(pd, pr, c.w0, c.count, c.stride, c.width);
            }
            for (int t = 0; t < c.count; t++)
            {
                int w = c.w0 + t * c.stride;
                float expected = w >= 0 && w < c.width ? row[w] : 0f;
                Expect.That(BitConverter.SingleToInt32Bits(actual[t]) == BitConverter.SingleToInt32Bits(expected),
                    $"window w0 {c.w0}, count {c.count}, width {c.width}, stride {c.stride}: element {t} expected {expected:R}, got {actual[t]:R}");
            }
            Expect.That(actual[c.count] == 12345f, $"window w0 {c.w0}, count {c.count}, stride {c.stride}: expected nothing written past {c.count}, got {actual[c.count]:R}");
        }, runs: 300);
}
