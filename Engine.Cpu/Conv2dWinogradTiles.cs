using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// The forward of 3x3 convolutions at stride 1 by Winograd's minimal filtering F(2x2, 3x3) over batched GEMMs
// (Legend as in Conv2d.cs; TP = ceil(P/2), TQ = ceil(Q/2) tiles of 2x2 outputs per image, T = N*TP*TQ in all).
// A tile's outputs come from its 4x4 input patch d (rows 2tp - top.., columns 2tq - left.., zero outside x):
//
//   Y (2x2) = A^T [ (G g G^T) . (B^T d B) ] A,   B^T = | 1  0 -1  0 |   G = |  1    0    0  |   A^T = | 1  1  1  0 |
//                                                     | 0  1  1  0 |       | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
//                                                     | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
//                                                     | 0  1  0 -1 |       |  0    0    1  |
//
// and the sum over input channels moves inside: for each of the 16 points xi = (a, b),
//   M_xi (K x T) = U_xi (K x C) * V_xi (C x T),  U_xi[k, c] = (G w[k, c] G^T)[a, b],  V_xi[c, t] = (B^T d[c, t] B)[a, b],
// sixteen GEMMs of K x C x T where the direct sum is one of K x 9C x 4T: 2.25x fewer multiply-adds on whole tiles
// (ResNet-18's 7 x 7 maps: 16 tiles cover 8 x 8, 1.72x). U lives with the weights (<see cref="WinogradTileWeights"/>,
// 16/9 of their size, made again only when they change); V and M are made a chunk of tiles at a time (4 MB of tiles
// together, plus 16 spare floats a row: 5.2 MB at 512 + 512 channels, 6.3 MB at most, so the calling thread's scratch
// stays within 8 MB with the GEMM's packed B block): per chunk the
// input transform splits over channels, the GEMMs over points, the output transform over output channels.
//
// Numerics: the transforms round (A, B^T and G take sums and halves only), so an output differs from the direct sum by
// a few units of float rounding of the magnitudes in its patch, not bit for bit (tests hold it to the direct paths'
// 2e-6 per unit of sum |terms|). Every output is the same sequence of operations whatever the thread count (chunks
// depend on the shapes only), so the results are bitwise independent of the threads. A NaN input reaches exactly the
// outputs whose window holds it: B^T's first row is the only one with d0 and A^T's first the only one with m0 (and
// likewise d3, m3 and the second output), row and column alike. An infinite input gives NaN (inf - inf) where
// the direct sum gives +-inf. CpuBackend.WinogradEnabled = false gives the direct sum's bits.
public sealed partial class CpuBackend
{
    /// <summary>Fewest input and output channels for F(2x2, 3x3) (its GEMMs are C deep and K tall).</summary>
    private const int WinogradTilesMinChannels = 32;

    /// <summary>Most C + K (a chunk of 32 tiles then holds 4 MB of V and M, 6.3 MB with the spare floats).</summary>
    private const int WinogradTilesMaxChannels = 2048;

    /// <summary>Most floats of V and M's tiles per chunk (4 MB, without the rows' spare floats; tests set fewer to cut chunks inside images).</summary>
    internal static int WinogradTilesChunkFloats { get; set; } = 1 << 20;

    /// <summary>Most tiles per chunk (a 384-deep block of V's panels, 768 KB, stays in L2).</summary>
    private const int WinogradTilesMaxChunk = 512;

    /// <summary>Input or output channels per transform task.</summary>
    private const int WinogradTilesChannelsPerTask = 8;

    private const int TilePoints = 16;

    [ThreadStatic] private static AlignedScratch? t_tilesVM;
    [ThreadStatic] private static AlignedScratch? t_tilesPlane;

    /// <summary>Whether the forward of <paramref name="g"/> runs through F(2x2, 3x3) (for tests).</summary>
    internal static bool TakesWinogradTiles(in Conv2dGeometry g)
    {
        var geo = Packable(g);
        return !LiveTaps(g, out _, out _, out _) && !UseDirect(geo) && UseWinogradTiles(geo);
    }

    /// <summary>Whether the data gradient of <paramref name="g"/> runs through F(2x2, 3x3) (for tests).</summary>
    internal static bool TakesWinogradTilesData(in Conv2dGeometry g)
    {
        var geo = Packable(g);
        return !LiveTaps(g, out _, out _, out _) && !UseDirect(geo) && !IsPointwise(geo) && AsForward(geo, out var forward) && UseWinogradTiles(forward);
    }

    /// <summary>
    /// Fewest tiles (N*TP*TQ): below one 32-wide panel of B the GEMMs compute padding columns (16 tiles cost as many
    /// products as 32: ResNet-18's layer 4 at batch 1 would take 134 M multiply-adds against the direct 116 M), and U is
    /// made again at every training step. Not tuned beyond that. The choice depends on the shapes only, never on whether
    /// U is kept, so a call's bits never depend on what ran before it.
    /// </summary>
    private const int WinogradTilesMinTiles = 32;

    /// <summary>3x3 kernels at stride 1 and dilation 1, one group, 32 to 2048 - 32 channels in and out, 32 tiles or more.</summary>
    private static bool UseWinogradTiles(in Conv2dGeometry g) =>
        WinogradEnabled && g.Groups == 1 && g.Kernel is { Height: 3, Width: 3 } && g.Stride is { Height: 1, Width: 1 }
        && g.Dilation is { Height: 1, Width: 1 } && g.InChannels >= WinogradTilesMinChannels && g.OutChannels >= WinogradTilesMinChannels
        && g.InChannels + g.OutChannels <= WinogradTilesMaxChannels
        && (long)g.Batch * ((g.OutHeight + 1) / 2) * ((g.OutWidth + 1) / 2) >= WinogradTilesMinTiles;

    /// <summary>Tiles per chunk: a multiple of 32 (whole 512-bit B panels) within the chunk's 4 MB, or all of T.</summary>
    private static int WinogradTilesChunk(int c, int k, int tiles)
    {
        int most = Math.Clamp(WinogradTilesChunkFloats / (TilePoints * (c + k)) / 32 * 32, 32, WinogradTilesMaxChunk);
        return Math.Min(most, tiles);
    }

    /// <summary>y = bias + F(2x2, 3x3) of x with the transformed weights u (see the file's head).</summary>
    private unsafe void Conv2dWinogradTiles(in Conv2dGeometry g, WinogradTileWeights u, float* x, float* bias, float* y)
    {
        int c = g.InChannels, k = g.OutChannels, tp = (g.OutHeight + 1) / 2, tq = (g.OutWidth + 1) / 2;
        int tiles = g.Batch * tp * tq, chunk = WinogradTilesChunk(c, k, tiles);
        // rows of V and M: the chunk's tiles and 16 spare floats (a vector run's lanes past the chunk)
        // and the points' matrices a cache line more than their rows apart: at whole multiples of 4 KB (C * stride
        // floats) the 16 points of a run fell into one set of the 8-way L1
        int stride = chunk + 16;
        nint vPoint = (nint)c * stride + PointSkew, mPoint = (nint)k * stride + PointSkew;
        float* vm = AlignedScratch.AtLeast(ref t_tilesVM, (long)TilePoints * (vPoint + mPoint));
        float* v = vm, m = vm + TilePoints * vPoint;
        for (int t0 = 0; t0 < tiles; t0 += chunk)
        {
            int width = Math.Min(chunk, tiles - t0);
            var s = new TileChunk(g, (nint)x, (nint)u.Pointer, u.KPadded, (nint)bias, (nint)y, (nint)v, (nint)m, t0, width, stride, vPoint, mPoint);
            _workers.For(GemmDriver.CeilDiv(c, WinogradTilesChannelsPerTask), s, static (s, task) => TileInputs(s, task));
            _workers.For(TilePoints, s, static (s, point) => TileProducts(s, point));
            _workers.For(GemmDriver.CeilDiv(k, WinogradTilesChannelsPerTask), s, static (s, task) => TileOutputs(s, task));
        }
    }

    /// <summary>
    /// One chunk of tiles [T0, T0 + Width): rows of V and M are Stride floats, V_xi at xi*VPoint and M_xi at xi*MPoint
    /// (C or K rows and <see cref="PointSkew"/>).
    /// </summary>
    private readonly record struct TileChunk(Conv2dGeometry G, nint X, nint U, int KPadded, nint Bias, nint Y, nint V, nint M, int T0, int Width, int Stride,
        nint VPoint, nint MPoint);

    /// <summary>Floats between one point's matrix of V or M and the next past its rows (one cache line).</summary>
    private const int PointSkew = 16;

    /// <summary>
    /// V_xi[c, t] = (B^T d B)[a, b] for input channels [8 task, 8 task + 8) and the chunk's tiles, each image's plane
    /// first copied into a zero-bordered one (rows -top.. 2TP - top + 2, columns -left.. 2TQ - left + 2, plus a tail
    /// the vectors may read past) so every patch is read without bounds checks. With AVX-512 a run of up to 16 tiles of
    /// one tile row is one vector per patch column (the even and odd columns of two loads, permuted), and each point's
    /// 16 lanes are stored at once (lanes past the run are overwritten by the next run or land in the row's 16 spare
    /// floats); the scalar loop does the same operations tile by tile, so both give the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TileInputs(in TileChunk s, int task)
    {
        var g = s.G;
        int tp = (g.OutHeight + 1) / 2, tq = (g.OutWidth + 1) / 2, perImage = tp * tq, hp = 2 * tp + 2, wp = 2 * tq + 2;
        int c0 = task * WinogradTilesChannelsPerTask, c1 = Math.Min(g.InChannels, c0 + WinogradTilesChannelsPerTask);
        int h = g.InHeight, w = g.InWidth, top = g.Padding.Top, left = g.Padding.Left;
        float* plane = AlignedScratch.AtLeast(ref t_tilesPlane, (long)hp * wp + PlaneTail);
        nint pointStride = s.VPoint;
        bool wide = GemmKernels.Use512;
        if (wide) Wide512Meter.Enter();
        for (int c = c0; c < c1; c++)
        {
            float* v = (float*)s.V + (nint)c * s.Stride - s.T0;
            for (int t = s.T0, end = s.T0 + s.Width, image = -1; t < end;)
            {
                int n = t / perImage, within = t - n * perImage, row = within / tq, col = within - row * tq;
                int run = Math.Min(Math.Min(tq - col, 16), end - t);
                if (n != image)
                {
                    // plane[i, j] = x[n, c, i - top, j - left], zero outside x (padding, tile overhang and the tail)
                    new Span<float>(plane, hp * wp + PlaneTail).Clear();
                    float* src = (float*)s.X + ((nint)n * g.InChannels + c) * h * w;
                    int rows = Math.Min(h, hp - top), cols = Math.Min(w, wp - left);
                    for (int i = 0; i < rows; i++)
                        new ReadOnlySpan<float>(src + (nint)i * w, cols).CopyTo(new Span<float>(plane + (nint)(i + top) * wp + left, cols));
                    image = n;
                }
                float* d = plane + (nint)row * 2 * wp + col * 2;
                if (wide) InputRun(d, wp, v + t, pointStride);
                else
                    for (int i = 0; i < run; i++) InputTile(d + 2 * i, wp, v + t + i, pointStride);
                t += run;
            }
        }
    }

    /// <summary>Floats past a padded plane that a run's loads may read (two 16-float loads from column 2 of its last 4 rows' run).</summary>
    private const int PlaneTail = 48;

    /// <summary>
    /// V at the 16 points for the tile whose patch starts at <paramref name="d"/> (rows <paramref name="wp"/> apart):
    /// e = B^T d (rows: d0 - d2, d1 + d2, d2 - d1, d1 - d3), then each row of e times B (<see cref="Store4(float*, nint, int, float, float, float, float)"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void InputTile(float* d, int wp, float* at, nint pointStride)
    {
        float* r0 = d, r1 = d + wp, r2 = d + 2 * wp, r3 = d + 3 * wp;
        Store4(at, pointStride, 0, r0[0] - r2[0], r0[1] - r2[1], r0[2] - r2[2], r0[3] - r2[3]);
        Store4(at, pointStride, 4, r1[0] + r2[0], r1[1] + r2[1], r1[2] + r2[2], r1[3] + r2[3]);
        Store4(at, pointStride, 8, r2[0] - r1[0], r2[1] - r1[1], r2[2] - r1[2], r2[3] - r1[3]);
        Store4(at, pointStride, 12, r1[0] - r3[0], r1[1] - r3[1], r1[2] - r3[2], r1[3] - r3[3]);
    }

    /// <summary>V at points [p, p + 4) = (e0 - e2, e1 + e2, e2 - e1, e1 - e3) (a row of B^T d times B).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store4(float* at, nint pointStride, int p, float e0, float e1, float e2, float e3)
    {
        at[p * pointStride] = e0 - e2;
        at[(p + 1) * pointStride] = e1 + e2;
        at[(p + 2) * pointStride] = e2 - e1;
        at[(p + 3) * pointStride] = e1 - e3;
    }

    /// <summary><see cref="InputTile"/> for 16 neighbouring tiles of a tile row at once (lane l: the patch at column 2l).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void InputRun(float* d, int wp, float* at, nint pointStride)
    {
        Columns(d, out var d00, out var d01, out var d02, out var d03);
        Columns(d + wp, out var d10, out var d11, out var d12, out var d13);
        Columns(d + 2 * wp, out var d20, out var d21, out var d22, out var d23);
        Columns(d + 3 * wp, out var d30, out var d31, out var d32, out var d33);
        Store4Run(at, pointStride, 0, d00 - d20, d01 - d21, d02 - d22, d03 - d23);
        Store4Run(at, pointStride, 4, d10 + d20, d11 + d21, d12 + d22, d13 + d23);
        Store4Run(at, pointStride, 8, d20 - d10, d21 - d11, d22 - d12, d23 - d13);
        Store4Run(at, pointStride, 12, d10 - d30, d11 - d31, d12 - d32, d13 - d33);
    }

    /// <summary>Patch columns 0..3 of 16 tiles along a row: row[2l + j] in lane l of column j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Columns(float* row, out Vector512<float> c0, out Vector512<float> c1, out Vector512<float> c2, out Vector512<float> c3)
    {
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odd = even + Vector512<int>.One;
        var a = Vector512.Load(row);
        var b = Vector512.Load(row + 16);
        c0 = Avx512F.PermuteVar16x32x2(a, even, b);
        c1 = Avx512F.PermuteVar16x32x2(a, odd, b);
        a = Vector512.Load(row + 2);
        b = Vector512.Load(row + 18);
        c2 = Avx512F.PermuteVar16x32x2(a, even, b);
        c3 = Avx512F.PermuteVar16x32x2(a, odd, b);
    }

    /// <summary><see cref="Store4(float*, nint, int, float, float, float, float)"/> on 16 tiles at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store4Run(float* at, nint pointStride, int p, Vector512<float> e0, Vector512<float> e1, Vector512<float> e2, Vector512<float> e3)
    {
        (e0 - e2).Store(at + p * pointStride);
        (e1 + e2).Store(at + (p + 1) * pointStride);
        (e2 - e1).Store(at + (p + 2) * pointStride);
        (e1 - e3).Store(at + (p + 3) * pointStride);
    }

    /// <summary>M_xi (K x Width) = U_xi (K x C) * V_xi (C x Width), one GEMM on this thread.</summary>
    private static unsafe void TileProducts(in TileChunk s, int point)
    {
        int c = s.G.InChannels, k = s.G.OutChannels;
        var u = new PrepackedSource((float*)s.U + (nint)point * c * s.KPadded, s.KPadded);
        var v = new DenseSource((float*)s.V + point * s.VPoint, s.Stride, kMajor: true);
        var m = new GemmTarget((float*)s.M + point * s.MPoint, s.Stride);
        GemmDriver.Run(u, v, m, k, s.Width, c, accumulate: false, pool: null);
    }

    /// <summary>
    /// y[n, k, 2tp + i, 2tq + j] = bias[k] + (A^T M A)[i, j] for output channels [8 task, 8 task + 8) and the chunk's
    /// tiles (the overhang of odd P or Q not stored). With AVX-512, runs of up to 16 tiles of a tile row at once, each
    /// output row's two columns interleaved into 32 pixels and stored under a mask; the same operations as the scalar loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TileOutputs(in TileChunk s, int task)
    {
        var g = s.G;
        int p = g.OutHeight, q = g.OutWidth, tp = (p + 1) / 2, tq = (q + 1) / 2, perImage = tp * tq;
        int k0 = task * WinogradTilesChannelsPerTask, k1 = Math.Min(g.OutChannels, k0 + WinogradTilesChannelsPerTask);
        nint pointStride = s.MPoint;
        bool wide = GemmKernels.Use512;
        if (wide) Wide512Meter.Enter();
        for (int k = k0; k < k1; k++)
        {
            float b = s.Bias == 0 ? 0f : ((float*)s.Bias)[k];
            float* m = (float*)s.M + (nint)k * s.Stride - s.T0;
            for (int t = s.T0, end = s.T0 + s.Width; t < end;)
            {
                int n = t / perImage, within = t - n * perImage, row = within / tq, col = within - row * tq;
                int run = Math.Min(Math.Min(tq - col, 16), end - t);
                float* yk = (float*)s.Y + ((nint)n * g.OutChannels + k) * p * q + (nint)row * 2 * q + col * 2;
                int pixels = Math.Min(2 * run, q - 2 * col);
                bool below = 2 * row + 1 < p;
                if (wide) OutputRun(m + t, pointStride, b, yk, q, pixels, below);
                else
                    for (int i = 0; i < run; i++) OutputTile(m + t + i, pointStride, b, yk + 2 * i, q, 2 * i + 1 < pixels, below);
                t += run;
            }
        }
    }

    /// <summary>One tile's outputs: s_a = M[a, :] A (<see cref="Fold4(float*, nint, int)"/>), then Y = A^T s, plus the bias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void OutputTile(float* at, nint pointStride, float b, float* y, int q, bool right, bool below)
    {
        var (s00, s01) = Fold4(at, pointStride, 0);
        var (s10, s11) = Fold4(at, pointStride, 4);
        var (s20, s21) = Fold4(at, pointStride, 8);
        var (s30, s31) = Fold4(at, pointStride, 12);
        y[0] = b + (s00 + s10 + s20);
        if (right) y[1] = b + (s01 + s11 + s21);
        if (below)
        {
            y[q] = b + (s10 - s20 - s30);
            if (right) y[q + 1] = b + (s11 - s21 - s31);
        }
    }

    /// <summary>(m0 + m1 + m2, m1 - m2 - m3) of M at points [p, p + 4) (a row of M times A).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (float, float) Fold4(float* at, nint pointStride, int p)
    {
        float m0 = at[p * pointStride], m1 = at[(p + 1) * pointStride], m2 = at[(p + 2) * pointStride], m3 = at[(p + 3) * pointStride];
        return (m0 + m1 + m2, m1 - m2 - m3);
    }

    /// <summary><see cref="OutputTile"/> for 16 neighbouring tiles of a tile row; the first <paramref name="pixels"/> columns stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void OutputRun(float* at, nint pointStride, float bias, float* y, int q, int pixels, bool below)
    {
        var (s00, s01) = Fold4Run(at, pointStride, 0);
        var (s10, s11) = Fold4Run(at, pointStride, 4);
        var (s20, s21) = Fold4Run(at, pointStride, 8);
        var (s30, s31) = Fold4Run(at, pointStride, 12);
        var b = Vector512.Create(bias);
        StoreRow(y, b + (s00 + s10 + s20), b + (s01 + s11 + s21), pixels);
        if (below) StoreRow(y + q, b + (s10 - s20 - s30), b + (s11 - s21 - s31), pixels);
    }

    /// <summary><see cref="Fold4(float*, nint, int)"/> on 16 tiles at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector512<float>, Vector512<float>) Fold4Run(float* at, nint pointStride, int p)
    {
        var m0 = Vector512.Load(at + p * pointStride);
        var m1 = Vector512.Load(at + (p + 1) * pointStride);
        var m2 = Vector512.Load(at + (p + 2) * pointStride);
        var m3 = Vector512.Load(at + (p + 3) * pointStride);
        return (m0 + m1 + m2, m1 - m2 - m3);
    }

    /// <summary>y[2l] = left[l], y[2l + 1] = right[l] for the first <paramref name="pixels"/> of the 32 (masked stores).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreRow(float* y, Vector512<float> left, Vector512<float> right, int pixels)
    {
        var low = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        var high = low + Vector512.Create(8);
        Avx512F.MaskStore(y, PanelCopy.Tail(pixels), Avx512F.PermuteVar16x32x2(left, low, right));
        Avx512F.MaskStore(y + 16, PanelCopy.Tail(pixels - 16), Avx512F.PermuteVar16x32x2(left, high, right));
    }
}

/// <summary>
/// The transformed weights of F(2x2, 3x3) kept on a weight buffer (<see cref="CpuBuffer.WinogradTiles"/> for the
/// forward, <see cref="CpuBuffer.WinogradTilesFlipped"/> for the data gradient) at the <see cref="Version"/> they
/// were made from: per point xi, U_xi^T (C x K) packed as the GEMM's prepacked A (<see cref="PackedWeights"/>' layout:
/// 384-deep blocks of panels of mr output channels, K padded to KPadded with zeros), 16 * C * KPadded floats, for the
/// convolution of C to K channels with kernels w'[k, c] = w[k, c] (forward: w is K x C x 3 x 3) or, flipped,
/// w'[k, c, r, s] = w[c, k, 2 - r, 2 - s] (the data gradient as a forward: w is C x K x 3 x 3). Made again in place
/// when the weights change (a training step: no allocation).
/// </summary>
internal sealed unsafe class WinogradTileWeights
{
    private AlignedScratch? _data;
    private long _version = -1;
    private int _c, _k, _mr;

    public float* Pointer => _data!.Pointer;
    public int KPadded => GemmDriver.CeilDiv(_k, _mr) * _mr;

    /// <summary>The transformed weights of the C -> K convolution by w, made now unless kept at w's version and shape.</summary>
    public static WinogradTileWeights Of(CpuBuffer w, int c, int k, bool flipped, WorkerPool pool)
    {
        var kept = flipped ? w.WinogradTilesFlipped ??= new WinogradTileWeights() : w.WinogradTiles ??= new WinogradTileWeights();
        int mr = GemmKernels.Use512 ? GemmKernels.Mr512 : GemmKernels.Mr256;
        long version = w.Version;
        if (kept._data is not null && kept._version == version && kept._c == c && kept._k == k && kept._mr == mr) return kept;
        (kept._c, kept._k, kept._mr) = (c, k, mr);
        long length = 16L * c * kept.KPadded;
        if (kept._data is null || kept._data.Length < length) kept._data = new AlignedScratch(length);
        fixed (float* pw = w.ReadArray)
            kept.Transform(pw, flipped, pool);
        kept._version = version;
        return kept;
    }

    /// <summary>
    /// Coefficients[tap * 16 + xi] = G[a, r] * G[b, s] for tap = (r, s) and xi = (a, b): U_xi = sum over taps of
    /// Coefficients[tap, xi] * w[tap] (each 0, +-1, +-1/2 or +-1/4, so the products are exact).
    /// </summary>
    private static readonly float[] Coefficients = MakeCoefficients();

    private static float[] MakeCoefficients()
    {
        float[,] g = { { 1, 0, 0 }, { 0.5f, 0.5f, 0.5f }, { 0.5f, -0.5f, 0.5f }, { 0, 0, 1 } };
        var table = new float[9 * 16];
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++)
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) table[(r * 3 + s) * 16 + a * 4 + b] = g[a, r] * g[b, s];
        return table;
    }

    /// <summary>
    /// U_xi for every (k, c): the sum over the 9 taps in order (a product, then 8 fused multiply-adds), in tasks of one
    /// panel of mr output channels. With AVX-512 each (k, c) is one vector of the 16 points, and a panel's 12 vectors for
    /// one c are transposed into place; without it the same sums element by element (the same bits).
    /// </summary>
    private void Transform(float* w, bool flipped, WorkerPool pool)
    {
        int panels = GemmDriver.CeilDiv(_k, _mr);
        fixed (float* table = Coefficients)
            pool.For(panels, ((nint)w, (nint)_data!.Pointer, (nint)table, _c, _k, _mr, KPadded, flipped), static (s, panel) =>
            {
                var (wAt, uAt, tableAt, c, k, mr, kPadded, flipped) = s;
                if (GemmKernels.Use512) TransformPanel512((float*)wAt, (float*)uAt, (float*)tableAt, c, k, mr, kPadded, panel, flipped);
                else TransformPanel((float*)wAt, (float*)uAt, (float*)tableAt, c, k, mr, kPadded, panel, flipped);
            });
    }

    /// <summary>w'[kk, cc]'s 9 taps in order into <paramref name="taps"/> (see the class summary for the flipped kernel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Taps(float* w, int c, int k, int kk, int cc, bool flipped, float* taps)
    {
        if (!flipped)
        {
            float* g = w + ((nint)kk * c + cc) * 9;
            for (int tap = 0; tap < 9; tap++) taps[tap] = g[tap];
        }
        else
        {
            float* g = w + ((nint)cc * k + kk) * 9;
            for (int tap = 0; tap < 9; tap++) taps[tap] = g[8 - tap];
        }
    }

    /// <summary>Where U_0[c, panel * mr] is: block c0 = 384 floor(c / 384) (kc deep), the panel's kc x mr floats, row c - c0.</summary>
    private static nint PanelAt(int cc, int c, int mr, int kPadded, int panel)
    {
        int c0 = cc / GemmDriver.KcBlock * GemmDriver.KcBlock, kc = Math.Min(GemmDriver.KcBlock, c - c0);
        return (nint)c0 * kPadded + (nint)panel * mr * kc + (nint)(cc - c0) * mr;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformPanel(float* w, float* u, float* table, int c, int k, int mr, int kPadded, int panel, bool flipped)
    {
        nint pointStride = (nint)c * kPadded;
        float* g = stackalloc float[9];
        for (int cc = 0; cc < c; cc++)
        {
            float* at = u + PanelAt(cc, c, mr, kPadded, panel);
            for (int i = 0; i < mr; i++)
            {
                int kk = panel * mr + i;
                if (kk < k) Taps(w, c, k, kk, cc, flipped, g);
                for (int xi = 0; xi < 16; xi++)
                {
                    float sum = 0f;
                    if (kk < k)
                    {
                        sum = table[xi] * g[0];
                        for (int tap = 1; tap < 9; tap++) sum = MathF.FusedMultiplyAdd(table[tap * 16 + xi], g[tap], sum);
                    }
                    at[xi * pointStride + i] = sum;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransformPanel512(float* w, float* u, float* table, int c, int k, int mr, int kPadded, int panel, bool flipped)
    {
        Wide512Meter.Enter();
        var t0 = Vector512.Load(table); var t1 = Vector512.Load(table + 16); var t2 = Vector512.Load(table + 32);
        var t3 = Vector512.Load(table + 48); var t4 = Vector512.Load(table + 64); var t5 = Vector512.Load(table + 80);
        var t6 = Vector512.Load(table + 96); var t7 = Vector512.Load(table + 112); var t8 = Vector512.Load(table + 128);
        float* tile = stackalloc float[16 * 16];
        float* g = stackalloc float[9];
        int rows = Math.Min(mr, k - panel * mr);
        for (int i = rows; i < mr; i++) Vector512<float>.Zero.Store(tile + i * 16);
        for (int cc = 0; cc < c; cc++)
        {
            // tile[i, xi] = U_xi[k0 + i, c], then transposed into the 16 points' rows (mr floats each)
            for (int i = 0; i < rows; i++)
            {
                Taps(w, c, k, panel * mr + i, cc, flipped, g);
                var sum = t0 * Vector512.Create(g[0]);
                sum = Vector512.FusedMultiplyAdd(t1, Vector512.Create(g[1]), sum);
                sum = Vector512.FusedMultiplyAdd(t2, Vector512.Create(g[2]), sum);
                sum = Vector512.FusedMultiplyAdd(t3, Vector512.Create(g[3]), sum);
                sum = Vector512.FusedMultiplyAdd(t4, Vector512.Create(g[4]), sum);
                sum = Vector512.FusedMultiplyAdd(t5, Vector512.Create(g[5]), sum);
                sum = Vector512.FusedMultiplyAdd(t6, Vector512.Create(g[6]), sum);
                sum = Vector512.FusedMultiplyAdd(t7, Vector512.Create(g[7]), sum);
                sum = Vector512.FusedMultiplyAdd(t8, Vector512.Create(g[8]), sum);
                sum.Store(tile + i * 16);
            }
            PanelTranspose.Block16(tile, 16, mr, Vector512<float>.One, u + PanelAt(cc, c, mr, kPadded, panel), c * kPadded);
        }
    }
}
