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
/// Loops: NC columns of C, KC steps of K, MC-block rows of C (one step per block). A step packs its B block
/// (kc x nc, when the block starts a new (NC, KC) pair) and its A block (kc x mc) into micro-panels and runs tiles of
/// C (TileM x TileN) through the micro-kernel, each A micro-panel staying in L1 while the tile's B panels stream
/// from L2. The packing of step s + 1 runs in the same parallel loop as the tiles of step s (two buffers each for A
/// and B), so there is one barrier per step and the packing fills the gaps between tiles. Every element of C is
/// summed in the same order whatever thread computes it, so results never depend on the thread count.
/// </summary>
internal static unsafe partial class GemmDriver
{
    /// <summary>
    /// KC: depth of a K block. MC: most rows per block of A (86 panels of 12, so M = 1024 is one block and the A
    /// block is read from L3 tile row by tile row, never needing L2 as a whole). NC: columns per B block.
    /// TileM x TileN: the tile of C per parallel chunk (a 384 x 512 B tile, 768 KB, stays in L2 while 8 A
    /// micro-panels sweep it).
    /// </summary>
    internal const int KcBlock = 384, McBlock = 1032, NcBlock = 1024, TileM = 96, TileN = 512;

    /// <summary>Micro-panels per packing chunk.</summary>
    private const int PackGroup = 8;

    /// <summary>Below this many multiply-adds per step the chunks run on the calling thread.</summary>
    private const long ParallelThreshold = 1 << 18;

    [ThreadStatic] private static AlignedScratch? t_packA;
    [ThreadStatic] private static AlignedScratch? t_packB;

    /// <summary>
    /// One block of the loop nest: rows [Ic, Ic + Mc), columns [Jc, Jc + Nc), depth [Pc, Pc + Kc), the packed A and
    /// B blocks it reads, and whether it packs its B block (the first row block of a new (NC, KC) pair does).
    /// </summary>
    private readonly struct Step(int jc, int nc, int pc, int kc, int ic, int mc, nint packA, nint packB, bool packsB)
    {
        public readonly int Jc = jc, Nc = nc, Pc = pc, Kc = kc, Ic = ic, Mc = mc;
        public readonly nint PackA = packA, PackB = packB;
        public readonly bool PacksB = packsB;
    }

    /// <summary>C (M x N) = or += L_A^T * L_B; see the class summary. <paramref name="pool"/> null runs serially.</summary>
    public static void Run<TA, TB>(TA a, TB b, GemmTarget c, int m, int n, int k, bool accumulate, WorkerPool? pool)
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
        int kcMax = Math.Min(KcBlock, k);
        // row blocks of (nearly) equal size, so no thin block at the end: M = 1100 gives 552 + 548, not 1032 + 68
        int mBlocks = CeilDiv(m, McBlock), mcMax = Math.Min(m, RoundUp(CeilDiv(m, mBlocks), mr));
        long bSize = (long)kcMax * RoundUp(Math.Min(NcBlock, n), nr), aSize = (long)kcMax * RoundUp(mcMax, mr);
        // two buffers each: step s computes from one while step s + 1 is packed into the other
        float* packB = Scratch(ref t_packB, 2 * bSize);
        // a prepacked A (cached weights) is read in place; the test folds away for every other operand type
        bool prepacked = typeof(TA) == typeof(PrepackedSource);
        float* packA = prepacked ? null : Scratch(ref t_packA, 2 * aSize);
        int kBlocks = CeilDiv(k, KcBlock), steps = CeilDiv(n, NcBlock) * kBlocks * mBlocks;
        var none = default(Step);
        var first = StepAt(0, n, k, m, kBlocks, mBlocks, mcMax, packA, packB, aSize, bSize, prepacked, a);
        Phase(a, b, c, m, n, accumulate, wide, mr, nr, none, first, pool);
        for (int s = 0; s < steps; s++)
        {
            var current = StepAt(s, n, k, m, kBlocks, mBlocks, mcMax, packA, packB, aSize, bSize, prepacked, a);
            var next = s + 1 < steps ? StepAt(s + 1, n, k, m, kBlocks, mBlocks, mcMax, packA, packB, aSize, bSize, prepacked, a) : none;
            Phase(a, b, c, m, n, accumulate, wide, mr, nr, current, next, pool);
        }
    }

    /// <summary>Step s of the loop nest (NC blocks outermost, then KC, then MC) with its buffers.</summary>
    private static Step StepAt<TA>(int s, int n, int k, int m, int kBlocks, int mBlocks, int mcMax, float* packA, float* packB,
        long aSize, long bSize, bool prepacked, TA a) where TA : struct, IPanelSource
    {
        int ib = s % mBlocks, pb = s / mBlocks % kBlocks, jb = s / mBlocks / kBlocks;
        int jc = jb * NcBlock, pc = pb * KcBlock, ic = ib * mcMax;
        int nc = Math.Min(NcBlock, n - jc), kc = Math.Min(KcBlock, k - pc), mc = Math.Min(mcMax, m - ic);
        // B buffers alternate per (NC, KC) pair, A buffers per step
        float* blockB = packB + (s / mBlocks % 2) * bSize;
        float* blockA = prepacked ? Unsafe.As<TA, PrepackedSource>(ref a).Block(pc, kc, ic) : packA + (s % 2) * aSize;
        return new Step(jc, nc, pc, kc, ic, mc, (nint)blockA, (nint)blockB, ib == 0);
    }

    /// <summary>
    /// One parallel loop: the tiles of <paramref name="current"/>, then the packing chunks of <paramref name="next"/>
    /// (B, then A), which the threads take up as they run out of tiles (either step may be empty: Kc = 0).
    /// </summary>
    private static void Phase<TA, TB>(TA a, TB b, GemmTarget c, int m, int n, bool accumulate, bool wide, int mr, int nr,
        Step current, Step next, WorkerPool? pool)
        where TA : struct, IPanelSource where TB : struct, IPanelSource
    {
        bool prepacked = typeof(TA) == typeof(PrepackedSource);
        int bChunks = next.Kc > 0 && next.PacksB ? CeilDiv(CeilDiv(next.Nc, nr), PackGroup) : 0;
        int aChunks = next.Kc > 0 && !prepacked ? CeilDiv(CeilDiv(next.Mc, mr), PackGroup) : 0;
        long work = Math.Max((long)current.Mc * current.Nc * current.Kc, (long)next.Mc * next.Nc * next.Kc);
        bool parallel = pool is not null && work >= ParallelThreshold;
        var (tileM, tileN) = current.Kc > 0 ? TileShape(current.Mc, current.Nc, mr, nr, parallel ? pool!.Threads : 1) : (1, 1);
        int nTiles = current.Kc > 0 ? CeilDiv(current.Nc, tileN) : 0, tiles = current.Kc > 0 ? CeilDiv(current.Mc, tileM) * nTiles : 0;
        bool add = accumulate || current.Pc > 0;
        Each(parallel ? pool : null, bChunks + aChunks + tiles, (a, b, c, current, next, bChunks, aChunks, wide, mr, nr, add, m, n, tileM, tileN, nTiles, tiles), static (s, chunk) =>
        {
            var (a, b, c, current, next, bChunks, aChunks, wide, mr, nr, add, m, n, tileM, tileN, nTiles, tiles) = s;
            if (chunk < tiles)
            {
                int ic = current.Ic, jc = current.Jc;
                Macro(wide, mr, nr, c, (float*)current.PackA, (float*)current.PackB, current.Kc, add, m, n,
                    ic, ic + chunk / nTiles * tileM, Math.Min(ic + current.Mc, ic + (chunk / nTiles + 1) * tileM),
                    jc, jc + chunk % nTiles * tileN, Math.Min(jc + current.Nc, jc + (chunk % nTiles + 1) * tileN));
                return;
            }
            chunk -= tiles;
            if (chunk < bChunks)
            {
                int p0 = chunk * PackGroup * nr;
                b.Pack((float*)next.PackB + (nint)p0 * next.Kc, next.Pc, next.Kc, next.Jc + p0, Math.Min(PackGroup * nr, next.Nc - p0), nr);
                return;
            }
            int q0 = (chunk - bChunks) * PackGroup * mr;
            a.Pack((float*)next.PackA + (nint)q0 * next.Kc, next.Pc, next.Kc, next.Ic + q0, Math.Min(PackGroup * mr, next.Mc - q0), mr);
        });
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
        // the A micro-panel (12 x kc, 18 KB) stays in L1 while B micro-panels stream from the L2-resident tile of B
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
    /// Tile of C per parallel chunk: TileM x TileN, halved (in whole micro-panels) until there are about four chunks per
    /// thread. Tiling never changes an element's arithmetic, only who computes it, so the bits stay the same.
    /// </summary>
    private static (int M, int N) TileShape(int mc, int nc, int mr, int nr, int threads)
    {
        int tileM = TileM, tileN = TileN, wanted = threads == 1 ? 1 : 4 * threads;
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

    private static float* Scratch(ref AlignedScratch? slot, long length)
    {
        if (slot is null || slot.Length < length) slot = new AlignedScratch(length);
        return slot.Pointer;
    }

    internal static int CeilDiv(int a, int b) => (a + b - 1) / b;
    private static int RoundUp(int a, int b) => CeilDiv(a, b) * b;
}

/// <summary>A pinned float array with a 64-byte aligned start (kept per thread, reused across calls).</summary>
internal sealed unsafe class AlignedScratch
{
    private const int AlignFloats = 16;
    private readonly float[] _array;

    public AlignedScratch(long length)
    {
        if (length + AlignFloats > Array.MaxLength)
            throw new ArgumentException($"GEMM scratch: expected at most {Array.MaxLength - AlignFloats} floats, got {length}");
        Length = length;
        _array = GC.AllocateUninitializedArray<float>((int)length + AlignFloats, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref _array[0]);
        Pointer = (float*)((start + 63) & ~(nint)63);
    }

    public long Length { get; }
    public float* Pointer { get; }
}
