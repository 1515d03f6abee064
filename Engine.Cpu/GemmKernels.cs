using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

/// <summary>
/// Register-tiled GEMM micro-kernels: C tile (MR x NR) (+)= A panel (kc x MR) * B panel (kc x NR), where a packed
/// A panel holds MR values per k (one per row of C) and a packed B panel NR values per k (one per column).
/// Every accumulator is a separate local so the JIT keeps all of them in registers; each k step loads NR/lanes
/// vectors of B and broadcasts MR values of A, one fused multiply-add per (row, vector).
/// Only the first <c>rows</c> rows of C are written (an M edge needs no detour).
/// The sum over k always starts from zero and runs in k order; C is combined after it (store or C + sum), so an
/// element's bits depend only on its row, column and the K blocking, never on the tile or thread that computed it.
/// </summary>
internal static unsafe class GemmKernels
{
    /// <summary>Set by tests to run the 256-bit paths even where 512-bit vectors are accelerated (an AVX2-only CPU, end to end).</summary>
    internal static bool ForceVector256 { get; set; }

    /// <summary>
    /// Whether the 512-bit paths run: the one switch of the whole CPU backend (GEMM kernels, the direct convolutions,
    /// the AVX-512 copies, transposes and packings, pooling, batch norm, optimizer updates); where it is false each
    /// takes its 256-bit, scalar or implicit-GEMM alternative. <see cref="Vector512.IsHardwareAccelerated"/> is false
    /// on this CPU class by default (the runtime prefers 256-bit vectors where it fears down-clocking), yet Vector512
    /// operations still compile to AVX-512 instructions when the ISA is present, and measure twice as fast here.
    /// </summary>
    internal static bool Use512 => (Vector512.IsHardwareAccelerated || Avx512F.IsSupported) && !ForceVector256;

    /// <summary>Tile of the 512-bit kernel: 12 rows x 32 columns = 24 zmm accumulators.</summary>
    internal const int Mr512 = 12, Nr512 = 32;

    /// <summary>Tile of the 256-bit kernel: 6 rows x 16 columns = 12 ymm accumulators (fits 16 AVX2 registers).</summary>
    internal const int Mr256 = 6, Nr256 = 16;

    /// <summary>C (12 x 32, row stride ldc) = or += A panel (kc x 12) * B panel (kc x 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel512(int kc, float* a, float* b, float* c, nint ldc, bool accumulate, int rows)
    {
        Wide512Meter.Enter();
        // an M edge of at most 8 rows: the short tile, whose FMAs are only the rows' (same order, same bits)
        if (rows <= 8)
        {
            if (rows <= 4) KernelShort512<FourRows>(kc, a, b, c, ldc, accumulate, rows);
            else KernelShort512<EightRows>(kc, a, b, c, ldc, accumulate, rows);
            return;
        }
        Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero, c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero, c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero, c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero, c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero, c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero, c60 = Vector512<float>.Zero, c61 = Vector512<float>.Zero, c70 = Vector512<float>.Zero, c71 = Vector512<float>.Zero, c80 = Vector512<float>.Zero, c81 = Vector512<float>.Zero, c90 = Vector512<float>.Zero, c91 = Vector512<float>.Zero, c100 = Vector512<float>.Zero, c101 = Vector512<float>.Zero, c110 = Vector512<float>.Zero, c111 = Vector512<float>.Zero;
        // two k steps per iteration: 81 instead of 84 fused micro-ops per 48 FMAs, so the loop runs further from the
        // front end's 4 per cycle (the JIT keeps all 24 accumulators, 2 B vectors and a broadcast in zmm registers)
        int p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            {
                var b0 = Vector512.Load(b + 0); var b1 = Vector512.Load(b + 16);
                var a0 = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
                var a1 = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
                var a2 = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
                var a3 = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
                var a4 = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
                var a5 = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
                var a6 = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
                var a7 = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
                var a8 = Vector512.Create(a[8]); c80 = Vector512.FusedMultiplyAdd(a8, b0, c80); c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
                var a9 = Vector512.Create(a[9]); c90 = Vector512.FusedMultiplyAdd(a9, b0, c90); c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
                var a10 = Vector512.Create(a[10]); c100 = Vector512.FusedMultiplyAdd(a10, b0, c100); c101 = Vector512.FusedMultiplyAdd(a10, b1, c101);
                var a11 = Vector512.Create(a[11]); c110 = Vector512.FusedMultiplyAdd(a11, b0, c110); c111 = Vector512.FusedMultiplyAdd(a11, b1, c111);
            }
            {
                var b0 = Vector512.Load(b + 32); var b1 = Vector512.Load(b + 48);
                var a0 = Vector512.Create(a[12]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
                var a1 = Vector512.Create(a[13]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
                var a2 = Vector512.Create(a[14]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
                var a3 = Vector512.Create(a[15]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
                var a4 = Vector512.Create(a[16]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
                var a5 = Vector512.Create(a[17]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
                var a6 = Vector512.Create(a[18]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
                var a7 = Vector512.Create(a[19]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
                var a8 = Vector512.Create(a[20]); c80 = Vector512.FusedMultiplyAdd(a8, b0, c80); c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
                var a9 = Vector512.Create(a[21]); c90 = Vector512.FusedMultiplyAdd(a9, b0, c90); c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
                var a10 = Vector512.Create(a[22]); c100 = Vector512.FusedMultiplyAdd(a10, b0, c100); c101 = Vector512.FusedMultiplyAdd(a10, b1, c101);
                var a11 = Vector512.Create(a[23]); c110 = Vector512.FusedMultiplyAdd(a11, b0, c110); c111 = Vector512.FusedMultiplyAdd(a11, b1, c111);
            }
            a += 24;
            b += 64;
        }
        if (p < kc)
        {
            var b0 = Vector512.Load(b + 0); var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            var a6 = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            var a7 = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            var a8 = Vector512.Create(a[8]); c80 = Vector512.FusedMultiplyAdd(a8, b0, c80); c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
            var a9 = Vector512.Create(a[9]); c90 = Vector512.FusedMultiplyAdd(a9, b0, c90); c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
            var a10 = Vector512.Create(a[10]); c100 = Vector512.FusedMultiplyAdd(a10, b0, c100); c101 = Vector512.FusedMultiplyAdd(a10, b1, c101);
            var a11 = Vector512.Create(a[11]); c110 = Vector512.FusedMultiplyAdd(a11, b0, c110); c111 = Vector512.FusedMultiplyAdd(a11, b1, c111);
        }
        if (accumulate)
        {
            (c00 + Vector512.Load(c + 0 * ldc + 0)).Store(c + 0 * ldc + 0); (c01 + Vector512.Load(c + 0 * ldc + 16)).Store(c + 0 * ldc + 16);
            if (rows <= 1) return;
            (c10 + Vector512.Load(c + 1 * ldc + 0)).Store(c + 1 * ldc + 0); (c11 + Vector512.Load(c + 1 * ldc + 16)).Store(c + 1 * ldc + 16);
            if (rows <= 2) return;
            (c20 + Vector512.Load(c + 2 * ldc + 0)).Store(c + 2 * ldc + 0); (c21 + Vector512.Load(c + 2 * ldc + 16)).Store(c + 2 * ldc + 16);
            if (rows <= 3) return;
            (c30 + Vector512.Load(c + 3 * ldc + 0)).Store(c + 3 * ldc + 0); (c31 + Vector512.Load(c + 3 * ldc + 16)).Store(c + 3 * ldc + 16);
            if (rows <= 4) return;
            (c40 + Vector512.Load(c + 4 * ldc + 0)).Store(c + 4 * ldc + 0); (c41 + Vector512.Load(c + 4 * ldc + 16)).Store(c + 4 * ldc + 16);
            if (rows <= 5) return;
            (c50 + Vector512.Load(c + 5 * ldc + 0)).Store(c + 5 * ldc + 0); (c51 + Vector512.Load(c + 5 * ldc + 16)).Store(c + 5 * ldc + 16);
            if (rows <= 6) return;
            (c60 + Vector512.Load(c + 6 * ldc + 0)).Store(c + 6 * ldc + 0); (c61 + Vector512.Load(c + 6 * ldc + 16)).Store(c + 6 * ldc + 16);
            if (rows <= 7) return;
            (c70 + Vector512.Load(c + 7 * ldc + 0)).Store(c + 7 * ldc + 0); (c71 + Vector512.Load(c + 7 * ldc + 16)).Store(c + 7 * ldc + 16);
            if (rows <= 8) return;
            (c80 + Vector512.Load(c + 8 * ldc + 0)).Store(c + 8 * ldc + 0); (c81 + Vector512.Load(c + 8 * ldc + 16)).Store(c + 8 * ldc + 16);
            if (rows <= 9) return;
            (c90 + Vector512.Load(c + 9 * ldc + 0)).Store(c + 9 * ldc + 0); (c91 + Vector512.Load(c + 9 * ldc + 16)).Store(c + 9 * ldc + 16);
            if (rows <= 10) return;
            (c100 + Vector512.Load(c + 10 * ldc + 0)).Store(c + 10 * ldc + 0); (c101 + Vector512.Load(c + 10 * ldc + 16)).Store(c + 10 * ldc + 16);
            if (rows <= 11) return;
            (c110 + Vector512.Load(c + 11 * ldc + 0)).Store(c + 11 * ldc + 0); (c111 + Vector512.Load(c + 11 * ldc + 16)).Store(c + 11 * ldc + 16);
        }
        else
        {
            c00.Store(c + 0 * ldc + 0); c01.Store(c + 0 * ldc + 16);
            if (rows <= 1) return;
            c10.Store(c + 1 * ldc + 0); c11.Store(c + 1 * ldc + 16);
            if (rows <= 2) return;
            c20.Store(c + 2 * ldc + 0); c21.Store(c + 2 * ldc + 16);
            if (rows <= 3) return;
            c30.Store(c + 3 * ldc + 0); c31.Store(c + 3 * ldc + 16);
            if (rows <= 4) return;
            c40.Store(c + 4 * ldc + 0); c41.Store(c + 4 * ldc + 16);
            if (rows <= 5) return;
            c50.Store(c + 5 * ldc + 0); c51.Store(c + 5 * ldc + 16);
            if (rows <= 6) return;
            c60.Store(c + 6 * ldc + 0); c61.Store(c + 6 * ldc + 16);
            if (rows <= 7) return;
            c70.Store(c + 7 * ldc + 0); c71.Store(c + 7 * ldc + 16);
            if (rows <= 8) return;
            c80.Store(c + 8 * ldc + 0); c81.Store(c + 8 * ldc + 16);
            if (rows <= 9) return;
            c90.Store(c + 9 * ldc + 0); c91.Store(c + 9 * ldc + 16);
            if (rows <= 10) return;
            c100.Store(c + 10 * ldc + 0); c101.Store(c + 10 * ldc + 16);
            if (rows <= 11) return;
            c110.Store(c + 11 * ldc + 0); c111.Store(c + 11 * ldc + 16);
        }
    }

    /// <summary>Rows of a short 512-bit tile, a constant in each instantiation of <see cref="KernelShort512"/>.</summary>
    private interface IShortRows
    {
        static abstract int Count { get; }
    }

    private readonly struct FourRows : IShortRows
    {
        public static int Count => 4;
    }

    private readonly struct EightRows : IShortRows
    {
        public static int Count => 8;
    }

    /// <summary>
    /// <see cref="Kernel512"/> for an M edge of at most <c>TRows.Count</c> (4 or 8) rows: the first rows of the same
    /// A panel (kc x 12), 8 or 16 accumulators, one k step per iteration (8 or 16 independent FMA chains). Each
    /// element is the same FMA chain as in the 12-row tile, so the bits do not change; a layer with 64 output
    /// channels (5 full tiles and 4 rows) does 64 rows of FMAs instead of 72.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelShort512<TRows>(int kc, float* a, float* b, float* c, nint ldc, bool accumulate, int rows) where TRows : struct, IShortRows
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++, a += Mr512, b += Nr512)
        {
            var b0 = Vector512.Load(b + 0); var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            if (TRows.Count <= 4) continue;
            var a4 = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            var a6 = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            var a7 = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
        }
        StoreShortRow(c, accumulate, c00, c01);
        if (rows <= 1) return;
        StoreShortRow(c + ldc, accumulate, c10, c11);
        if (rows <= 2) return;
        StoreShortRow(c + 2 * ldc, accumulate, c20, c21);
        if (rows <= 3) return;
        StoreShortRow(c + 3 * ldc, accumulate, c30, c31);
        if (TRows.Count <= 4 || rows <= 4) return;
        StoreShortRow(c + 4 * ldc, accumulate, c40, c41);
        if (rows <= 5) return;
        StoreShortRow(c + 5 * ldc, accumulate, c50, c51);
        if (rows <= 6) return;
        StoreShortRow(c + 6 * ldc, accumulate, c60, c61);
        if (rows <= 7) return;
        StoreShortRow(c + 7 * ldc, accumulate, c70, c71);
    }

    /// <summary>c[0..32) = or += (lo, hi), as the 12-row tile stores a row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreShortRow(float* c, bool accumulate, Vector512<float> lo, Vector512<float> hi)
    {
        if (accumulate)
        {
            lo += Vector512.Load(c);
            hi += Vector512.Load(c + 16);
        }
        lo.Store(c);
        hi.Store(c + 16);
    }

    /// <summary>C (6 x 16, row stride ldc) = or += A panel (kc x 6) * B panel (kc x 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel256(int kc, float* a, float* b, float* c, nint ldc, bool accumulate, int rows)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero, c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero, c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero, c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero, c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero, c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b + 0); var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(a4, b0, c40); c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(a5, b0, c50); c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            a += 6;
            b += 16;
        }
        if (accumulate)
        {
            (c00 + Vector256.Load(c + 0 * ldc + 0)).Store(c + 0 * ldc + 0); (c01 + Vector256.Load(c + 0 * ldc + 8)).Store(c + 0 * ldc + 8);
            if (rows <= 1) return;
            (c10 + Vector256.Load(c + 1 * ldc + 0)).Store(c + 1 * ldc + 0); (c11 + Vector256.Load(c + 1 * ldc + 8)).Store(c + 1 * ldc + 8);
            if (rows <= 2) return;
            (c20 + Vector256.Load(c + 2 * ldc + 0)).Store(c + 2 * ldc + 0); (c21 + Vector256.Load(c + 2 * ldc + 8)).Store(c + 2 * ldc + 8);
            if (rows <= 3) return;
            (c30 + Vector256.Load(c + 3 * ldc + 0)).Store(c + 3 * ldc + 0); (c31 + Vector256.Load(c + 3 * ldc + 8)).Store(c + 3 * ldc + 8);
            if (rows <= 4) return;
            (c40 + Vector256.Load(c + 4 * ldc + 0)).Store(c + 4 * ldc + 0); (c41 + Vector256.Load(c + 4 * ldc + 8)).Store(c + 4 * ldc + 8);
            if (rows <= 5) return;
            (c50 + Vector256.Load(c + 5 * ldc + 0)).Store(c + 5 * ldc + 0); (c51 + Vector256.Load(c + 5 * ldc + 8)).Store(c + 5 * ldc + 8);
        }
        else
        {
            c00.Store(c + 0 * ldc + 0); c01.Store(c + 0 * ldc + 8);
            if (rows <= 1) return;
            c10.Store(c + 1 * ldc + 0); c11.Store(c + 1 * ldc + 8);
            if (rows <= 2) return;
            c20.Store(c + 2 * ldc + 0); c21.Store(c + 2 * ldc + 8);
            if (rows <= 3) return;
            c30.Store(c + 3 * ldc + 0); c31.Store(c + 3 * ldc + 8);
            if (rows <= 4) return;
            c40.Store(c + 4 * ldc + 0); c41.Store(c + 4 * ldc + 8);
            if (rows <= 5) return;
            c50.Store(c + 5 * ldc + 0); c51.Store(c + 5 * ldc + 8);
        }
    }
}
