using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

/// <summary>
/// The GEMM in one share per thread, for cached weights and few columns (a convolution on small maps, e.g. ResNet-18's
/// 7 x 7 layer at batch 8: C 512 x 392 = W 512 x 4608 * columns 4608 x 392): C (M x N) = rowBias + L_A^T * L_B,
/// A prepacked. B's columns are F full panels (nr wide) and at most one last panel (a tail, 16 wide with 512-bit kernels
/// when at most 16 columns are left); share s of T takes full panels [s*F/T, (s+1)*F/T) on every row and the tail on
/// row panels [s*P/T, (s+1)*P/T), so with F a multiple of T the shares are equal. A share runs every K block by itself:
/// it packs its panels into its own L2 and runs them against the whole of A into a contiguous stage (every tile stored
/// straight by the kernel, even where C's images are not a whole number of tiles), then copies its part of the stage out
/// to C. One parallel loop in all: no barrier between K blocks (the blocked driver has two per block), A read once per
/// share. Each element of C gets exactly the arithmetic of <see cref="Run{TA,TB}"/>: per 384-deep K block a sum from
/// zero in k order, stored (first block, no bias) or added onto C (bias written first), so the bits are the same.
/// </summary>
internal static unsafe partial class GemmDriver
{
    /// <summary>Most columns of a share's panels (a 384-deep block of them, 384 KB, stays in L2).</summary>
    private const int SharesMaxColumns = 256;

    /// <summary>Most floats of a share's stage (2 MB).</summary>
    private const long SharesMaxStage = 1 << 19;

    /// <summary>Widest tail run by the narrow 512-bit kernel.</summary>
    private const int NarrowPanel = 16;

    [ThreadStatic] private static AlignedScratch? t_shareB;
    [ThreadStatic] private static AlignedScratch? t_shareStage;

    /// <summary>Set by tests to keep every GEMM off <see cref="RunShares{TB}"/> (the bits must not change).</summary>
    internal static bool SharesDisabled { get; set; }

    /// <summary>Whether <see cref="RunShares{TB}"/> suits C (M x N) = L_A^T * L_B with A prepacked, on this many threads.</summary>
    internal static bool UseShares(int m, int n, int k, int threads, bool prepacked)
    {
        if (SharesDisabled || !prepacked || threads < 2 || m == 0 || n == 0 || k == 0) return false;
        var (full, tail, tailPanel) = SharePanels(n);
        int nr = GemmKernels.Use512 ? GemmKernels.Nr512 : GemmKernels.Nr256, mr = GemmKernels.Use512 ? GemmKernels.Mr512 : GemmKernels.Mr256;
        int columns = CeilDiv(full, threads) * nr + (tail > 0 ? tailPanel : 0);
        return full >= threads && full % threads == 0 && columns <= SharesMaxColumns
            && (long)RoundUp(m, mr) * columns <= SharesMaxStage;
    }

    /// <summary>Full panels of B, the columns left after them (0 to nr - 1), and the width of the tail's panel.</summary>
    private static (int Full, int Tail, int TailPanel) SharePanels(int n)
    {
        int nr = GemmKernels.Use512 ? GemmKernels.Nr512 : GemmKernels.Nr256, tail = n % nr;
        return (n / nr, tail, GemmKernels.Use512 && tail <= NarrowPanel ? NarrowPanel : nr);
    }

    /// <summary>
    /// C (M x N) = L_A^T * L_B, plus rowBias[i] on every column of row i when <paramref name="rowBias"/> is not null
    /// (in the stage before the first K block: the bits of filling C first and accumulating). See the class summary.
    /// </summary>
    public static void RunShares<TB>(PrepackedSource a, TB b, GemmTarget c, int m, int n, int k, float* rowBias, WorkerPool pool)
        where TB : struct, IPanelSource
    {
        if (m == 0 || n == 0) return;
        pool.For(pool.Threads, (a, b, c, (nint)rowBias, m, n, k, pool.Threads), static (s, share) =>
        {
            var (a, b, c, rowBiasAt, m, n, k, shares) = s;
            Share(a, b, c, (float*)rowBiasAt, m, n, k, share, shares);
        });
    }

    /// <summary>
    /// Share s of T: per K block, pack its full panels and the tail into one block (kc x columns), then run each row panel
    /// against them (its A panel stays in L1 while the block streams from L2) into the stage (M_padded x columns).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Share<TB>(PrepackedSource a, TB b, GemmTarget c, float* rowBias, int m, int n, int k, int share, int shares)
        where TB : struct, IPanelSource
    {
        bool wide = GemmKernels.Use512;
        int mr = wide ? GemmKernels.Mr512 : GemmKernels.Mr256, nr = wide ? GemmKernels.Nr512 : GemmKernels.Nr256;
        var (full, tail, tailPanel) = SharePanels(n);
        int rowPanels = CeilDiv(m, mr);
        // full panels [t0, t1) (columns [j0, j0 + width)) on every row; the tail (columns [jt, n)) on rows [it0, it1)
        int t0 = share * full / shares, t1 = (share + 1) * full / shares, j0 = t0 * nr, width = (t1 - t0) * nr, jt = full * nr;
        int it0 = tail > 0 ? share * rowPanels / shares * mr : 0, it1 = tail > 0 ? Math.Min(m, (share + 1) * rowPanels / shares * mr) : 0;
        int columns = width + (tail > 0 ? tailPanel : 0);
        float* packB = Scratch(ref t_shareB, (long)Math.Min(KcBlock, k) * columns);
        float* stage = Scratch(ref t_shareStage, (long)RoundUp(m, mr) * columns);
        if (rowBias is not null)
            for (int i = 0; i < m; i++) new Span<float>(stage + (nint)i * columns, columns).Fill(rowBias[i]);
        for (int pc = 0; pc < k; pc += KcBlock)
        {
            int kc = Math.Min(KcBlock, k - pc);
            bool add = rowBias is not null || pc > 0;
            if (width > 0) b.Pack(packB, pc, kc, j0, width, nr);
            float* tailB = packB + (nint)width * kc;
            if (tail > 0) b.Pack(tailB, pc, kc, jt, tail, tailPanel);
            for (int i = 0; i < m; i += mr)
            {
                float* aPanel = a.Block(pc, kc, i), row = stage + (nint)i * columns;
                int rows = Math.Min(mr, m - i);
                for (int t = 0; t < width; t += nr)
                {
                    if (wide) GemmKernels.Kernel512(kc, aPanel, packB + (nint)t * kc, row + t, columns, add, rows);
                    else GemmKernels.Kernel256(kc, aPanel, packB + (nint)t * kc, row + t, columns, add, rows);
                }
                if (i < it0 || i >= it1) continue;
                if (tailPanel == NarrowPanel && wide) Kernel512Narrow(kc, aPanel, tailB, row + width, columns, add, rows);
                else if (wide) GemmKernels.Kernel512(kc, aPanel, tailB, row + width, columns, add, rows);
                else GemmKernels.Kernel256(kc, aPanel, tailB, row + width, columns, add, rows);
            }
        }
        for (int i = 0; i < m; i++)
        {
            float* row = stage + (nint)i * columns;
            CopyOut(c, i, j0, width, row);
            if (i >= it0 && i < it1) CopyOut(c, i, jt, tail, row + width);
        }
    }

    /// <summary>C[i, j0 + jj] = row[jj] for jj &lt; count, run by run of one segment.</summary>
    private static void CopyOut(GemmTarget c, int i, int j0, int count, float* row)
    {
        for (int jj = 0; jj < count;)
        {
            int len = c.RunLength(j0 + jj, count - jj);
            PanelCopy.Copy(c.At(i, j0 + jj), row + jj, len);
            jj += len;
        }
    }

    /// <summary>
    /// C (12 x 16, row stride ldc) = or += A panel (kc x 12) * B panel (kc x 16): <see cref="GemmKernels.Kernel512"/>'s
    /// arithmetic on one column vector (each element's sum from zero in k order, then stored or added onto C).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel512Narrow(int kc, float* a, float* b, float* c, nint ldc, bool accumulate, int rows)
    {
        Wide512Meter.Enter();
        Vector512<float> c0 = Vector512<float>.Zero, c1 = Vector512<float>.Zero, c2 = Vector512<float>.Zero, c3 = Vector512<float>.Zero, c4 = Vector512<float>.Zero, c5 = Vector512<float>.Zero, c6 = Vector512<float>.Zero, c7 = Vector512<float>.Zero, c8 = Vector512<float>.Zero, c9 = Vector512<float>.Zero, c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0); c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2); c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4); c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6); c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
            c8 = Vector512.FusedMultiplyAdd(Vector512.Create(a[8]), b0, c8); c9 = Vector512.FusedMultiplyAdd(Vector512.Create(a[9]), b0, c9);
            c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a[10]), b0, c10); c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a[11]), b0, c11);
            a += 12;
            b += 16;
        }
        Put(c0, c, 0, ldc, accumulate, rows); Put(c1, c, 1, ldc, accumulate, rows); Put(c2, c, 2, ldc, accumulate, rows);
        Put(c3, c, 3, ldc, accumulate, rows); Put(c4, c, 4, ldc, accumulate, rows); Put(c5, c, 5, ldc, accumulate, rows);
        Put(c6, c, 6, ldc, accumulate, rows); Put(c7, c, 7, ldc, accumulate, rows); Put(c8, c, 8, ldc, accumulate, rows);
        Put(c9, c, 9, ldc, accumulate, rows); Put(c10, c, 10, ldc, accumulate, rows); Put(c11, c, 11, ldc, accumulate, rows);
    }

    /// <summary>Row i of a tile: C[i, :16] = sum or C[i, :16] + sum, if i &lt; rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(Vector512<float> sum, float* c, int i, nint ldc, bool accumulate, int rows)
    {
        if (i >= rows) return;
        float* at = c + i * ldc;
        (accumulate ? sum + Vector512.Load(at) : sum).Store(at);
    }
}
