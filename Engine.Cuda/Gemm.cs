namespace Engine.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// Row-major C (M x N) = alpha op(A) op(B) + beta C through column-major cuBLAS: a row-major X is the
    /// column-major X^T, so C^T (N x M) = op(B)^T (N x K) * op(A)^T (K x M):
    /// sgemm(transB, transA, m=N, n=M, k=K, B, ldb, A, lda, C, ldc=N), strided-batched when BatchCount &gt; 1.
    /// </summary>
    public void Gemm(in GemmGeometry g, float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c)
    {
        g.Validate(a.Length, b.Length, c.Length);
        if (g.M == 0 || g.N == 0) return;
        if (g.K == 0 && beta == 1f) return;
        Sgemm(g, alpha, At(a), At(b), beta, At(c));
    }

    /// <summary>The row-major mapping on raw device addresses (convolution calls it on slices of its buffers).</summary>
    internal void Sgemm(in GemmGeometry g, float alpha, ulong a, ulong b, float beta, ulong c) =>
        _driver.Sgemm(new SgemmArgs(
            TransA: g.TransB, TransB: g.TransA, M: g.N, N: g.M, K: g.K, Alpha: alpha,
            A: b, Lda: Math.Max(1, g.Ldb), B: a, Ldb: Math.Max(1, g.Lda), Beta: beta, C: c, Ldc: Math.Max(1, g.N),
            BatchCount: g.BatchCount, StrideA: g.StrideB, StrideB: g.StrideA, StrideC: g.StrideC));
}
