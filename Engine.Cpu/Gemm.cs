using System.Numerics.Tensors;

namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Rows of C per parallel chunk.</summary>
    private const int GemmRowChunk = 16;

    /// <summary>
    /// C (M x N) = alpha * op(A) * op(B) + beta * C per batch, parallel over fixed chunks of rows of C
    /// (each row is computed by one chunk in a fixed order, so any thread count gives the same bits).
    /// </summary>
    public void Gemm(in GemmGeometry g, float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c)
    {
        var geo = g;
        geo.Validate(a.Length, b.Length, c.Length);
        var aa = Array(a);
        var ba = Array(b);
        var ca = Array(c);
        int m = geo.M, n = geo.N, k = geo.K;
        int rowChunks = (m + GemmRowChunk - 1) / GemmRowChunk;
        _workers.For(geo.BatchCount * rowChunks, chunk =>
        {
            int batch = chunk / rowChunks, i0 = chunk % rowChunks * GemmRowChunk;
            GemmRows(geo.TransA, geo.TransB, m, n, k, alpha,
                aa.AsSpan((int)(batch * geo.StrideA), m * k), ba.AsSpan((int)(batch * geo.StrideB), k * n), beta,
                ca.AsSpan((int)(batch * geo.StrideC), m * n), i0, Math.Min(i0 + GemmRowChunk, m));
        });
    }

    /// <summary>Single-threaded GEMM of dense matrices (for kernels that already run inside a parallel chunk).</summary>
    internal static void GemmSerial(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c) =>
        GemmRows(transA, transB, m, n, k, alpha, a, b, beta, c, 0, m);

    /// <summary>
    /// Rows [i0, i1) of C (M x N) = alpha * op(A) * op(B) + beta * C. A is M x K (K x M when transposed),
    /// B is K x N (N x K when transposed). Without op(B) transposed each row is a sum of scaled rows of B;
    /// with it each element is a dot product of a row of op(A) with a row of B.
    /// </summary>
    internal static void GemmRows(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c, int i0, int i1)
    {
        Span<float> aRow = k <= 4096 ? stackalloc float[k] : new float[k];
        for (int i = i0; i < i1; i++)
        {
            var row = c.Slice(i * n, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) TensorPrimitives.Multiply(row, beta, row);
            // aRow = alpha * op(A)[i, :]
            if (transA) for (int p = 0; p < k; p++) aRow[p] = alpha * a[p * m + i];
            else TensorPrimitives.Multiply(a.Slice(i * k, k), alpha, aRow);
            if (!transB)
            {
                for (int p = 0; p < k; p++) TensorPrimitives.MultiplyAdd(b.Slice(p * n, n), aRow[p], row, row);
            }
            else
            {
                for (int j = 0; j < n; j++) row[j] += TensorPrimitives.Dot(aRow, b.Slice(j * k, k));
            }
        }
    }
}
