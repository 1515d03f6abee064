namespace Engine.Cpu;

/// <summary>
/// The row-split GEMM for a tall, narrow C (many rows, few columns: a deep convolution at batch 1, several K blocks
/// deep). B is packed once, every K block, into one shared buffer (one parallel loop); then one parallel loop hands
/// out chunks of rows, and a chunk runs every K block for its rows (A read prepacked, or packed by the chunk itself).
/// <see cref="Run{TA,TB}"/> waits twice per K block (after packing, after computing); this waits twice in all. Each
/// element of C gets exactly the arithmetic of <see cref="Run{TA,TB}"/>, so the bits are the same.
/// </summary>
internal static unsafe partial class GemmDriver
{
    /// <summary>Most floats of B packed up front (4 MB: every K block of a 7x7 or 14x14 layer at batch 1).</summary>
    private const long RowsMaxPackedB = 1 << 20;

    /// <summary>Row chunks wanted per thread.</summary>
    private const int RowChunksPerThread = 4;

    [ThreadStatic] private static AlignedScratch? t_packAllB;

    /// <summary>Whether <see cref="RunRows{TA,TB}"/> suits C (M x N) = L_A^T * L_B (K deep) on this many threads.</summary>
    internal static bool UseRows(int m, int n, int k, int threads)
    {
        if (SplitDisabled || threads == 1 || m == 0 || n == 0 || k <= KcBlock) return false;
        int mr = GemmKernels.Use512 ? GemmKernels.Mr512 : GemmKernels.Mr256, nr = GemmKernels.Use512 ? GemmKernels.Nr512 : GemmKernels.Nr256;
        return (long)k * RoundUp(n, nr) <= RowsMaxPackedB && CeilDiv(m, mr) >= 2 * threads;
    }

    /// <summary>C (M x N) = or += L_A^T * L_B; see the class summary.</summary>
    public static void RunRows<TA, TB>(TA a, TB b, GemmTarget c, int m, int n, int k, bool accumulate, WorkerPool? pool)
        where TA : struct, IPanelSource where TB : struct, IPanelSource
    {
        if (m == 0 || n == 0) return;
        bool wide = GemmKernels.Use512;
        int mr = wide ? GemmKernels.Mr512 : GemmKernels.Mr256, nr = wide ? GemmKernels.Nr512 : GemmKernels.Nr256;
        int threads = pool?.Threads ?? 1;
        // every K block of B (K x N_padded): block k0 at k0 * N_padded, its panels kc x nr one after another
        int nPadded = RoundUp(n, nr), bChunks = CeilDiv(CeilDiv(n, nr), PackGroup), kBlocks = CeilDiv(k, KcBlock);
        float* allB = Scratch(ref t_packAllB, (long)k * nPadded);
        Each(pool, kBlocks * bChunks, (b, (nint)allB, bChunks, nPadded, nr, n, k), static (s, chunk) =>
        {
            var (b, allAt, bChunks, nPadded, nr, n, k) = s;
            int k0 = chunk / bChunks * KcBlock, kc = Math.Min(KcBlock, k - k0), p0 = chunk % bChunks * PackGroup * nr;
            b.Pack((float*)allAt + (nint)k0 * nPadded + (nint)p0 * kc, k0, kc, p0, Math.Min(PackGroup * nr, n - p0), nr);
        });
        int rows = RoundUp(CeilDiv(m, RowChunksPerThread * threads), mr);
        Each(pool, CeilDiv(m, rows), (a, c, (nint)allB, nPadded, wide, mr, nr, m, n, k, rows, accumulate), static (s, chunk) =>
        {
            var (a, c, allB, nPadded, wide, mr, nr, m, n, k, rows, accumulate) = s;
            RowChunk(a, c, (float*)allB, nPadded, wide, mr, nr, m, n, k, chunk * rows, Math.Min(m, (chunk + 1) * rows), accumulate);
        });
    }

    /// <summary>Rows [i0, i1) of C: per K block, their A panels (prepacked or packed here), then every tile of the rows.</summary>
    private static void RowChunk<TA>(TA a, GemmTarget c, float* allB, int nPadded, bool wide, int mr, int nr,
        int m, int n, int k, int i0, int i1, bool accumulate) where TA : struct, IPanelSource
    {
        bool prepacked = typeof(TA) == typeof(PrepackedSource);
        float* packA = prepacked ? null : Scratch(ref t_packA, (long)Math.Min(KcBlock, k) * RoundUp(i1 - i0, mr));
        float* local = stackalloc float[GemmKernels.Mr512 * GemmKernels.Nr512];
        for (int pc = 0; pc < k; pc += KcBlock)
        {
            int kc = Math.Min(KcBlock, k - pc);
            float* blockA = packA;
            if (prepacked) blockA = System.Runtime.CompilerServices.Unsafe.As<TA, PrepackedSource>(ref a).Block(pc, kc, i0);
            else a.Pack(packA, pc, kc, i0, i1 - i0, mr);
            float* blockB = allB + (nint)pc * nPadded;
            bool add = accumulate || pc > 0;
            for (int i = i0; i < i1; i += mr)
                for (int j = 0; j < n; j += nr)
                    Tile(wide, mr, nr, c, blockA, blockB, kc, add, m, n, i0, 0, i, j, local);
        }
    }
}
