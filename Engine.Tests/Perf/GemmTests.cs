using Engine.Cpu;
using FsCheckProperty = FsCheck.NUnit.PropertyAttribute;
using NUnit.Framework;
using static Engine.Tests.Perf.PerfReference;

namespace Engine.Tests.Perf;

/// <summary>
/// The packed GEMM against a double-precision reference: random shapes that end in every kind of edge tile (M not a
/// multiple of the 12- or 6-row panel, N not a multiple of the 32- or 16-column panel, K across the 384-deep blocks),
/// every transpose, alpha/beta, strided batches, on the 512-bit kernel and the forced 256-bit one.
/// </summary>
[TestFixture]
public sealed class GemmTests
{
    /// <summary>Float error bound per unit of sum |a*b|: a few ulps per accumulated block (K blocks of 384).</summary>
    private static double Tolerance(int k) => 4e-7 * (Math.Min(k, 384) + k / 384 + 4);

    private static readonly CpuBackend Two = new(2);

    private static void CheckGemm(CpuBackend backend, bool transA, bool transB, int m, int n, int k, float alpha, float beta,
        int batches, int seed)
    {
        int extra = 3; // unequal batch strides with slack between matrices
        long strideA = (long)m * k + extra, strideB = (long)k * n + 2 * extra, strideC = (long)m * n + extra;
        var a = Random((int)(strideA * batches), seed);
        var b = Random((int)(strideB * batches), seed + 1);
        var c = Random((int)(strideC * batches), seed + 2);
        var geometry = new GemmGeometry(transA, transB, m, n, k, batches, strideA, strideB, strideC);
        var ba = Upload(backend, a);
        var bb = Upload(backend, b);
        var bc = Upload(backend, c);
        backend.Gemm(geometry, alpha, ba, bb, beta, bc);
        var result = Download(backend, bc, c.Length);
        for (int batch = 0; batch < batches; batch++)
        {
            var (expected, magnitude) = PerfReference.Gemm(transA, transB, m, n, k, alpha,
                a.AsSpan((int)(batch * strideA)), b.AsSpan((int)(batch * strideB)), beta, c.AsSpan((int)(batch * strideC)));
            AssertClose(result.AsSpan((int)(batch * strideC), m * n), expected, magnitude, Tolerance(k),
                $"GEMM {geometry} alpha {alpha} beta {beta} batch {batch}{(GemmKernels.ForceVector256 ? " (256-bit)" : "")}");
        }
    }

    private static (int M, int N, int K) Shape(int rawM, int rawN, int rawK, int rawBig)
    {
        int m = 1 + Math.Abs(rawM % 130), n = 1 + Math.Abs(rawN % 150), k = 1 + Math.Abs(rawK % 90);
        if (rawBig % 4 == 0) k += 384 + Math.Abs(rawBig % 450); // two or three K blocks
        return (m, n, k);
    }

    [FsCheckProperty(MaxTest = 60)]
    public void Gemm_AgreesWithReference_Vector512(int rawM, int rawN, int rawK, int rawBig, bool transA, bool transB, int seed)
    {
        var (m, n, k) = Shape(rawM, rawN, rawK, rawBig);
        float beta = (seed & 3) switch { 0 => 0f, 1 => 1f, _ => 0.5f };
        CheckGemm(Two, transA, transB, m, n, k, (seed & 4) == 0 ? 1f : -1.5f, beta, 1, seed);
    }

    [FsCheckProperty(MaxTest = 40)]
    public void Gemm_AgreesWithReference_Vector256Forced(int rawM, int rawN, int rawK, int rawBig, bool transA, bool transB, int seed)
    {
        var (m, n, k) = Shape(rawM, rawN, rawK, rawBig);
        GemmKernels.ForceVector256 = true;
        try
        {
            CheckGemm(Two, transA, transB, m, n, k, 0.75f, (seed & 1) == 0 ? 0f : 2f, 1, seed);
        }
        finally
        {
            GemmKernels.ForceVector256 = false;
        }
    }

    [FsCheckProperty(MaxTest = 25)]
    public void Gemm_StridedBatches_AgreeWithReference(int rawM, int rawN, int rawK, bool transA, bool transB, int seed)
    {
        int m = 1 + Math.Abs(rawM % 40), n = 1 + Math.Abs(rawN % 70), k = 1 + Math.Abs(rawK % 50);
        CheckGemm(Two, transA, transB, m, n, k, 1f, (seed & 1) == 0 ? 0f : 1f, 2 + Math.Abs(seed % 3), seed);
    }

    [TestCase(1000, 40, 300, false, false)] // crosses the 960-row block and a K block
    [TestCase(1100, 40, 800, true, false)] // two row blocks and three K blocks (each block's A packed afresh)
    [TestCase(13, 4100, 20, false, true)] // crosses the 1024-column block four times
    [TestCase(100, 600, 900, true, false)] // several tiles in each direction, three K blocks
    [TestCase(5, 7, 0, false, false)] // K = 0: C = beta * C
    [TestCase(45, 301, 1100, false, false)] // deep: 512-deep K blocks (two full, one of 76), tiles 96 x 256
    [TestCase(970, 530, 1024, true, true)] // deep, exactly two K blocks, two row blocks, edge tiles both ways
    public void Gemm_LargeBlocks_AgreeWithReference(int m, int n, int k, bool transA, bool transB)
    {
        CheckGemm(Two, transA, transB, m, n, k, 1f, 0f, 1, m + n + k);
        CheckGemm(Two, transA, transB, m, n, k, 1f, 1f, 1, m * n + k);
    }

    /// <summary>
    /// An M edge of 1-11 rows (1-8: the short 4- and 8-row tiles) gives the bits its rows get inside a full 12-row
    /// tile: C = A * B with M = 12 + edge against M = 24 whose first 12 + edge rows of A are the same, over one and
    /// two K blocks (the second accumulates) and an N edge.
    /// </summary>
    [Test]
    public void Gemm_EdgeRowsGiveTheBitsOfAFullTile([Range(1, 11)] int edge, [Values(50, 700)] int k)
    {
        const int n = 70;
        var a = Random(24 * k, edge);
        var b = Random(k * n, edge + 1);
        float[] Run(int m)
        {
            var c = Two.Allocate(m * n);
            Two.Gemm(new GemmGeometry(false, false, m, n, k, 1, m * k, k * n, m * n), 1f, Upload(Two, a.AsSpan(0, m * k).ToArray()), Upload(Two, b), 0f, c);
            return Download(Two, c, m * n);
        }
        var edged = Run(12 + edge);
        var full = Run(24);
        for (int i = 12 * n; i < (12 + edge) * n; i++)
            if (BitConverter.SingleToInt32Bits(edged[i]) != BitConverter.SingleToInt32Bits(full[i]))
                Assert.Fail($"M = {12 + edge}, K = {k}: row {i / n}, column {i % n} gave {edged[i]:R} on the edge and {full[i]:R} in a full tile; expected identical bits");
    }

    [TestCase(300, 700, 600, false, false, 1)]
    [TestCase(1100, 1100, 500, false, false, 1)] // two row, two column and two K blocks
    [TestCase(97, 1203, 333, true, true, 1)]
    [TestCase(40, 50, 60, false, true, 9)]
    [TestCase(130, 700, 1500, false, false, 1)] // deep: the plain GEMM's 512-deep blocks and 256-wide tiles
    public void Gemm_IsBitwiseIdenticalForOneAndTwoThreads(int m, int n, int k, bool transA, bool transB, int batches)
    {
        var a = Random(m * k * batches, 1);
        var b = Random(k * n * batches, 2);
        float[] Run(CpuBackend backend)
        {
            var c = backend.Allocate(m * n * batches);
            backend.Gemm(new GemmGeometry(transA, transB, m, n, k, batches, m * k, k * n, m * n), 1f,
                Upload(backend, a), Upload(backend, b), 0f, c);
            return Download(backend, c, m * n * batches);
        }
        using var one = new CpuBackend(1);
        using var two = new CpuBackend(2);
        var single = Run(one);
        var dual = Run(two);
        for (int i = 0; i < single.Length; i++)
            if (BitConverter.SingleToInt32Bits(single[i]) != BitConverter.SingleToInt32Bits(dual[i]))
                Assert.Fail($"element {i}: 1 thread gave {single[i]:R}, 2 threads {dual[i]:R}; expected identical bits");
    }
}
