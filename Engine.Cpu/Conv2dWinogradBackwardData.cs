using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// Backward data of kernels 5 tall by F(4, 5) down the columns (Legend as in Conv2dDirect.cs; Cg, Kg per group).
//
// dX[c, h, w] = sum over k, r, s of dY[k, h + Pt - r, w + Pl - s] * w[k, c, r, s] (dY zero outside its plane). With Z
// the image's dY plane padded by Lh = 4 - Pt rows on top and Lw = S - 1 - Pl columns on the left, r' = 4 - r and
// s' = S - 1 - s, that is
//
//   dX[c, h, w] = sum over (k, s') of  sum over r' of  g_r' * Z[k, h + r', w + s'],   g_r' = w[k, c, 4 - r', S - 1 - s']
//
// and the inner sum is a 5-tap correlation down a column: F(4, 5) gives four rows h0..h0+3 from the eight rows
// h0..h0+7 of Z as A^T [(G g) . (B^T d)], with the transforms of Conv2dWinogradHybrid.cs (its rows 8 and 9 of a run
// become here the last tile when H mod 4 is 1 or 2: F(2, 5) on F(4, 5)'s transformed weights). Lane = column w: the
// transformed rows V_j[k, tile, :] are whole rows of Z combined, so a step (k, s') loads V_j at column offset s'
// (unaligned) and broadcasts U_j[k, s', c]. A tile of 16 columns, 4 rows and 6 channels takes two passes over the
// Kg*S steps, points 0-3 then 4-7, each 4 loads and 24 broadcasts feeding 24 FMAs held in registers; the 48 products
// m[j, c] then go through A^T into 4 rows of dX (masked stores, no transposes). (One pass of 3 channels x 8 points
// loads each V twice per tile, 8 unaligned loads per 24 FMAs: measured no faster than the direct tiles.) LeNet's
// second layer (dY 16 x 10 x 10 -> dX 6 x 14 x 14): 14,400 FMAs of 16 lanes per image against the direct tiles'
// 21,600 (Conv2dDirectBackwardDataTiles.cs), plus the transforms (a third of the time); its forward+backward measured
// 0.5265 against 0.543 ms (medians of 8 alternated bench runs, fastest 0.489 against 0.512).
//
// Rounding: within the direct paths' 2e-6 per unit of sum |terms| (tested). A NaN or an infinity in dY would spread over
// a tile's rows, and a NaN or infinite weight would reach the padding's zeros (0 * inf = NaN) where the direct sum
// skips them: an image whose dY holds one runs the direct tiles instead (the check rides on the copy into Z), and
// weights holding one send the whole call there. The choice depends on the data only, so the bits do not depend on
// the thread count.
public sealed partial class CpuBackend
{
    /// <summary>Channels per tile: a pass of <see cref="WinogradDataPass4"/> holds 6 channels x 4 points (24 accumulators).</summary>
    private const int WinogradDataChannels = 6;

    /// <summary>Transformed weights per step (k, s') of a pass: 4 points x 6 channels.</summary>
    private const int WinogradDataStep = 4 * WinogradDataChannels;

    /// <summary>Floats of a tile's products m[j, c] (8 points x 6 channels x 16 lanes).</summary>
    private const int WinogradDataProducts = HybridPoints * WinogradDataChannels * 16;

    /// <summary>Most floats of Z and V one chunk of the Winograd backward data lays out (2 MB of the 8 MB per thread).</summary>
    private const int WinogradDataMaxFloats = 1 << 19;

    /// <summary>Fewest (k, s') steps a tile sums (the transforms cost about what 8 steps save).</summary>
    private const int WinogradDataMinSteps = 16;

    /// <summary>Whether the backward data of <paramref name="g"/> runs F(4, 5) down the columns (for tests; finite weights assumed).</summary>
    internal static bool TakesWinogradData(in Conv2dGeometry g)
    {
        var geo = Packable(g);
        return UseDirect(geo) && UseDataTiles(geo) && UseWinogradData(geo);
    }

    /// <summary>
    /// Kernels 5 tall (at most 16 wide), stride and dilation 1, padding that leaves Z's offsets non-negative (Pt, Pb
    /// &lt;= 4; Pl, Pr &lt; S), whole 6-channel tiles, at least <see cref="WinogradDataMinSteps"/> steps, and the
    /// chunk's scratch inside the bound (the caller also requires the direct tiles, the fallback).
    /// </summary>
    private static bool UseWinogradData(in Conv2dGeometry g) =>
        WinogradEnabled && GemmKernels.Use512 && g.Kernel.Height == 5 && g.Kernel.Width <= 16
        && g.Stride is { Height: 1, Width: 1 } && g.Dilation is { Height: 1, Width: 1 }
        && g.Padding.Top <= 4 && g.Padding.Bottom <= 4 && g.Padding.Left < g.Kernel.Width && g.Padding.Right < g.Kernel.Width
        && g.InChannelsPerGroup % WinogradDataChannels == 0 && g.OutChannelsPerGroup * g.Kernel.Width >= WinogradDataMinSteps
        && WinogradDataLayout.Of(g).Floats(g.OutChannelsPerGroup) <= WinogradDataMaxFloats;

    /// <summary>
    /// Row tiles of dX: Tiles4 of F(4, 5) (the last one past H when H mod 4 is 3: its extra row is not written) and,
    /// when H mod 4 is 1 or 2, one F(2, 5) tile. Z is ZH rows of ZW floats (ZW: the dX row in whole vectors plus 16
    /// for the shifts s'); V is [tile, k, j, ZW].
    /// </summary>
    private readonly record struct WinogradDataLayout(int Tiles4, bool Tile2, int ZH, int ZW, int Lh, int Lw)
    {
        public static WinogradDataLayout Of(in Conv2dGeometry g)
        {
            int h = g.InHeight, rest = h % 4;
            int tiles4 = h / 4 + (rest == 3 ? 1 : 0);
            bool tile2 = rest is 1 or 2;
            int vectors = (g.InWidth + 15) / 16;
            return new WinogradDataLayout(tiles4, tile2, 4 * tiles4 + (tile2 ? 6 : 4), 16 * vectors + 16,
                4 - g.Padding.Top, g.Kernel.Width - 1 - g.Padding.Left);
        }

        public int Tiles => Tiles4 + (Tile2 ? 1 : 0);

        public long Floats(int kg) => (long)ZH * ZW + (long)Tiles * kg * HybridPoints * ZW + WinogradDataProducts;
    }

    /// <summary>
    /// u[grp, cTile, half, k, s', i, c] = (G g)_j of F(4, 5) (<see cref="HybridWeightRow"/>) at the point j = 4*half + i
    /// for the column g_r' = w[grp*Kg + k, cTile*6 + c, 4 - r', S - 1 - s']: each pass walks its half in order. False,
    /// with u unfinished, when a weight is a NaN or an infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool WinogradDataWeights(in Conv2dGeometry g, float* w, float* u)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, S = g.Kernel.Width, taps = 5 * S;
        long count = (long)g.Groups * kg * cg * taps;
        for (long i = 0; i < count; i++)
            if (!float.IsFinite(w[i])) return false;
        float* points = stackalloc float[HybridPoints];
        nint half = (nint)kg * S * WinogradDataStep;
        for (int grp = 0; grp < g.Groups; grp++)
            for (int c0 = 0; c0 < cg; c0 += WinogradDataChannels)
            {
                float* tile = u + (nint)(grp * cg + c0) / WinogradDataChannels * 2 * half;
                for (int k = 0; k < kg; k++)
                    for (int sp = 0; sp < S; sp++)
                        for (int c = 0; c < WinogradDataChannels; c++)
                        {
                            // column s = S-1-s' from row 4 up: g_r' = w[.., 4 - r', s]
                            HybridWeightRow(w + ((nint)(grp * kg + k) * cg + c0 + c) * taps + 4 * S + (S - 1 - sp), -S, points, 1);
                            float* at = tile + (nint)(k * S + sp) * WinogradDataStep + c;
                            for (int j = 0; j < HybridPoints; j++)
                                at[j / 4 * half + j % 4 * WinogradDataChannels] = points[j];
                        }
            }
        return true;
    }

    /// <summary>
    /// Image n, group grp: Z and V for every k, then every tile of 6 channels x 4 rows x 16 columns into dX (overwritten).
    /// False, with nothing written to dX, when the image's dY holds a NaN or an infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool WinogradDataImage(in Conv2dGeometry g, WinogradDataLayout layout, float* dY, float* u, float* dX, int n, int grp)
    {
        Wide512Meter.Enter();
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, S = g.Kernel.Width;
        int outH = g.OutHeight, outW = g.OutWidth, pq = outH * outW, inH = g.InHeight, inW = g.InWidth, zw = layout.ZW;
        float* z = DirectScratch(layout.Floats(kg));
        float* v = z + (nint)layout.ZH * zw;
        nint point = zw, perK = HybridPoints * zw, perTile = kg * perK;
        // Z: every k writes the same positions (rows Lh.., columns Lw..), so the zeros around them are laid once
        new Span<float>(z, layout.ZH * zw).Clear();
        var poison = Vector512<float>.Zero;
        // columns of Z from `live` on hold no dY (16 * (the vectors reaching column Lw + OutW - 1))
        int live = (layout.Lw + outW + 15) / 16 * 16;
        for (int k = 0; k < kg; k++)
        {
            float* dYPlane = dY + ((nint)n * g.OutChannels + grp * kg + k) * pq;
            for (int p = 0; p < outH; p++)
                for (int q = 0; q < outW; q += 16)
                {
                    var real = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(outW - q)).AsSingle();
                    var row = Avx512F.MaskLoad(dYPlane + (nint)p * outW + q, real, Vector512<float>.Zero);
                    poison = Vector512.FusedMultiplyAdd(row, Vector512<float>.Zero, poison);
                    Avx512F.MaskStore(z + (nint)(p + layout.Lh) * zw + layout.Lw + q, real, row);
                }
            for (int t = 0; t < layout.Tiles; t++)
            {
                float* rows = z + (nint)4 * t * zw, at = v + t * perTile + k * perK;
                bool four = t < layout.Tiles4;
                for (int x = 0; x < zw; x += 16)
                {
                    if (x >= live)
                    {
                        // Z is all padding from x on: V = 0 there (stored, the scratch holds another image's V)
                        for (int j = 0; j < HybridPoints; j++) Vector512<float>.Zero.Store(at + x + j * point);
                        continue;
                    }
                    float* d = rows + x;
                    var d0 = Vector512.Load(d); var d1 = Vector512.Load(d + zw); var d2 = Vector512.Load(d + 2 * zw);
                    var d3 = Vector512.Load(d + 3 * zw); var d4 = Vector512.Load(d + 4 * zw); var d5 = Vector512.Load(d + 5 * zw);
                    if (four) Input4(d0, d1, d2, d3, d4, d5, Vector512.Load(d + 6 * zw), Vector512.Load(d + 7 * zw), at + x, point);
                    else Input2(d0, d1, d2, d3, d4, d5, at + x, point);
                }
            }
        }
        if (!Vector512.EqualsAll(poison, Vector512<float>.Zero)) return false;
        float* dXImage = dX + ((nint)n * g.InChannels + grp * cg) * inH * inW, m = v + (nint)layout.Tiles * perTile;
        nint half = (nint)kg * S * WinogradDataStep, plane = (nint)inH * inW;
        for (int t = 0; t < layout.Tiles; t++)
        {
            int h0 = 4 * t, rowsOut = Math.Min(4, inH - h0);
            bool four = t < layout.Tiles4;
            for (int c0 = 0; c0 < cg; c0 += WinogradDataChannels)
            {
                float* uc = u + (nint)(grp * cg + c0) / WinogradDataChannels * 2 * half;
                for (int x = 0; x < inW; x += 16)
                {
                    float* vt = v + t * perTile + x;
                    WinogradDataPass4(vt, point, perK, kg, S, uc, m);
                    if (four) WinogradDataPass4(vt + 4 * point, point, perK, kg, S, uc + half, m + WinogradDataStep * 16);
                    else WinogradDataPass2(vt + 4 * point, point, perK, kg, S, uc + half, m);
                    var real = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(inW - x)).AsSingle();
                    for (int c = 0; c < WinogradDataChannels; c++)
                    {
                        float* dst = dXImage + (nint)(c0 + c) * plane + (nint)h0 * inW + x, mc = m + c * 16;
                        const int J = WinogradDataChannels * 16; // floats per point
                        if (four)
                            DataRows4(dst, inW, rowsOut, real, Vector512.Load(mc), Vector512.Load(mc + J), Vector512.Load(mc + 2 * J), Vector512.Load(mc + 3 * J),
                                Vector512.Load(mc + 4 * J), Vector512.Load(mc + 5 * J), Vector512.Load(mc + 6 * J), Vector512.Load(mc + 7 * J));
                        else
                            DataRows2(dst, inW, rowsOut, real, Vector512.Load(mc), Vector512.Load(mc + J), Vector512.Load(mc + 2 * J), Vector512.Load(mc + 3 * J),
                                Vector512.Load(mc + 4 * J), Vector512.Load(mc + 7 * J));
                    }
                }
            }
        }
        return true;
    }

    /// <summary>
    /// m[(j0 + i)*6 + c] = sum over (k, s') of u[k, s', i, c] * v[k*perK + (j0 + i)*point + s'] for the 4 points i and
    /// the 6 channels c (24 accumulators; <paramref name="v"/> at point j0, <paramref name="u"/> at the pass's half).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WinogradDataPass4(float* v, nint point, nint perK, int kg, int S, float* u, float* m)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, e4 = default, e5 = default;
        float* ur = u;
        for (int k = 0; k < kg; k++)
        {
            float* vk = v + k * perK;
            for (int s = 0; s < S; s++, ur += WinogradDataStep)
            {
                float* d = vk + s;
                var x = Vector512.Load(d);
                a0 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[0]), a0);
                a1 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[1]), a1);
                a2 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[2]), a2);
                a3 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[3]), a3);
                a4 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[4]), a4);
                a5 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[5]), a5);
                x = Vector512.Load(d + point);
                b0 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[6]), b0);
                b1 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[7]), b1);
                b2 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[8]), b2);
                b3 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[9]), b3);
                b4 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[10]), b4);
                b5 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[11]), b5);
                x = Vector512.Load(d + 2 * point);
                c0 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[12]), c0);
                c1 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[13]), c1);
                c2 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[14]), c2);
                c3 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[15]), c3);
                c4 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[16]), c4);
                c5 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[17]), c5);
                x = Vector512.Load(d + 3 * point);
                e0 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[18]), e0);
                e1 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[19]), e1);
                e2 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[20]), e2);
                e3 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[21]), e3);
                e4 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[22]), e4);
                e5 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[23]), e5);
            }
        }
        Store6(m, a0, a1, a2, a3, a4, a5);
        Store6(m + 6 * 16, b0, b1, b2, b3, b4, b5);
        Store6(m + 12 * 16, c0, c1, c2, c3, c4, c5);
        Store6(m + 18 * 16, e0, e1, e2, e3, e4, e5);
    }

    /// <summary>
    /// <see cref="WinogradDataPass4"/> for the F(2, 5) tile's points 4 and 7 (the second half without 5 and 6):
    /// m[4*6 + c] and m[7*6 + c] (12 accumulators; <paramref name="v"/> at point 4).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WinogradDataPass2(float* v, nint point, nint perK, int kg, int S, float* u, float* m)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, e4 = default, e5 = default;
        float* ur = u;
        for (int k = 0; k < kg; k++)
        {
            float* vk = v + k * perK;
            for (int s = 0; s < S; s++, ur += WinogradDataStep)
            {
                float* d = vk + s;
                var x = Vector512.Load(d);
                a0 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[0]), a0);
                a1 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[1]), a1);
                a2 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[2]), a2);
                a3 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[3]), a3);
                a4 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[4]), a4);
                a5 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[5]), a5);
                x = Vector512.Load(d + 3 * point);
                e0 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[18]), e0);
                e1 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[19]), e1);
                e2 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[20]), e2);
                e3 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[21]), e3);
                e4 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[22]), e4);
                e5 = Vector512.FusedMultiplyAdd(x, Vector512.Create(ur[23]), e5);
            }
        }
        Store6(m + 24 * 16, a0, a1, a2, a3, a4, a5);
        Store6(m + 42 * 16, e0, e1, e2, e3, e4, e5);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store6(float* m, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        Vector512<float> v4, Vector512<float> v5)
    {
        v0.Store(m); v1.Store(m + 16); v2.Store(m + 32); v3.Store(m + 48); v4.Store(m + 64); v5.Store(m + 80);
    }

    /// <summary>F(4, 5)'s A^T: rows e &lt; <paramref name="rows"/> of dst (stride inW) = m0..m6 summed, then the rows at 1, 2 and 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void DataRows4(float* dst, int inW, int rows, Vector512<float> real, Vector512<float> m0, Vector512<float> m1,
        Vector512<float> m2, Vector512<float> m3, Vector512<float> m4, Vector512<float> m5, Vector512<float> m6, Vector512<float> m7)
    {
        var s1 = m1 + m2; var d1 = m1 - m2; var s2 = m3 + m4; var d2 = m3 - m4; var s3 = m5 + m6; var d3 = m5 - m6;
        Avx512F.MaskStore(dst, real, m0 + s1 + s2 + s3);
        Avx512F.MaskStore(dst + inW, real, Vector512.FusedMultiplyAdd(Vector512.Create(0.5f), d3, Vector512.FusedMultiplyAdd(Vector512.Create(2f), d2, d1)));
        Avx512F.MaskStore(dst + 2 * inW, real, Vector512.FusedMultiplyAdd(Vector512.Create(0.25f), s3, Vector512.FusedMultiplyAdd(Vector512.Create(4f), s2, s1)));
        if (rows > 3)
            Avx512F.MaskStore(dst + 3 * inW, real, Vector512.FusedMultiplyAdd(Vector512.Create(0.125f), d3, Vector512.FusedMultiplyAdd(Vector512.Create(8f), d2, d1)) + m7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void DataRows2(float* dst, int inW, int rows, Vector512<float> real, Vector512<float> m0, Vector512<float> m1,
        Vector512<float> m2, Vector512<float> m3, Vector512<float> m4, Vector512<float> m7)
    {
        Avx512F.MaskStore(dst, real, m0 + (m1 + m2) + (m3 + m4));
        if (rows > 1) Avx512F.MaskStore(dst + inW, real, Vector512.FusedMultiplyAdd(Vector512.Create(2f), m3 - m4, m1 - m2) + m7);
    }
}
