using Engine.Cpu;
using Engine.Tests.Support;
using FsCheck.Fluent;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Perf;

/// <summary>
/// The forward GEMM in one share per thread (<c>GemmDriver.RunShares</c>: cached weights, few output pixels; each thread
/// packs its own column panels, runs every K block into its own stage, and takes an even share of the rows of the last,
/// narrow panel): the forward agrees with the double-precision reference, and its bits equal the blocked driver's (the
/// uncached first forward, and every forward with the shares off), at 1, 2 and 3 threads, on the 512-bit and the
/// forced 256-bit kernels; and the 12 x 16 kernel of the narrow panel has the bits of the 12 x 32 kernel.
/// </summary>
[TestFixture]
public sealed class GemmSharesTests : ThreadCountFixture
{
    /// <summary>
    /// Small maps (3 x 3 to 9 x 9, kernel 1 or 3 with 'same' padding, stride 1 or 2), groups, C*R*S past one 384-deep K
    /// block for some, and N*P*Q pixels (64 to 479) whose count of full 32-wide panels is even, so the shares run at
    /// 2 threads: with a tail of up to 15 columns (<paramref name="tailBelow"/> 16: then also with 16-wide panels) or up
    /// to 31 (a 16-wide narrow tail, or a full-width one).
    /// </summary>
    private static FsCheck.Gen<(Conv2dGeometry Geometry, bool Bias, int Seed)> Cases(int tailBelow) =>
        from batch in Gen.Choose(1, 8)
        from size in Gen.Choose(3, 9)
        from kernel in Gen.Elements(1, 3, 3)
        from stride in Gen.Elements(1, 1, 2)
        from groups in Gen.Elements(1, 1, 2)
        from cg in Gen.Elements(3, 16, 45)
        from kg in Gen.Choose(1, 40)
        from bias in Gen.Elements(false, true)
        from seed in Properties.DataSeed
        let g = new Conv2dGeometry(batch, groups * cg, size, size, groups * kg, kernel, stride, kernel / 2, 1, groups)
        let npq = g.Batch * g.OutHeight * g.OutWidth
        where npq >= 64 && npq < 480 && npq % 64 < tailBelow
        select (g, bias, seed);

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

    private void Check((Conv2dGeometry Geometry, bool Bias, int Seed) c)
    {
        var g = c.Geometry;
        int npq = g.Batch * g.OutHeight * g.OutWidth, crs = g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width;
        Expect.That(GemmDriver.UseShares(g.OutChannelsPerGroup, npq, crs, 2, prepacked: true),
            $"expected a geometry the shares take at 2 threads, got {g} ({g.OutChannelsPerGroup} x {npq} pixels, depth {crs})");
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
            foreach (bool shares in new[] { false, true })
            {
                GemmDriver.SharesDisabled = !shares;
                foreach (var backend in Backends)
                {
                    var runs = Forwards(backend, g, x, w, bias);
                    first ??= runs[0];
                    for (int run = 0; run < runs.Length; run++)
                    {
                        ExpectClose(runs[run], expected, magnitude, $"forward {g} (bias {c.Bias}, {backend.Name}, shares {shares}, run {run})");
                        ExpectSameBits(first, runs[run], $"forward {g} (bias {c.Bias}), {backend.Name}, shares {shares}, run {run} against the blocked driver at 1 thread");
                    }
                }
            }
        }
        finally
        {
            GemmDriver.SharesDisabled = false;
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }

    /// <summary>On the machine's own width: 32-wide panels with AVX-512, 16-wide ones on an AVX2-only CPU.</summary>
    [Test]
    public void SharedForward_AgreesWithReference_AndKeepsTheBits() =>
        Properties.Check(Cases(GemmKernels.Use512 ? 32 : 16), Check, runs: 16);

    [Test]
    public void SharedForward_AgreesWithReference_AndKeepsTheBits_Vector256Forced()
    {
        GemmKernels.ForceVector256 = true;
        try
        {
            Properties.Check(Cases(16), Check, runs: 8);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    /// <summary>ResNet-18's 7 x 7 layer (512 -> 512, 3 x 3) at batch 8 with fewer channels: 8 x 49 = 392 pixels, a tail of 8.</summary>
    [Test]
    public void ResNetLayer4Map_AgreesWithReference_AndKeepsTheBits() =>
        Check((new Conv2dGeometry(8, 48, 7, 7, 30, 3, 1, 1, 1), true, 5));

    /// <summary>C (12 x 16) = or += A panel * B panel on the narrow kernel has the bits of the first 16 columns of the 12 x 32 kernel.</summary>
    [Test]
    public unsafe void NarrowKernel_HasTheBitsOfTheFullKernel()
    {
        // before the property: an ignore inside it would be reported as a falsified case
        if (!GemmKernels.Use512) Assert.Ignore("the narrow kernel needs AVX-512; this CPU has none");
        Properties.Check(
            from kc in Gen.Choose(1, 400) from rows in Gen.Choose(1, 12) from accumulate in Gen.Elements(false, true) from seed in Properties.DataSeed
            select (kc, rows, accumulate, seed),
            c =>
            {
                var a = Random(c.kc * GemmKernels.Mr512, c.seed);
                var wideB = Random(c.kc * GemmKernels.Nr512, c.seed + 1);
                var narrowB = new float[c.kc * 16];
                for (int k = 0; k < c.kc; k++) Array.Copy(wideB, k * GemmKernels.Nr512, narrowB, k * 16, 16);
                var start = Random(GemmKernels.Mr512 * GemmKernels.Nr512, c.seed + 2);
                var wide = (float[])start.Clone();
                var narrow = (float[])start.Clone();
                fixed (float* pa = a, pwb = wideB, pnb = narrowB, pw = wide, pn = narrow)
                {
                    GemmKernels.Kernel512(c.kc, pa, pwb, pw, GemmKernels.Nr512, c.accumulate, c.rows);
                    GemmDriver.Kernel512Narrow(c.kc, pa, pnb, pn, GemmKernels.Nr512, c.accumulate, c.rows);
                }
                // columns 16..31 are not the narrow kernel's: they keep their starting values there
                for (int i = 0; i < GemmKernels.Mr512; i++)
                    for (int j = 16; j < GemmKernels.Nr512; j++) wide[i * GemmKernels.Nr512 + j] = start[i * GemmKernels.Nr512 + j];
                ExpectSameBits(wide, narrow, $"narrow kernel, depth {c.kc}, {c.rows} rows, accumulate {c.accumulate}");
            });
    }
}
