using System.Runtime.InteropServices;

namespace Engine.Cuda.Emulator;

/// <summary>
/// cuBLAS SGEMM on emulated memory, column-major, with cuBLAS's documented argument semantics:
/// C[i + j*ldc] = alpha * sum_p op(A)[i,p] * op(B)[p,j] + beta * C[i + j*ldc], op(A)[i,p] = A[i + p*lda]
/// (A[p + i*lda] when transposed); C is not read when beta = 0. Each dot product accumulates with single-rounding
/// FMAs in increasing p, as a GPU thread would; the region every matrix touches is bounds-checked first.
/// </summary>
internal static class EmulatedBlas
{
    public static void Sgemm(DeviceMemory memory, in SgemmArgs g)
    {
        g.Validate();
        if (g.M == 0 || g.N == 0) return;
        for (int batch = 0; batch < g.BatchCount; batch++)
        {
            var a = Matrix(memory, "A", g.A, batch * g.StrideA, g.TransA ? g.K : g.M, g.TransA ? g.M : g.K, g.Lda, g.K == 0);
            var b = Matrix(memory, "B", g.B, batch * g.StrideB, g.TransB ? g.N : g.K, g.TransB ? g.K : g.N, g.Ldb, g.K == 0);
            var c = Matrix(memory, "C", g.C, batch * g.StrideC, g.M, g.N, g.Ldc, false);
            for (int j = 0; j < g.N; j++)
                for (int i = 0; i < g.M; i++)
                {
                    float sum = 0f;
                    for (int p = 0; p < g.K; p++)
                    {
                        float x = g.TransA ? a[p + i * g.Lda] : a[i + p * g.Lda];
                        float y = g.TransB ? b[j + p * g.Ldb] : b[p + j * g.Ldb];
                        sum = MathF.FusedMultiplyAdd(x, y, sum);
                    }
                    ref float cij = ref c[i + j * g.Ldc];
                    cij = g.Beta == 0f ? g.Alpha * sum : MathF.FusedMultiplyAdd(g.Beta, cij, g.Alpha * sum);
                }
        }
    }

    /// <summary>The floats of a rows x cols column-major matrix with leading dimension ld, checked to lie in one allocation.</summary>
    private static Span<float> Matrix(DeviceMemory memory, string name, ulong address, long offsetElements, int rows, int cols, int ld, bool empty)
    {
        if (empty || rows == 0 || cols == 0) return [];
        long elements = (long)(cols - 1) * ld + rows;
        ulong start = address + (ulong)(offsetElements * sizeof(float));
        try
        {
            return MemoryMarshal.Cast<byte, float>(memory.Span(start, elements * sizeof(float)));
        }
        catch (PtxException e)
        {
            throw new CudaException("CUBLAS_STATUS_EXECUTION_FAILED", $"sgemm reads {name} ({rows} x {cols}, ld {ld}) beyond its allocation: {e.Message}");
        }
    }
}
