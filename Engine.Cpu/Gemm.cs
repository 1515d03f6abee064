using System.Numerics.Tensors;

namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Below this many multiply-adds per matrix, a batched GEMM runs whole matrices as its parallel chunks.</summary>
    private const long SmallGemm = 1 << 20;

    /// <summary>
    /// C_b (M x N) = alpha * op(A_b) * op(B_b) + beta * C_b for every batch b, through the packed, blocked driver
    /// (<see cref="GemmDriver"/>). Large matrices split into fixed tiles across threads; many small matrices run one
    /// matrix per chunk. Either way each element is summed in a fixed order, so any thread count gives the same bits.
    /// </summary>
    public void Gemm(in GemmGeometry g, float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c)
    {
        var geo = g;
        geo.Validate(a.Length, b.Length, c.Length);
        var aa = Array(a);
        var ba = Array(b);
        var ca = Array(c);
        if (geo.BatchCount > 1 && (long)geo.M * geo.N * geo.K < SmallGemm)
        {
            _workers.For(geo.BatchCount, (geo, alpha, aa, ba, beta, ca), static (s, batch) => GemmBatch(s.geo, batch, s.alpha, s.aa, s.ba, s.beta, s.ca, null));
            return;
        }
        for (int batch = 0; batch < geo.BatchCount; batch++) GemmBatch(geo, batch, alpha, aa, ba, beta, ca, _workers);
    }

    private static void GemmBatch(in GemmGeometry g, int batch, float alpha, float[] a, float[] b, float beta, float[] c, WorkerPool? pool) =>
        GemmSpans(g.TransA, g.TransB, g.M, g.N, g.K, alpha,
            a.AsSpan((int)(batch * g.StrideA), g.M * g.K), b.AsSpan((int)(batch * g.StrideB), g.K * g.N), beta,
            c.AsSpan((int)(batch * g.StrideC), g.M * g.N), pool);

    /// <summary>Single-threaded GEMM of dense row-major matrices (for kernels that already run inside a parallel chunk).</summary>
    internal static void GemmSerial(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c) =>
        GemmSpans(transA, transB, m, n, k, alpha, a, b, beta, c, null);

    /// <summary>
    /// C (M x N) = alpha * op(A) * op(B) + beta * C. A is M x K (K x M when transposed), B is K x N (N x K when
    /// transposed). Seen by the driver as L_A = alpha * op(A)^T (K x M) and L_B = op(B) (K x N); a transposed A
    /// or an untransposed B has its logical rows contiguous. beta is applied to C first (0 means C is overwritten).
    /// </summary>
    internal static unsafe void GemmSpans(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c, WorkerPool? pool)
    {
        if (beta != 0f && beta != 1f) TensorPrimitives.Multiply(c[..(m * n)], beta, c);
        if (alpha == 0f)
        {
            if (beta == 0f) c[..(m * n)].Clear();
            return;
        }
        fixed (float* pa = a, pb = b, pc = c)
        {
            var sourceA = new DenseSource(pa, transA ? m : k, kMajor: transA, scale: alpha);
            var sourceB = new DenseSource(pb, transB ? k : n, kMajor: !transB);
            // deep products take the plain GEMM's blocking (measured at K = 1024 and 2048); shallower ones keep the
            // convolutions' (and the bits they always had)
            bool deep = k >= GemmDriver.DenseMinK;
            GemmDriver.Run(sourceA, sourceB, new GemmTarget(pc, n), m, n, k, accumulate: beta != 0f, pool,
                deep ? GemmDriver.DenseKcBlock : GemmDriver.KcBlock, deep ? GemmDriver.DenseTileN : GemmDriver.TileN);
        }
    }
}
