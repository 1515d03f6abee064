using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// Backward data of the direct path in register tiles (Legend as in Conv2dDirect.cs; Cg, Kg per group).
//
// For a kernel row r, the scatter dXPad[c, t + r*dH*Wp + s*dW] += w[k, c, r, s] * dYGrid[k, t] lands on the positions
// o = r*dH*Wp + o' of the padded plane with o' in [0, OutH*Wp) (the grid's last real position plus the row's reach is
// exactly OutH*Wp), and o' gathers its taps: dXRow[c, r, o'] = sum over (k, s) of w[k, c, r, s] * dYGrid[k, o' - s*dW].
// A tile is 6 channels x 3 vectors of o' at one kernel row (or 4 x 5 when Cg is a multiple of 4 but not of 6): per
// (k, s) three unaligned loads of dY (shifted by s*dW, zeros before the grid and past its real positions) and six
// broadcast weights feed 18 FMAs held in registers (5 loads and 4 weights, 20 FMAs); after the Kg*S steps each
// accumulator is added once into dXPad. Tiles run in a fixed order (by column of vectors, then kernel row, then
// channels), each (k, s) chain in order, so every bit is independent of how images are shared out. Compared with the
// grid sweep (8 loads, 8 FMAs and a load/add/store of dXPad per tap and vector) the memory traffic per FMA falls from
// ~1.4 to 0.5, and no FMA waits on a store.
public sealed partial class CpuBackend
{
    /// <summary>Input channels and 16-float vectors of positions per tile: 6 x 3 (18 accumulators), else 4 x 5 (20).</summary>
    private const int DataTileChannels = 6, DataTileVectors = 3, DataTileNarrowChannels = 4, DataTileNarrowVectors = 5;

    /// <summary>Most floats of dY grids a chunk of the tiled backward data lays out (2 MB of the 8 MB of scratch per thread).</summary>
    private const int DataTileMaxGradientFloats = 1 << 19;

    /// <summary>Set false by tests to run the grid sweep where the tiled backward data would run.</summary>
    internal static bool DataTilesEnabled { get; set; } = true;

    /// <summary>Whether the backward data of <paramref name="g"/> runs through the tiles (for tests).</summary>
    internal static bool TakesDataTiles(in Conv2dGeometry g)
    {
        var geo = Packable(g);
        return UseDirect(geo) && UseDataTiles(geo);
    }

    /// <summary>
    /// AVX-512 (<see cref="GemmKernels.Use512"/>), input channels per group a multiple of 6 or 4 (no tile computes
    /// padding channels), and the chunk's dY grids inside the scratch bound.
    /// </summary>
    private static bool UseDataTiles(in Conv2dGeometry g) =>
        DataTilesEnabled && GemmKernels.Use512
        && (g.InChannelsPerGroup % DataTileChannels == 0 || g.InChannelsPerGroup % DataTileNarrowChannels == 0)
        && (long)g.OutChannelsPerGroup * DataTileLayout.Of(g).Row <= DataTileMaxGradientFloats;

    /// <summary>
    /// The tile (Channels x TileVectors) and one chunk's scratch: Vectors (vectors of o', a multiple of TileVectors), Lead
    /// (zeros before each dY grid, a whole number of vectors covering the widest shift (S-1)*dW), Row = Lead + 16*Vectors
    /// (floats per dY grid), Plane (floats per padded dX plane: the last kernel row's reach, at least Hp*Wp).
    /// </summary>
    private readonly record struct DataTileLayout(int Channels, int TileVectors, int Vectors, int Lead, int Row, int Plane)
    {
        public static DataTileLayout Of(in Conv2dGeometry g)
        {
            bool wide = g.InChannelsPerGroup % DataTileChannels == 0;
            int channels = wide ? DataTileChannels : DataTileNarrowChannels, tileVectors = wide ? DataTileVectors : DataTileNarrowVectors;
            int wp = g.InWidth + g.Padding.Left + g.Padding.Right;
            int vectors = (g.OutHeight * wp + 15) / 16;
            vectors = (vectors + tileVectors - 1) / tileVectors * tileVectors;
            int lead = ((g.Kernel.Width - 1) * g.Dilation.Width + 15) / 16 * 16;
            int plane = ((g.Kernel.Height - 1) * g.Dilation.Height * wp + 16 * vectors + 15) / 16 * 16;
            return new DataTileLayout(channels, tileVectors, vectors, lead, lead + 16 * vectors, plane);
        }
    }

    /// <summary>
    /// Backward data by tiles: dX[n, grp*Cg + c] = the interior of dXPad[c] = sum over r of dXRow[c, r] placed at
    /// r*dH*Wp (overwritten). Chunks are (image, group).
    /// </summary>
    private unsafe void Conv2dDirectBackwardDataTiles(Conv2dGeometry g, float* dY, float* w, float* dX)
    {
        Wide512Meter.Enter();
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, R = g.Kernel.Height, S = g.Kernel.Width;
        var layout = DataTileLayout.Of(g);
        var weightTiles = Rent(g.Groups * R * cg * kg * S);
        // F(4, 5) down the columns (Conv2dWinogradBackwardData.cs) where it applies and the weights are finite; an image
        // whose dY holds a NaN or an infinity still runs the tiles
        bool winograd = UseWinogradData(g);
        var transformed = winograd ? Rent(g.Groups * cg * kg * S * HybridPoints) : null;
        try
        {
            fixed (float* wt = weightTiles, u = transformed)
            {
                DataTileWeights(g, w, layout.Channels, wt);
                if (winograd && !WinogradDataWeights(g, w, u)) winograd = false;
                var winogradLayout = WinogradDataLayout.Of(g);
                _workers.For(g.Batch * g.Groups, (g, layout, (nint)dY, (nint)wt, (nint)dX, winograd ? (nint)u : 0, winogradLayout), static (s, chunk) =>
                {
                    var (g, layout, dYAt, wtAt, dXAt, uAt, winogradLayout) = s;
                    int n = chunk / g.Groups, grp = chunk % g.Groups;
                    if (uAt != 0 && WinogradDataImage(g, winogradLayout, (float*)dYAt, (float*)uAt, (float*)dXAt, n, grp)) return;
                    DataTileImage(g, layout, (float*)dYAt, (float*)wtAt, (float*)dXAt, n, grp);
                });
            }
        }
        finally
        {
            Return(weightTiles);
            if (transformed is not null) Return(transformed);
        }
    }

    /// <summary>
    /// wTiles[grp, r, cTile, k, s, i] = w[grp*Kg + k, cTile*channels + i, r, s]: per kernel row and tile of channels, the
    /// weights in the order a tile steps through them.
    /// </summary>
    private static unsafe void DataTileWeights(in Conv2dGeometry g, float* w, int channels, float* wTiles)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, R = g.Kernel.Height, S = g.Kernel.Width;
        float* dst = wTiles;
        for (int grp = 0; grp < g.Groups; grp++)
            for (int r = 0; r < R; r++)
                for (int c0 = 0; c0 < cg; c0 += channels)
                    for (int k = 0; k < kg; k++)
                        for (int s = 0; s < S; s++)
                            for (int i = 0; i < channels; i++)
                                *dst++ = w[(((nint)(grp * kg + k) * cg + c0 + i) * R + r) * S + s];
    }

    /// <summary>Image n, group grp: lay out the dY grids, run the tiles, copy the interior of dXPad to dX.</summary>
    private static unsafe void DataTileImage(in Conv2dGeometry g, DataTileLayout layout, float* dY, float* wTiles, float* dX, int n, int grp)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, R = g.Kernel.Height, S = g.Kernel.Width;
        int outH = g.OutHeight, outW = g.OutWidth, pq = outH * outW, inH = g.InHeight, inW = g.InWidth, hw = inH * inW;
        int wp = inW + g.Padding.Left + g.Padding.Right;
        // + 16: the last grid row's last vector may spill up to 15 zeros past the last dY grid
        float* dXPad = DirectScratch((long)cg * layout.Plane + (long)kg * layout.Row + 16);
        float* dYGrids = dXPad + (nint)cg * layout.Plane;
        new Span<float>(dXPad, cg * layout.Plane).Clear();
        for (int k = 0; k < kg; k++)
            GradientRows(dYGrids + (nint)k * layout.Row, dY + ((nint)n * g.OutChannels + grp * kg + k) * pq, outH, outW, wp, layout);
        // a column of tiles (its dY slice stays in L1) through every kernel row and tile of channels
        float* wGroup = wTiles + (nint)grp * R * cg * kg * S;
        for (int v0 = 0; v0 < layout.Vectors; v0 += layout.TileVectors)
        {
            float* wt = wGroup, column = dYGrids + layout.Lead + 16 * v0;
            for (int r = 0; r < R; r++)
                for (int c0 = 0; c0 < cg; c0 += layout.Channels, wt += layout.Channels * kg * S)
                {
                    float* dst = dXPad + (nint)c0 * layout.Plane + (nint)r * g.Dilation.Height * wp + 16 * v0;
                    if (layout.Channels == DataTileChannels) DataTile(column, layout.Row, kg, S, g.Dilation.Width, wt, dst, layout.Plane);
                    else DataTileNarrow(column, layout.Row, kg, S, g.Dilation.Width, wt, dst, layout.Plane);
                }
        }
        float* dXImage = dX + ((nint)n * g.InChannels + grp * cg) * hw;
        float* interior = dXPad + (nint)g.Padding.Top * wp + g.Padding.Left;
        for (int c = 0; c < cg; c++)
            if (wp == inW) PanelCopy.Copy(dXImage + (nint)c * hw, interior + (nint)c * layout.Plane, hw); // no left or right padding: the rows are contiguous
            else
                for (int h = 0; h < inH; h++)
                    PanelCopy.Copy(dXImage + (nint)c * hw + (nint)h * inW, interior + (nint)c * layout.Plane + (nint)h * wp, inW);
    }

    /// <summary>
    /// grid[Lead + p*Wp + q] = plane[p, q] for q &lt; Q, 0 elsewhere in [0, Row): each row of the grid is whole masked
    /// vectors (zeros past Q) whose last one spills up to 15 zeros into the next row, which is written after it.
    /// </summary>
    private static unsafe void GradientRows(float* grid, float* plane, int outH, int outW, int wp, DataTileLayout layout)
    {
        PanelCopy.Zero(grid, layout.Lead);
        float* first = grid + layout.Lead;
        for (int p = 0; p < outH; p++)
            for (int q = 0; q < wp; q += 16)
            {
                var real = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(outW - q)).AsSingle();
                Avx512F.MaskLoad(plane + (nint)p * outW + q, real, Vector512<float>.Zero).Store(first + (nint)p * wp + q);
            }
        PanelCopy.Zero(first + outH * wp, layout.Row - layout.Lead - outH * wp);
    }

    /// <summary>
    /// dst[i*plane + j] += sum over k, then s, of wTile[k, s, i] * dY[k*row + j - s*dW] for 6 channels i and the 48
    /// positions j of 3 vectors: 18 accumulators, per (k, s) 3 loads and 6 broadcasts.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DataTile(float* dY, nint row, int kg, int S, int dilation, float* wTile, float* dst, nint plane)
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a50 = default, a51 = default, a52 = default;
        float* wt = wTile;
        for (int k = 0; k < kg; k++)
        {
            float* d = dY + k * row;
            for (int s = 0; s < S; s++, d -= dilation, wt += DataTileChannels)
            {
                var x0 = Vector512.Load(d);
                var x1 = Vector512.Load(d + 16);
                var x2 = Vector512.Load(d + 32);
                var b = Vector512.Create(wt[0]);
                a00 = Vector512.FusedMultiplyAdd(x0, b, a00);
                a01 = Vector512.FusedMultiplyAdd(x1, b, a01);
                a02 = Vector512.FusedMultiplyAdd(x2, b, a02);
                b = Vector512.Create(wt[1]);
                a10 = Vector512.FusedMultiplyAdd(x0, b, a10);
                a11 = Vector512.FusedMultiplyAdd(x1, b, a11);
                a12 = Vector512.FusedMultiplyAdd(x2, b, a12);
                b = Vector512.Create(wt[2]);
                a20 = Vector512.FusedMultiplyAdd(x0, b, a20);
                a21 = Vector512.FusedMultiplyAdd(x1, b, a21);
                a22 = Vector512.FusedMultiplyAdd(x2, b, a22);
                b = Vector512.Create(wt[3]);
                a30 = Vector512.FusedMultiplyAdd(x0, b, a30);
                a31 = Vector512.FusedMultiplyAdd(x1, b, a31);
                a32 = Vector512.FusedMultiplyAdd(x2, b, a32);
                b = Vector512.Create(wt[4]);
                a40 = Vector512.FusedMultiplyAdd(x0, b, a40);
                a41 = Vector512.FusedMultiplyAdd(x1, b, a41);
                a42 = Vector512.FusedMultiplyAdd(x2, b, a42);
                b = Vector512.Create(wt[5]);
                a50 = Vector512.FusedMultiplyAdd(x0, b, a50);
                a51 = Vector512.FusedMultiplyAdd(x1, b, a51);
                a52 = Vector512.FusedMultiplyAdd(x2, b, a52);
            }
        }
        AddTo(dst, a00, a01, a02);
        AddTo(dst + plane, a10, a11, a12);
        AddTo(dst + 2 * plane, a20, a21, a22);
        AddTo(dst + 3 * plane, a30, a31, a32);
        AddTo(dst + 4 * plane, a40, a41, a42);
        AddTo(dst + 5 * plane, a50, a51, a52);
    }

    /// <summary><see cref="DataTile"/> for 4 channels i and the 80 positions j of 5 vectors: 20 accumulators, per (k, s) 5 loads and 4 broadcasts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DataTileNarrow(float* dY, nint row, int kg, int S, int dilation, float* wTile, float* dst, nint plane)
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a24 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default, a34 = default;
        float* wt = wTile;
        for (int k = 0; k < kg; k++)
        {
            float* d = dY + k * row;
            for (int s = 0; s < S; s++, d -= dilation, wt += DataTileNarrowChannels)
            {
                var x0 = Vector512.Load(d);
                var x1 = Vector512.Load(d + 16);
                var x2 = Vector512.Load(d + 32);
                var x3 = Vector512.Load(d + 48);
                var x4 = Vector512.Load(d + 64);
                var b = Vector512.Create(wt[0]);
                a00 = Vector512.FusedMultiplyAdd(x0, b, a00);
                a01 = Vector512.FusedMultiplyAdd(x1, b, a01);
                a02 = Vector512.FusedMultiplyAdd(x2, b, a02);
                a03 = Vector512.FusedMultiplyAdd(x3, b, a03);
                a04 = Vector512.FusedMultiplyAdd(x4, b, a04);
                b = Vector512.Create(wt[1]);
                a10 = Vector512.FusedMultiplyAdd(x0, b, a10);
                a11 = Vector512.FusedMultiplyAdd(x1, b, a11);
                a12 = Vector512.FusedMultiplyAdd(x2, b, a12);
                a13 = Vector512.FusedMultiplyAdd(x3, b, a13);
                a14 = Vector512.FusedMultiplyAdd(x4, b, a14);
                b = Vector512.Create(wt[2]);
                a20 = Vector512.FusedMultiplyAdd(x0, b, a20);
                a21 = Vector512.FusedMultiplyAdd(x1, b, a21);
                a22 = Vector512.FusedMultiplyAdd(x2, b, a22);
                a23 = Vector512.FusedMultiplyAdd(x3, b, a23);
                a24 = Vector512.FusedMultiplyAdd(x4, b, a24);
                b = Vector512.Create(wt[3]);
                a30 = Vector512.FusedMultiplyAdd(x0, b, a30);
                a31 = Vector512.FusedMultiplyAdd(x1, b, a31);
                a32 = Vector512.FusedMultiplyAdd(x2, b, a32);
                a33 = Vector512.FusedMultiplyAdd(x3, b, a33);
                a34 = Vector512.FusedMultiplyAdd(x4, b, a34);
            }
        }
        AddTo(dst, a00, a01, a02);
        AddTo(dst + 48, a03, a04);
        AddTo(dst + plane, a10, a11, a12);
        AddTo(dst + plane + 48, a13, a14);
        AddTo(dst + 2 * plane, a20, a21, a22);
        AddTo(dst + 2 * plane + 48, a23, a24);
        AddTo(dst + 3 * plane, a30, a31, a32);
        AddTo(dst + 3 * plane + 48, a33, a34);
    }

    /// <summary>dst[0 .. 31] += the two vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddTo(float* dst, Vector512<float> v0, Vector512<float> v1)
    {
        (Vector512.Load(dst) + v0).Store(dst);
        (Vector512.Load(dst + 16) + v1).Store(dst + 16);
    }

    /// <summary>dst[0 .. 47] += the three vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddTo(float* dst, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2)
    {
        (Vector512.Load(dst) + v0).Store(dst);
        (Vector512.Load(dst + 16) + v1).Store(dst + 16);
        (Vector512.Load(dst + 32) + v2).Store(dst + 32);
    }
}
