using Engine.Cpu;
using FsCheckProperty = FsCheck.NUnit.PropertyAttribute;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Perf;

/// <summary>
/// The implicit-GEMM convolution (forward, backward data, backward weight and bias) against a naive double-precision
/// reference over random geometries (stride, asymmetric padding, dilation, groups), the 1x1 fast path, the blocked
/// and split paths of the backward passes, and bitwise equality between one and two threads.
/// </summary>
[TestFixture]
public sealed class Conv2dPerfTests
{
    private static readonly CpuBackend Two = new(2);

    /// <summary>Float error per unit of sum |terms| (sums of up to a few thousand products).</summary>
    private const double Tolerance = 2e-6;

    private static Conv2dGeometry RandomGeometry(int seed)
    {
        var random = new System.Random(seed);
        while (true)
        {
            int groups = random.Next(1, 4);
            var g = new Conv2dGeometry(random.Next(1, 4), groups * random.Next(1, 5), random.Next(1, 13), random.Next(1, 13),
                groups * random.Next(1, 6), (random.Next(1, 5), random.Next(1, 5)), (random.Next(1, 4), random.Next(1, 4)),
                new Padding2d(random.Next(0, 4), random.Next(0, 4), random.Next(0, 4), random.Next(0, 4)),
                (random.Next(1, 3), random.Next(1, 3)), groups);
            if (random.Next(5) == 0) g = g with { Kernel = 1, Stride = 1, Padding = 0 }; // the pointwise path
            try
            {
                g.Validate("test");
                return g;
            }
            catch (ArgumentException)
            {
            }
        }
    }

    internal static void CheckAll(CpuBackend backend, Conv2dGeometry g, int seed, bool withBias)
    {
        var x = Random(g.InputShape.Size, seed);
        var w = Random(g.WeightShape.Size, seed + 1);
        var bias = withBias ? Random(g.OutChannels, seed + 2) : null;
        var dY = Random(g.OutputShape.Size, seed + 3);
        float[] Abs(float[] v) => v.Select(Math.Abs).ToArray();

        var y = backend.Allocate(g.OutputShape.Size);
        backend.Conv2d(g, Upload(backend, x), Upload(backend, w), bias is null ? null : Upload(backend, bias), y);
        AssertClose(Download(backend, y, g.OutputShape.Size), ConvForward(g, x, w, bias),
            ConvForward(g, Abs(x), Abs(w), bias is null ? null : Abs(bias)), Tolerance, $"conv forward {g}");

        var dX = backend.Allocate(g.InputShape.Size);
        backend.Fill(dX, float.NaN, g.InputShape.Size); // overwritten, never accumulated
        backend.Conv2dBackwardData(g, Upload(backend, dY), Upload(backend, w), dX);
        AssertClose(Download(backend, dX, g.InputShape.Size), ConvBackwardData(g, dY, w),
            ConvBackwardData(g, Abs(dY), Abs(w)), Tolerance, $"conv backward data {g}");

        var dW = backend.Allocate(g.WeightShape.Size);
        var dBias = backend.Allocate(g.OutChannels);
        backend.Conv2dBackwardWeight(g, Upload(backend, x), Upload(backend, dY), dW, dBias);
        AssertClose(Download(backend, dW, g.WeightShape.Size), ConvBackwardWeight(g, x, dY),
            ConvBackwardWeight(g, Abs(x), Abs(dY)), Tolerance, $"conv backward weight {g}");
        int pq = g.OutHeight * g.OutWidth;
        // the bias gradient against sum |dY| per channel: relative to the sum itself, a sum that nearly cancels (72 terms
        // giving 0.0024) failed on ~1e-6 of float rounding
        var expectedBias = new double[g.OutChannels];
        var biasMagnitude = new double[g.OutChannels];
        for (int i = 0; i < dY.Length; i++)
        {
            expectedBias[i / pq % g.OutChannels] += dY[i];
            biasMagnitude[i / pq % g.OutChannels] += Math.Abs(dY[i]);
        }
        AssertClose(Download(backend, dBias, g.OutChannels), expectedBias, biasMagnitude, Tolerance, $"conv bias gradient {g}");
    }

    [FsCheckProperty(MaxTest = 60)]
    public void Conv2d_AgreesWithReference(int seed, bool withBias) => CheckAll(Two, RandomGeometry(seed), seed, withBias);

    [FsCheckProperty(MaxTest = 40)]
    public void Conv2d_ImplicitGemm_AgreesWithReference(int seed, bool withBias) =>
        WithoutDirect(() => CheckAll(Two, RandomGeometry(seed), seed, withBias));

    /// <summary>Runs a check with the direct small-channel path switched off (so the implicit GEMM takes every case).</summary>
    private static void WithoutDirect(Action check)
    {
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.WinogradEnabled = false; // F(2x2, 3x3) would take the 3x3 cases: these check the GEMM paths
        try
        {
            check();
        }
        finally
        {
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }

    [FsCheckProperty(MaxTest = 25)]
    public void Conv2d_AgreesWithReference_Vector256Forced(int seed)
    {
        GemmKernels.ForceVector256 = true;
        try
        {
            CheckAll(Two, RandomGeometry(seed), seed, withBias: true);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    // CRS = 405 > one 384-deep K block; the backward-data pixel blocks (5152 columns at this CRS) split the batch.
    [TestCase(2, 45, 64, 66, 2, 3, 1, 1)]
    // small weight, 8192 pixels: the weight gradient splits the pixel sum into chunks
    [TestCase(2, 2, 64, 64, 3, 3, 1, 1)]
    // the ResNet stem's shape, smaller: 7x7 stride 2 pad 3
    [TestCase(1, 3, 40, 38, 16, 7, 2, 3)]
    // 1x1 over a large batch of planes
    [TestCase(3, 20, 33, 31, 40, 1, 1, 0)]
    // 1x1, stride 2, padded, with as many output pixels as input pixels: not pointwise (once mistaken for it)
    [TestCase(2, 3, 2, 2, 20, 1, 2, 1)]
    public void Conv2d_LargeCases_AgreeWithReference(int n, int c, int h, int w, int k, int kernel, int stride, int pad)
    {
        var g = new Conv2dGeometry(n, c, h, w, k, kernel, stride, pad, 1);
        CheckAll(Two, g, n + c + h + w + k, withBias: true);
        WithoutDirect(() => CheckAll(Two, g, n + c + h + w + k, withBias: true));
    }

    /// <summary>
    /// Stride-1 data gradients run as the forward convolution of dY with flipped, transposed weights (padding at most the
    /// kernel's extent minus one on each side), falling back to col2im below 128 input pixels.
    /// </summary>
    private static readonly Conv2dGeometry[] AsForwardCases =
    [
        new(2, 6, 11, 13, 34, (3, 2), 1, new Padding2d(2, 0, 1, 1), (2, 1), 2), // grouped, dilated, asymmetric padding
        new(3, 24, 9, 9, 20, 5, 1, 4, 1), // padding equal to the extent: the forward pass is unpadded
        new(2, 10, 8, 9, 30, 3, 1, 3, 1), // padding past the extent: col2im
        new(1, 40, 7, 7, 40, 3, 1, 1, 1), // 49 pixels: col2im
    ];

    [TestCaseSource(nameof(AsForwardCases))]
    public void Conv2d_BackwardDataAsForward_AgreesWithReference(Conv2dGeometry g)
    {
        CheckAll(Two, g, g.InChannels + g.OutChannels, withBias: false);
        GemmKernels.ForceVector256 = true;
        try
        {
            CheckAll(Two, g, g.InChannels + g.OutChannels + 1, withBias: false);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    [TestCase(2, 30, 64, 66, 40, 3, 1, 1, 1)]
    [TestCase(2, 2, 64, 64, 3, 3, 1, 1, 1)]
    [TestCase(9, 6, 14, 14, 16, 5, 1, 0, 1)]
    [TestCase(3, 16, 20, 20, 32, 3, 2, 1, 2)]
    public void Conv2d_IsBitwiseIdenticalForOneAndTwoThreads(int n, int c, int h, int w, int k, int kernel, int stride, int pad, int groups)
    {
        var g = new Conv2dGeometry(n, c, h, w, k, kernel, stride, pad, 1, groups);
        var x = Random(g.InputShape.Size, 1);
        var wt = Random(g.WeightShape.Size, 2);
        var bias = Random(k, 3);
        var dY = Random(g.OutputShape.Size, 4);
        float[][] Run(CpuBackend be)
        {
            var y = be.Allocate(g.OutputShape.Size);
            var dX = be.Allocate(g.InputShape.Size);
            var dW = be.Allocate(g.WeightShape.Size);
            var dBias = be.Allocate(k);
            be.Conv2d(g, Upload(be, x), Upload(be, wt), Upload(be, bias), y);
            be.Conv2dBackwardData(g, Upload(be, dY), Upload(be, wt), dX);
            be.Conv2dBackwardWeight(g, Upload(be, x), Upload(be, dY), dW, dBias);
            return [Download(be, y, g.OutputShape.Size), Download(be, dX, g.InputShape.Size), Download(be, dW, g.WeightShape.Size), Download(be, dBias, k)];
        }
        using var one = new CpuBackend(1);
        using var two = new CpuBackend(2);
        var single = Run(one);
        var dual = Run(two);
        CompareBits(g, single, dual);
        CpuBackend.DirectConvEnabled = false;
        CpuBackend.WinogradEnabled = false; // F(2x2, 3x3) would take the 3x3 cases: these check the GEMM paths
        try
        {
            CompareBits(g, Run(one), Run(two));
        }
        finally
        {
            CpuBackend.DirectConvEnabled = true;
            CpuBackend.WinogradEnabled = true;
        }
    }

    private static void CompareBits(Conv2dGeometry g, float[][] single, float[][] dual)
    {
        string[] names = ["y", "dX", "dW", "dBias"];
        for (int t = 0; t < single.Length; t++)
            for (int i = 0; i < single[t].Length; i++)
                if (BitConverter.SingleToInt32Bits(single[t][i]) != BitConverter.SingleToInt32Bits(dual[t][i]))
                    Assert.Fail($"{names[t]}[{i}] of {g}: 1 thread gave {single[t][i]:R}, 2 threads {dual[t][i]:R}; expected identical bits");
    }
}
