using System.Runtime.CompilerServices;

namespace Engine.Cpu;

/// <summary>
/// Where C lives: element (i, j) at c + Seg(j) + i*ldc with Seg(j) = (j / segment) * segmentStride + j % segment,
/// so one GEMM can write a batch of images (N x K x P x Q output seen as K x (N*P*Q)).
/// </summary>
internal readonly unsafe struct GemmTarget(float* c, nint ldc, int segment = int.MaxValue, nint segmentStride = 0)
{
    public readonly nint Ldc = ldc;

    public float* At(int i, int j) =>
        c + (segment == int.MaxValue ? j : (nint)(j / segment) * segmentStride + j % segment) + (nint)i * Ldc;

    /// <summary>Whether columns [j, j + count) lie in one segment (so a tile can be written through one pointer).</summary>
    public bool Contiguous(int j, int count) => segment == int.MaxValue || j / segment == (j + count - 1) / segment;

    /// <summary>How many of columns [j, j + count) lie in the segment of column j.</summary>
    public int RunLength(int j, int count) => segment == int.MaxValue ? count : Math.Min(count, segment - j % segment);
}

/// <summary>
/// The blocked GEMM driver (the BLIS loop nest): C (M x N) (+)= L_A^T (M x K) * L_B (K x N).
/// Loops: NC columns of C, KC steps of K, MC-block rows of C; per step, phase 1 packs the B block (kc x nc) and the
/// A block (kc x mc) into micro-panels, phase 2 runs tiles of C (TileM x TileN) through the micro-kernel, each A
/// micro-panel staying in L1 while the tile's B panels stream from L2. Both phases run fixed chunks on the worker pool;
/// every element of C is summed in the same order whatever thread computes it, so results never depend on the
/// thread count. Scratch (the running thread's, part of each convolution's 8 MB per thread): the packed A block, at
/// most KC x MC floats (1.4 MB; 1.9 MB at the plain GEMM's KC of 512), and the packed B block, at most KC x NC
/// (1.5 MB; 2 MB).
/// </summary>
internal static unsafe partial class GemmDriver
{
    internal const int KcBlock = 384, McBlock = 960, NcBlock = 1024, TileM = 96, TileN = 512;

    /// <summary>
    /// The blocking of a deep plain GEMM (IBackend.Gemm and Linear layers, K of at least <see cref="DenseMinK"/>): K blocks of 512 (a 12 x 512 A micro-panel is
    /// 24 KB of L1) and tiles of 96 x 256 (the tile's B block, 512 KB, its C, 96 KB, and its eight A panels, 192 KB,
    /// inside one core's 1 MB L2): a third fewer passes over C than 384-deep blocks. Convolutions keep
    /// <see cref="KcBlock"/> and <see cref="TileN"/>: their cached packed weights and column chunks are laid out for them.
    /// </summary>
    internal const int DenseKcBlock = 512, DenseTileN = 256;

    /// <summary>Least K for <see cref="DenseKcBlock"/> (where a deep product passes over C three or more times).</summary>
    internal const int DenseMinK = 1024;

    /// <summary>Micro-panels per packing chunk.</summary>
    private const int PackGroup = 8;

    /// <summary>Below this many multiply-adds per step the chunks run on the calling thread.</summary>
    private const long ParallelThreshold = 1 << 18;

    [ThreadStatic] private static AlignedScratch? t_packA;
    [ThreadStatic] private static AlignedScratch? t_packB;

    /// <summary>C (M x N) = or += L_A^T * L_B; see the class summary. <paramref name="pool"/> null runs serially.</summary>
    public static void Run<TA, TB>(TA a, TB b, GemmTarget c, int m, int n, int k, bool accumulate, WorkerPool? pool,
        int kcBlock = KcBlock, int tileN = TileN)
        where TA : struct, IPanelSource where TB : struct, IPanelSource
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) ClearTarget(c, m, n);
            return;
        }
        bool wide = GemmKernels.Use512;
        int mr = wide ? GemmKernels.Mr512 : GemmKernels.Mr256, nr = wide ? GemmKernels.Nr512 : GemmKernels.Nr256;
        // a prepacked A is laid out in KcBlock-deep blocks
        if (typeof(TA) == typeof(PrepackedSource) && kcBlock != KcBlock)
            throw new ArgumentException($"GEMM: prepacked weights need {KcBlock}-deep K blocks, got {kcBlock}");
        int kcMax = Math.Min(kcBlock, k);
        float* packB = Scratch(ref t_packB, (long)kcMax * RoundUp(Math.Min(NcBlock, n), nr));
        // a prepacked A (cached weights) is read in place; the test folds away for every other operand type
        bool prepacked = typeof(TA) == typeof(PrepackedSource);
        float* packA = prepacked ? null : Scratch(ref t_packA, (long)kcMax * RoundUp(Math.Min(McBlock, m), mr));
        for (int jc = 0; jc < n; jc += NcBlock)
        {
            int nc = Math.Min(NcBlock, n - jc), bPanels = CeilDiv(nc, nr);
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                bool add = accumulate || pc > 0;
                for (int ic = 0; ic < m; ic += McBlock)
                {
                    int mc = Math.Min(McBlock, m - ic), aPanels = CeilDiv(mc, mr);
                    int bChunks = ic == 0 ? CeilDiv(bPanels, PackGroup) : 0, aChunks = prepacked ? 0 : CeilDiv(aPanels, PackGroup);
                    float* blockA = prepacked ? Unsafe.As<TA, PrepackedSource>(ref a).Block(pc, kc, ic) : packA;
                    bool parallel = pool is not null && (long)mc * nc * kc >= ParallelThreshold;
                    int jc0 = jc, pc0 = pc, ic0 = ic;
                    Each(parallel ? pool : null, bChunks + aChunks, (a, b, (nint)packA, (nint)packB, bChunks, nr, mr, kc, pc0, jc0, ic0, nc, mc), static (s, chunk) =>
                    {
                        var (a, b, packAAt, packBAt, bChunks, nr, mr, kc, pc0, jc0, ic0, nc, mc) = s;
                        float* packA = (float*)packAAt, packB = (float*)packBAt;
                        if (chunk < bChunks)
                        {
                            int p0 = chunk * PackGroup * nr;
                            b.Pack(packB + (nint)p0 * kc, pc0, kc, jc0 + p0, Math.Min(PackGroup * nr, nc - p0), nr);
                        }
                        else
                        {
                            int p0 = (chunk - bChunks) * PackGroup * mr;
                            a.Pack(packA + (nint)p0 * kc, pc0, kc, ic0 + p0, Math.Min(PackGroup * mr, mc - p0), mr);
                        }
                    });
                    var (tileM, tileCols) = TileShape(mc, nc, mr, nr, tileN, parallel ? pool!.Threads : 1);
                    int mTiles = CeilDiv(mc, tileM), nTiles = CeilDiv(nc, tileCols);
                    Each(parallel ? pool : null, mTiles * nTiles, (wide, mr, nr, c, (nint)blockA, (nint)packB, kc, add, m, n, ic0, jc0, mc, nc, tileM, tileCols, nTiles), static (s, tile) =>
                    {
                        var (wide, mr, nr, c, blockA, packB, kc, add, m, n, ic0, jc0, mc, nc, tileM, tileCols, nTiles) = s;
                        Macro(wide, mr, nr, c, (float*)blockA, (float*)packB, kc, add, m, n,
                            ic0, ic0 + tile / nTiles * tileM, Math.Min(ic0 + mc, ic0 + (tile / nTiles + 1) * tileM),
                            jc0, jc0 + tile % nTiles * tileCols, Math.Min(jc0 + nc, jc0 + (tile % nTiles + 1) * tileCols));
                    });
                }
            }
        }
    }

    /// <summary>
    /// Tile rows [i0, i1) x columns [j0, j1) of C from the packed blocks that start at row ic and column jc.
    /// Tiles go straight to C (an M edge stores fewer rows); tiles past N or across a segment go through a local
    /// tile, so the kernel always runs at full size and the arithmetic is the same as for a full tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Macro(bool wide, int mr, int nr, GemmTarget c, float* packA, float* packB, int kc, bool add,
        int m, int n, int ic, int i0, int i1, int jc, int j0, int j1)
    {
        float* local = stackalloc float[GemmKernels.Mr512 * GemmKernels.Nr512];
        // the A micro-panel (12 x kc, 18-24 KB) stays in L1 while B micro-panels stream from the L2-resident tile of B
        for (int i = i0; i < i1; i += mr)
            for (int j = j0; j < j1; j += nr)
                Tile(wide, mr, nr, c, packA, packB, kc, add, m, n, ic, jc, i, j, local);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile(bool wide, int mr, int nr, GemmTarget c, float* packA, float* packB, int kc, bool add,
        int m, int n, int ic, int jc, int i, int j, float* local)
    {
        float* bPanel = packB + (nint)(j - jc) * kc;
        int cols = Math.Min(nr, n - j);
        float* aPanel = packA + (nint)(i - ic) * kc;
        int rows = Math.Min(mr, m - i);
        if (cols == nr && c.Contiguous(j, nr))
        {
            if (wide) GemmKernels.Kernel512(kc, aPanel, bPanel, c.At(i, j), c.Ldc, add, rows);
            else GemmKernels.Kernel256(kc, aPanel, bPanel, c.At(i, j), c.Ldc, add, rows);
            return;
        }
        if (wide) GemmKernels.Kernel512(kc, aPanel, bPanel, local, nr, false, rows);
        else GemmKernels.Kernel256(kc, aPanel, bPanel, local, nr, false, rows);
        StoreColumns(c, i, j, rows, cols, local, nr, add);
    }

    /// <summary>C[i + ii, j + jj] = or += tile[ii, jj] for the first rows x cols of a local tile, run by run of one segment.</summary>
    private static void StoreColumns(GemmTarget c, int i, int j, int rows, int cols, float* tile, int nr, bool add)
    {
        for (int jj = 0; jj < cols;)
        {
            int len = 1;
            while (jj + len < cols && c.Contiguous(j + jj, len + 1)) len++;
            float* start = c.At(i, j + jj);
            for (int ii = 0; ii < rows; ii++)
            {
                float* dst = start + ii * c.Ldc, src = tile + ii * nr + jj;
                if (add) for (int t = 0; t < len; t++) dst[t] += src[t];
                else PanelCopy.Copy(dst, src, len);
            }
            jj += len;
        }
    }

    /// <summary>
    /// Tile of C per parallel chunk: TileM x <paramref name="width"/>, halved (in whole micro-panels) until there are
    /// about four chunks per thread. Tiling never changes an element's arithmetic, only who computes it, so the bits
    /// stay the same.
    /// </summary>
    private static (int M, int N) TileShape(int mc, int nc, int mr, int nr, int width, int threads)
    {
        int tileM = TileM, tileN = width, wanted = threads == 1 ? 1 : 4 * threads;
        while (CeilDiv(mc, tileM) * CeilDiv(nc, tileN) < wanted && tileN >= 4 * nr) tileN = RoundUp(tileN / 2, nr);
        while (CeilDiv(mc, tileM) * CeilDiv(nc, tileN) < wanted && tileM >= 4 * mr) tileM = RoundUp(tileM / 2, mr);
        return (tileM, tileN);
    }

    private static void ClearTarget(GemmTarget c, int m, int n)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) *c.At(i, j) = 0f;
    }

    /// <summary>Runs body(state, 0..count-1) on the pool, or in order on this thread when the pool is null.</summary>
    internal static void Each<TState>(WorkerPool? pool, int count, TState state, Action<TState, int> body)
    {
        if (pool is null)
        {
            for (int i = 0; i < count; i++) body(state, i);
            return;
        }
        pool.For(count, state, body);
    }

    private static float* Scratch(ref AlignedScratch? slot, long length) => AlignedScratch.AtLeast(ref slot, length);

    internal static int CeilDiv(int a, int b) => (a + b - 1) / b;
    private static int RoundUp(int a, int b) => CeilDiv(a, b) * b;
}
