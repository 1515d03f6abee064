namespace Engine.Tests.Reference;

/// <summary>
/// Naive batched GEMM in double: C_b[i, j] = alpha * sum_p op(A_b)[i, p] * op(B_b)[p, j] + beta * C_b[i, j],
/// where op(A)[i, p] = A[p, i] when transposed (A then stored K x M) and op(B)[p, j] = B[j, p] (B stored N x K).
/// </summary>
public static class GemmReference
{
    public static double[] Gemm(GemmGeometry g, double alpha, double[] a, double[] b, double beta, double[] c)
    {
        var result = (double[])c.Clone();
        for (int batch = 0; batch < g.BatchCount; batch++)
        {
            long aBase = batch * g.StrideA, bBase = batch * g.StrideB, cBase = batch * g.StrideC;
            for (int i = 0; i < g.M; i++)
                for (int j = 0; j < g.N; j++)
                {
                    double sum = 0;
                    for (int p = 0; p < g.K; p++)
                    {
                        double av = g.TransA ? a[aBase + (long)p * g.M + i] : a[aBase + (long)i * g.K + p];
                        double bv = g.TransB ? b[bBase + (long)j * g.K + p] : b[bBase + (long)p * g.N + j];
                        sum += av * bv;
                    }
                    long at = cBase + (long)i * g.N + j;
                    result[at] = alpha * sum + (beta == 0 ? 0 : beta * c[at]);
                }
        }
        return result;
    }
}
