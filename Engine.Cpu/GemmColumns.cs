using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

/// <summary>
/// The column-split GEMM for a short, wide C (few rows, many columns: a convolution's output channels by the pixels of
/// the batch). A is packed once (or read prepacked) for every K block; the columns of C are cut into chunks, and one
/// parallel loop hands out whole chunks: a chunk packs its own B panels (K block after K block) and runs every tile of
/// its columns, so no thread ever waits for another between packing and computing, and the packed B block never
/// leaves the L2 of the core that packed it. Each element of C gets exactly the arithmetic of
/// <see cref="Run{TA,TB}"/> (zero-started sums per 384-deep K block, added in K order), so the bits are the same.
/// </summary>
internal static unsafe partial class GemmDriver
{
    /// <summary>Most rows of C for the column split (A, all K blocks, is read by every chunk).</summary>
    internal const int ColumnsMaxM = 256;

    /// <summary>Most columns per chunk, about (a 384 x 512 B block is 768 KB, inside one core's 1 MB L2).</summary>
    private const int ColumnChunkMax = 512;

    /// <summary>Chunks wanted per thread (even shares when chunks take unequal times).</summary>
    private const int ColumnChunksPerThread = 4;

    /// <summary>Most floats of A packed up front per call when A is not prepacked (4 MB).</summary>
    private const long ColumnsMaxPackedA = 1 << 20;

    [ThreadStatic] private static AlignedScratch? t_packAll;

    /// <summary>Set by tests to keep every GEMM on <see cref="Run{TA,TB}"/> (the bits must not change).</summary>
    internal static bool ColumnsDisabled { get; set; }

    /// <summary>Whether <see cref="RunColumns{TA,TB}"/> suits C (M x N) = L_A^T * L_B (K deep) on this many threads.</summary>
    internal static bool UseColumns(int m, int n, int k, int threads, bool prepacked)
    {
        if (ColumnsDisabled || m == 0 || n == 0 || k == 0) return false;
        int mr = GemmKernels.Use512 ? GemmKernels.Mr512 : GemmKernels.Mr256, nr = GemmKernels.Use512 ? GemmKernels.Nr512 : GemmKernels.Nr256;
        if (!prepacked && (m > ColumnsMaxM || (long)k * RoundUp(m, mr) > ColumnsMaxPackedA)) return false;
        // enough columns for a few chunks of at least two panels per thread
        if (n >= ColumnChunksPerThread * threads * 2 * nr) return m <= ColumnsMaxM;
        // few columns (one image of a small map) and cached weights: one panel per chunk, every thread the same number
        // of panels, and no barrier between K blocks (the blocked driver would pack each block's B on one thread);
        // an uneven share (7 panels of a 14 x 14 map on 2 threads) measured slower than the blocked driver
        int panels = CeilDiv(n, nr);
        return prepacked && threads > 1 && panels % threads == 0;
    }

    /// <summary>
    /// C (M x N) = L_A^T * L_B, plus C's old value when <paramref name="accumulate"/>, or plus rowBias[i] on every
    /// column of row i when <paramref name="rowBias"/> is not null (written into C just before the first K block, as
    /// if C had held it: the same bits as filling C first and accumulating). See the class summary.
    /// </summary>
    public static void RunColumns<TA, TB>(TA a, TB b, GemmTarget c, int m, int n, int k, float* rowBias, bool accumulate, WorkerPool? pool)
        where TA : struct, IPanelSource where TB : struct, IPanelSource
    {
        if (m == 0 || n == 0) return;
        bool wide = GemmKernels.Use512;
        int mr = wide ? GemmKernels.Mr512 : GemmKernels.Mr256, nr = wide ? GemmKernels.Nr512 : GemmKernels.Nr256;
        int threads = pool?.Threads ?? 1;
        PrepackedSource packed;
        if (typeof(TA) == typeof(PrepackedSource)) packed = Unsafe.As<TA, PrepackedSource>(ref a);
        else
        {
            // every K block of A (K x M_padded), laid out as PackedWeights keeps cached weights
            int mPadded = RoundUp(m, mr), aChunks = CeilDiv(CeilDiv(m, mr), PackGroup), kBlocks = CeilDiv(k, KcBlock);
            float* all = Scratch(ref t_packAll, (long)k * mPadded);
            Each(pool, kBlocks * aChunks, (a, (nint)all, aChunks, mPadded, mr, m, k), static (s, chunk) =>
            {
                var (a, allAt, aChunks, mPadded, mr, m, k) = s;
                int k0 = chunk / aChunks * KcBlock, kc = Math.Min(KcBlock, k - k0), p0 = chunk % aChunks * PackGroup * mr;
                a.Pack((float*)allAt + (nint)k0 * mPadded + (nint)p0 * kc, k0, kc, p0, Math.Min(PackGroup * mr, m - p0), mr);
            });
            packed = new PrepackedSource(all, mPadded);
        }
        // a multiple of the thread count of chunks, each a near-equal run of whole panels: equal shares per thread
        // (7 chunks of 7 panels on 2 threads would run 4 against 3)
        int panels = CeilDiv(n, nr);
        int chunks = Math.Min(panels, RoundUp(Math.Max(ColumnChunksPerThread * threads, CeilDiv(n, ColumnChunkMax)), threads));
        Each(pool, chunks, (packed, b, c, (nint)rowBias, wide, mr, nr, m, n, k, panels, chunks, accumulate), static (s, chunk) =>
        {
            var (packed, b, c, rowBiasAt, wide, mr, nr, m, n, k, panels, chunks, accumulate) = s;
            int j0 = chunk * panels / chunks * nr, j1 = Math.Min(n, (chunk + 1) * panels / chunks * nr);
            Chunk(packed, b, c, (float*)rowBiasAt, wide, mr, nr, m, n, k, j0, j1 - j0, accumulate);
        });
    }

    /// <summary>
    /// Columns [j0, j0 + nw) of C: per K block, pack their B panels, then every tile (A panel row by A panel row). A
    /// single K block read from rows of a dense matrix (x of a 1x1 convolution: 256 rows 12.5 KB apart, from DRAM) runs
    /// in groups of <see cref="PrefetchedPanels"/> panels instead, each group's tiles prefetching the next group's source
    /// lines into L2 a slice of rows per tile, so its packing reads L2 rather than DRAM (ResNet-50's 1x1 layer: 6.3-6.4
    /// -> 5.6-5.8 ms at two threads). Every tile's arithmetic is the same either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<TB>(PrepackedSource a, TB b, GemmTarget c, float* rowBias, bool wide, int mr, int nr,
        int m, int n, int k, int j0, int nw, bool accumulate) where TB : struct, IPanelSource
    {
        float* packB = Scratch(ref t_packB, (long)Math.Min(KcBlock, k) * RoundUp(nw, nr));
        float* local = stackalloc float[GemmKernels.Mr512 * GemmKernels.Nr512];
        if (k <= KcBlock && typeof(TB) == typeof(DenseSource) && Unsafe.As<TB, DenseSource>(ref b).RowsContiguous)
        {
            int groupColumns = PrefetchedPanels * nr, rowPanels = CeilDiv(m, mr);
            for (int g0 = 0; g0 < nw; g0 += groupColumns)
            {
                int width = Math.Min(groupColumns, nw - g0), next = Math.Min(groupColumns, nw - g0 - width);
                b.Pack(packB + (nint)g0 * k, 0, k, j0 + g0, width, nr);
                int tiles = rowPanels * CeilDiv(width, nr), tile = 0;
                for (int i = 0; i < m; i += mr)
                    for (int j = j0 + g0; j < j0 + g0 + width; j += nr, tile++)
                    {
                        if (next > 0)
                            Unsafe.As<TB, DenseSource>(ref b).Prefetch(tile * k / tiles, (tile + 1) * k / tiles - tile * k / tiles, j0 + g0 + width, next);
                        ChunkTile(a.Block(0, k, 0), packB, c, rowBias, wide, mr, nr, m, n, k, j0, i, j, first: true, accumulate, local);
                    }
            }
            return;
        }
        for (int pc = 0; pc < k; pc += KcBlock)
        {
            int kc = Math.Min(KcBlock, k - pc);
            b.Pack(packB, pc, kc, j0, nw, nr);
            float* blockA = a.Block(pc, kc, 0);
            for (int i = 0; i < m; i += mr)
                for (int j = j0; j < j0 + nw; j += nr)
                    ChunkTile(blockA, packB, c, rowBias, wide, mr, nr, m, n, kc, j0, i, j, first: pc == 0, accumulate, local);
        }
    }

    /// <summary>Panels per group of a prefetched chunk (64 columns: a 256-row group's source is 64 KB).</summary>
    private const int PrefetchedPanels = 2;

    /// <summary>
    /// Tile (i, j) of one K block: stored, or added onto C (a later block, or accumulating); the first block of a biased
    /// product adds the bias as it stores (a full tile: the bits of C + sum with C holding the bias), else fills C with it first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ChunkTile(float* blockA, float* packB, GemmTarget c, float* rowBias, bool wide, int mr, int nr,
        int m, int n, int kc, int j0, int i, int j, bool first, bool accumulate, float* local)
    {
        bool add = accumulate || !first || rowBias is not null;
        int rows = Math.Min(mr, m - i);
        if (!first || rowBias is null) Tile(wide, mr, nr, c, blockA, packB, kc, add, m, n, 0, j0, i, j, local);
        else if (Math.Min(nr, n - j) == nr && c.Contiguous(j, nr))
        {
            // the sum in a local tile, then C = sum + bias in one pass (without filling C first and reading it back)
            float* aPanel = blockA + (nint)i * kc, bPanel = packB + (nint)(j - j0) * kc;
            if (wide) GemmKernels.Kernel512(kc, aPanel, bPanel, local, nr, false, rows);
            else GemmKernels.Kernel256(kc, aPanel, bPanel, local, nr, false, rows);
            StoreWithBias(c, rowBias, i, rows, j, local, nr);
        }
        else
        {
            FillRows(c, rowBias, i, rows, j, Math.Min(nr, n - j));
            Tile(wide, mr, nr, c, blockA, packB, kc, add, m, n, 0, j0, i, j, local);
        }
    }

    /// <summary>C[i + ii, j + jj] = tile[ii, jj] + rowBias[i + ii] for ii &lt; rows, jj &lt; nr (one segment).</summary>
    private static void StoreWithBias(GemmTarget c, float* rowBias, int i, int rows, int j, float* tile, int nr)
    {
        for (int ii = 0; ii < rows; ii++)
        {
            float* dst = c.At(i + ii, j), src = tile + ii * nr;
            var bias = Vector256.Create(rowBias[i + ii]);
            for (int jj = 0; jj < nr; jj += 8)
                (Vector256.Load(src + jj) + bias).Store(dst + jj);
        }
    }

    /// <summary>C[i, j] = rowBias[i] for rows [i0, i0 + rows) and columns [j0, j0 + count), run by run of one segment.</summary>
    private static void FillRows(GemmTarget c, float* rowBias, int i0, int rows, int j0, int count)
    {
        for (int jj = 0; jj < count;)
        {
            int len = c.RunLength(j0 + jj, count - jj);
            for (int i = i0; i < i0 + rows; i++) new Span<float>(c.At(i, j0 + jj), len).Fill(rowBias[i]);
            jj += len;
        }
    }
}
