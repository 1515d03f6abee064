using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

// The direct forward with output channels in the vector lanes (Legend as in Conv2dDirect.cs). The grid sweep computes
// every column of the padded width Wp, so narrow outputs waste lanes (LeNet's second layer: 10 of 14 columns are
// real); with 16 output channels per vector, a tile of 10 output pixels of one row is 10 accumulators, each tap one
// load of 16 weights and 10 FMAs with x broadcast from the padded plane (kernels 5 wide: two rows, 20 accumulators,
// see ChannelVectorTileRows5). Each output is the same FMA chain over the taps in (c, r, s) order from zero, then
// + bias, as in the grid sweep, so both give the same bits.
public sealed partial class CpuBackend
{
    /// <summary>Output channels per vector and pixels of a row per tile (10 accumulators).</summary>
    private const int ChannelVector = 16, ChannelTilePixels = 10;

    /// <summary>Set false by tests to run the grid sweep where the channel-vector forward would run.</summary>
    internal static bool ChannelVectorsEnabled { get; set; } = true;

    /// <summary>Whether the forward of <paramref name="g"/> runs through the channel-vector kernel (for tests).</summary>
    internal static bool TakesChannelVectors(in Conv2dGeometry g)
    {
        var geo = Packable(g);
        return UseDirect(geo) && UseChannelVectors(geo, DirectGrid.Of(geo));
    }

    /// <summary>Whether the weight gradient of <paramref name="g"/> runs through the channel-vector kernel (for tests).</summary>
    internal static bool TakesChannelVectorWeightGradient(in Conv2dGeometry g)
    {
        var geo = Packable(g);
        return UseDirect(geo) && UseChannelVectorWeightGradient(geo, DirectGrid.Of(geo));
    }

    /// <summary>Whether <paramref name="g"/> runs through the direct path at all (for tests).</summary>
    internal static bool TakesDirect(in Conv2dGeometry g) => UseDirect(Packable(g));

    /// <summary>Whole 16-channel blocks, and fewer tile pixels than grid positions (columns wasted by the grid sweep).</summary>
    private static bool UseChannelVectors(in Conv2dGeometry g, DirectGrid grid) =>
        ChannelVectorsEnabled && GemmKernels.Use512 && g.OutChannelsPerGroup % ChannelVector == 0
        && (long)g.OutHeight * ((g.OutWidth + ChannelTilePixels - 1) / ChannelTilePixels * ChannelTilePixels) < grid.T;

    /// <summary>
    /// y[n, k0 + i, p, q0 + j] = bias[k0 + i] + sum over taps of wTaps[tap, i] * xPad[tap's offset + p*Wp + q0 + j];
    /// chunks are (image, group), or (image, group, 16-channel block) when there are few images and groups.
    /// Without padding and with rows of whole tiles (LeNet's second layer: 10 x 10 outputs), no tile reads past its
    /// row, so the kernels read the input planes in place instead of a padded copy.
    /// </summary>
    private unsafe void Conv2dDirectChannels(Conv2dGeometry g, DirectGrid grid, float* x, float* w, float* bias, float* y)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, blocks = kg / ChannelVector;
        int taps = cg * g.Kernel.Height * g.Kernel.Width, images = g.Batch * g.Groups;
        int blocksPerChunk = images >= DirectMinImageChunks ? blocks : 1;
        bool inPlace = ReadsInPlace(g);
        var reads = inPlace ? grid with { Plane = g.InHeight * g.InWidth } : grid;
        // offsets[tap] = c*Plane + r*dH*Wp + s*dW, per tap, or per kernel row (c, r) when rows are 5 taps at
        // dilation 1 (the first tap's offset of each row); the same for every image
        bool rowsOfFive = g.Kernel.Width == 5 && g.Dilation.Width == 1;
        int* offsets = stackalloc int[rowsOfFive ? taps / 5 : taps];
        TapOffsets(g, reads, rowsOfFive ? 1 : g.Kernel.Width, offsets);
        var weightTaps = Rent(g.Groups * blocks * taps * ChannelVector);
        try
        {
            fixed (float* wt = weightTaps)
            {
                DirectWeightTaps(g, w, wt, ChannelVector);
                var plan = new ChannelVectorPlan(reads, (nint)offsets, rowsOfFive, inPlace, taps, blocksPerChunk);
                _workers.For(images * (blocks / blocksPerChunk), (g, plan, (nint)x, (nint)wt, (nint)bias, (nint)y), static (s, chunk) =>
                {
                    var (g, plan, xAt, wtAt, biasAt, yAt) = s;
                    int chunksPerImage = g.OutChannelsPerGroup / ChannelVector / plan.BlocksPerChunk, image = chunk / chunksPerImage;
                    int first = chunk % chunksPerImage * plan.BlocksPerChunk;
                    ChannelVectorImage(g, plan, (float*)xAt, (float*)wtAt, (float*)biasAt, (float*)yAt, image / g.Groups, image % g.Groups, first, first + plan.BlocksPerChunk);
                });
            }
        }
        finally
        {
            Return(weightTaps);
        }
    }

    /// <summary>
    /// Whether the channel-vector forward reads the input planes in place: no padding, rows of whole tiles, and a
    /// block's outputs (staged [pixel, channel], one row more) within <see cref="InPlaceMaxTileFloats"/>.
    /// </summary>
    internal static bool ReadsInPlace(in Conv2dGeometry g) =>
        g.Padding == default && g.OutWidth % ChannelTilePixels == 0 && (long)(g.OutHeight + 1) * g.OutWidth * ChannelVector <= InPlaceMaxTileFloats;

    /// <summary>Most floats of staged outputs an in-place chunk holds (1 MB of the 8 MB of scratch per thread; LeNet's 10 x 10 needs 7 KB).</summary>
    private const int InPlaceMaxTileFloats = 1 << 18;

    /// <summary>
    /// What every chunk of one channel-vector forward shares: the planes it reads (the padded copy's grid, or the input's
    /// own planes when <see cref="InPlace"/>), the tap offsets in them, and the kernel.
    /// </summary>
    private readonly record struct ChannelVectorPlan(DirectGrid Reads, nint Offsets, bool RowsOfFive, bool InPlace, int Taps, int BlocksPerChunk);

    /// <summary>
    /// Blocks [first, end) of image n, group grp: pad the planes (unless read in place), then every row's tiles, into
    /// y through 16 x 16 transposes: tile by tile, or, when rows are whole tiles, once per block from the block's
    /// pixels laid out [pixel, channel] (16 pixels per transpose across rows: 7 instead of 10 for 10 x 10 outputs).
    /// </summary>
    private static unsafe void ChannelVectorImage(in Conv2dGeometry g, in ChannelVectorPlan plan, float* x, float* wTaps, float* bias, float* y, int n, int grp, int first, int end)
    {
        Wide512Meter.Enter();
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, taps = plan.Taps;
        int outH = g.OutHeight, outW = g.OutWidth, pq = outH * outW, blocks = kg / ChannelVector;
        var grid = plan.Reads;
        float* xImage = x + ((nint)n * g.InChannels + grp * cg) * g.InHeight * g.InWidth;
        // the padded copy (unless in place), then the tiles: 2 rows of 10 pixels, or in place the block's pq pixels
        // and one row more (a lone last row's kernel also stores the row after it)
        long tileFloats = plan.InPlace ? (long)(pq + outW) * ChannelVector : 2 * ChannelTilePixels * ChannelVector;
        float* xPad = DirectScratch((plan.InPlace ? 0 : (long)cg * grid.Plane) + tileFloats);
        float* tile = plan.InPlace ? xPad : xPad + (nint)cg * grid.Plane;
        if (plan.InPlace) xPad = xImage;
        else PadPlanes(g, grid, xImage, xPad);
        int* offsets = (int*)plan.Offsets;
        // rows of five: two output rows per tile (the last alone when OutH is odd); else one
        int rowStep = plan.RowsOfFive ? 2 : 1;
        nint tileNext = plan.InPlace ? (nint)outW * ChannelVector : ChannelTilePixels * ChannelVector;
        for (int block = first; block < end; block++)
        {
            int k0 = grp * kg + block * ChannelVector;
            var biasLanes = bias is null ? Vector512<float>.Zero : Vector512.Load(bias + k0);
            float* wt = wTaps + (nint)(grp * blocks + block) * taps * ChannelVector;
            float* yBlock = y + ((nint)n * g.OutChannels + k0) * pq;
            for (int p = 0; p < outH; p += rowStep)
            {
                int tileRows = Math.Min(rowStep, outH - p);
                for (int q0 = 0; q0 < outW; q0 += ChannelTilePixels)
                {
                    float* xTile = xPad + (nint)p * grid.Wp + q0;
                    float* at = plan.InPlace ? tile + ((nint)p * outW + q0) * ChannelVector : tile;
                    if (plan.RowsOfFive) ChannelVectorTileRows5(xTile, tileRows == 2 ? grid.Wp : 0, offsets, taps / 5, wt, biasLanes, at, tileNext);
                    else ChannelVectorTile(xTile, offsets, taps, wt, biasLanes, at);
                    if (plan.InPlace) continue;
                    // tile[row, j, i] -> y[k0 + i, p + row, q0 + j] for the tile's real pixels
                    for (int row = 0; row < tileRows; row++)
                        PanelTranspose.Block16(tile + row * tileNext, ChannelVector, Math.Min(ChannelTilePixels, outW - q0),
                            Vector512<float>.One, yBlock + (p + row) * outW + q0, pq);
                }
            }
            // tile[pixel, i] -> y[k0 + i, pixel], 16 pixels at a time
            if (plan.InPlace)
                for (int pixel = 0; pixel < pq; pixel += ChannelVector)
                    PanelTranspose.Block16(tile + (nint)pixel * ChannelVector, ChannelVector, Math.Min(ChannelVector, pq - pixel), Vector512<float>.One, yBlock + pixel, pq);
        }
    }

    /// <summary>
    /// <see cref="ChannelVectorTile"/> for kernels 5 wide at dilation 1 on two output rows at once (tile[0..10) the
    /// row at <paramref name="x"/>, tile[tileNext/16 ..) the row <paramref name="next"/> floats further; next = 0
    /// computes the first row twice), a kernel row (c, r) at a time: its 5 weight vectors stay in registers and each of the 14
    /// pixels under each tile row is broadcast once for the up to 5 (pixel j, tap s) with j + s = u (33 loads per 100
    /// FMAs). The two rows' 20 accumulators are independent chains, interleaved so that each row's 5-FMA chains per
    /// kernel row overlap the other's. Accumulator j still adds its taps in (c, r, s) order, so the bits are the
    /// per-tap kernel's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ChannelVectorTileRows5(float* x, nint next, int* rowOffsets, int rows, float* wTaps, Vector512<float> bias, float* tile, nint tileNext)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default;
        Vector512<float> a5 = default, a6 = default, a7 = default, a8 = default, a9 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default;
        Vector512<float> c5 = default, c6 = default, c7 = default, c8 = default, c9 = default;
        for (int row = 0; row < rows; row++)
        {
            float* xr = x + rowOffsets[row], xs = xr + next;
            float* w = wTaps + (nint)row * 5 * ChannelVector;
            var w0 = Vector512.Load(w);
            var w1 = Vector512.Load(w + ChannelVector);
            var w2 = Vector512.Load(w + 2 * ChannelVector);
            var w3 = Vector512.Load(w + 3 * ChannelVector);
            var w4 = Vector512.Load(w + 4 * ChannelVector);
            var b = Vector512.Create(xr[0]);
            a0 = Vector512.FusedMultiplyAdd(w0, b, a0);
            b = Vector512.Create(xs[0]);
            c0 = Vector512.FusedMultiplyAdd(w0, b, c0);
            b = Vector512.Create(xr[1]);
            a1 = Vector512.FusedMultiplyAdd(w0, b, a1);
            a0 = Vector512.FusedMultiplyAdd(w1, b, a0);
            b = Vector512.Create(xs[1]);
            c1 = Vector512.FusedMultiplyAdd(w0, b, c1);
            c0 = Vector512.FusedMultiplyAdd(w1, b, c0);
            b = Vector512.Create(xr[2]);
            a2 = Vector512.FusedMultiplyAdd(w0, b, a2);
            a1 = Vector512.FusedMultiplyAdd(w1, b, a1);
            a0 = Vector512.FusedMultiplyAdd(w2, b, a0);
            b = Vector512.Create(xs[2]);
            c2 = Vector512.FusedMultiplyAdd(w0, b, c2);
            c1 = Vector512.FusedMultiplyAdd(w1, b, c1);
            c0 = Vector512.FusedMultiplyAdd(w2, b, c0);
            b = Vector512.Create(xr[3]);
            a3 = Vector512.FusedMultiplyAdd(w0, b, a3);
            a2 = Vector512.FusedMultiplyAdd(w1, b, a2);
            a1 = Vector512.FusedMultiplyAdd(w2, b, a1);
            a0 = Vector512.FusedMultiplyAdd(w3, b, a0);
            b = Vector512.Create(xs[3]);
            c3 = Vector512.FusedMultiplyAdd(w0, b, c3);
            c2 = Vector512.FusedMultiplyAdd(w1, b, c2);
            c1 = Vector512.FusedMultiplyAdd(w2, b, c1);
            c0 = Vector512.FusedMultiplyAdd(w3, b, c0);
            b = Vector512.Create(xr[4]);
            a4 = Vector512.FusedMultiplyAdd(w0, b, a4);
            a3 = Vector512.FusedMultiplyAdd(w1, b, a3);
            a2 = Vector512.FusedMultiplyAdd(w2, b, a2);
            a1 = Vector512.FusedMultiplyAdd(w3, b, a1);
            a0 = Vector512.FusedMultiplyAdd(w4, b, a0);
            b = Vector512.Create(xs[4]);
            c4 = Vector512.FusedMultiplyAdd(w0, b, c4);
            c3 = Vector512.FusedMultiplyAdd(w1, b, c3);
            c2 = Vector512.FusedMultiplyAdd(w2, b, c2);
            c1 = Vector512.FusedMultiplyAdd(w3, b, c1);
            c0 = Vector512.FusedMultiplyAdd(w4, b, c0);
            b = Vector512.Create(xr[5]);
            a5 = Vector512.FusedMultiplyAdd(w0, b, a5);
            a4 = Vector512.FusedMultiplyAdd(w1, b, a4);
            a3 = Vector512.FusedMultiplyAdd(w2, b, a3);
            a2 = Vector512.FusedMultiplyAdd(w3, b, a2);
            a1 = Vector512.FusedMultiplyAdd(w4, b, a1);
            b = Vector512.Create(xs[5]);
            c5 = Vector512.FusedMultiplyAdd(w0, b, c5);
            c4 = Vector512.FusedMultiplyAdd(w1, b, c4);
            c3 = Vector512.FusedMultiplyAdd(w2, b, c3);
            c2 = Vector512.FusedMultiplyAdd(w3, b, c2);
            c1 = Vector512.FusedMultiplyAdd(w4, b, c1);
            b = Vector512.Create(xr[6]);
            a6 = Vector512.FusedMultiplyAdd(w0, b, a6);
            a5 = Vector512.FusedMultiplyAdd(w1, b, a5);
            a4 = Vector512.FusedMultiplyAdd(w2, b, a4);
            a3 = Vector512.FusedMultiplyAdd(w3, b, a3);
            a2 = Vector512.FusedMultiplyAdd(w4, b, a2);
            b = Vector512.Create(xs[6]);
            c6 = Vector512.FusedMultiplyAdd(w0, b, c6);
            c5 = Vector512.FusedMultiplyAdd(w1, b, c5);
            c4 = Vector512.FusedMultiplyAdd(w2, b, c4);
            c3 = Vector512.FusedMultiplyAdd(w3, b, c3);
            c2 = Vector512.FusedMultiplyAdd(w4, b, c2);
            b = Vector512.Create(xr[7]);
            a7 = Vector512.FusedMultiplyAdd(w0, b, a7);
            a6 = Vector512.FusedMultiplyAdd(w1, b, a6);
            a5 = Vector512.FusedMultiplyAdd(w2, b, a5);
            a4 = Vector512.FusedMultiplyAdd(w3, b, a4);
            a3 = Vector512.FusedMultiplyAdd(w4, b, a3);
            b = Vector512.Create(xs[7]);
            c7 = Vector512.FusedMultiplyAdd(w0, b, c7);
            c6 = Vector512.FusedMultiplyAdd(w1, b, c6);
            c5 = Vector512.FusedMultiplyAdd(w2, b, c5);
            c4 = Vector512.FusedMultiplyAdd(w3, b, c4);
            c3 = Vector512.FusedMultiplyAdd(w4, b, c3);
            b = Vector512.Create(xr[8]);
            a8 = Vector512.FusedMultiplyAdd(w0, b, a8);
            a7 = Vector512.FusedMultiplyAdd(w1, b, a7);
            a6 = Vector512.FusedMultiplyAdd(w2, b, a6);
            a5 = Vector512.FusedMultiplyAdd(w3, b, a5);
            a4 = Vector512.FusedMultiplyAdd(w4, b, a4);
            b = Vector512.Create(xs[8]);
            c8 = Vector512.FusedMultiplyAdd(w0, b, c8);
            c7 = Vector512.FusedMultiplyAdd(w1, b, c7);
            c6 = Vector512.FusedMultiplyAdd(w2, b, c6);
            c5 = Vector512.FusedMultiplyAdd(w3, b, c5);
            c4 = Vector512.FusedMultiplyAdd(w4, b, c4);
            b = Vector512.Create(xr[9]);
            a9 = Vector512.FusedMultiplyAdd(w0, b, a9);
            a8 = Vector512.FusedMultiplyAdd(w1, b, a8);
            a7 = Vector512.FusedMultiplyAdd(w2, b, a7);
            a6 = Vector512.FusedMultiplyAdd(w3, b, a6);
            a5 = Vector512.FusedMultiplyAdd(w4, b, a5);
            b = Vector512.Create(xs[9]);
            c9 = Vector512.FusedMultiplyAdd(w0, b, c9);
            c8 = Vector512.FusedMultiplyAdd(w1, b, c8);
            c7 = Vector512.FusedMultiplyAdd(w2, b, c7);
            c6 = Vector512.FusedMultiplyAdd(w3, b, c6);
            c5 = Vector512.FusedMultiplyAdd(w4, b, c5);
            b = Vector512.Create(xr[10]);
            a9 = Vector512.FusedMultiplyAdd(w1, b, a9);
            a8 = Vector512.FusedMultiplyAdd(w2, b, a8);
            a7 = Vector512.FusedMultiplyAdd(w3, b, a7);
            a6 = Vector512.FusedMultiplyAdd(w4, b, a6);
            b = Vector512.Create(xs[10]);
            c9 = Vector512.FusedMultiplyAdd(w1, b, c9);
            c8 = Vector512.FusedMultiplyAdd(w2, b, c8);
            c7 = Vector512.FusedMultiplyAdd(w3, b, c7);
            c6 = Vector512.FusedMultiplyAdd(w4, b, c6);
            b = Vector512.Create(xr[11]);
            a9 = Vector512.FusedMultiplyAdd(w2, b, a9);
            a8 = Vector512.FusedMultiplyAdd(w3, b, a8);
            a7 = Vector512.FusedMultiplyAdd(w4, b, a7);
            b = Vector512.Create(xs[11]);
            c9 = Vector512.FusedMultiplyAdd(w2, b, c9);
            c8 = Vector512.FusedMultiplyAdd(w3, b, c8);
            c7 = Vector512.FusedMultiplyAdd(w4, b, c7);
            b = Vector512.Create(xr[12]);
            a9 = Vector512.FusedMultiplyAdd(w3, b, a9);
            a8 = Vector512.FusedMultiplyAdd(w4, b, a8);
            b = Vector512.Create(xs[12]);
            c9 = Vector512.FusedMultiplyAdd(w3, b, c9);
            c8 = Vector512.FusedMultiplyAdd(w4, b, c8);
            b = Vector512.Create(xr[13]);
            a9 = Vector512.FusedMultiplyAdd(w4, b, a9);
            b = Vector512.Create(xs[13]);
            c9 = Vector512.FusedMultiplyAdd(w4, b, c9);
        }
        StoreTile(tile, bias, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9);
        StoreTile(tile + tileNext, bias, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9);
    }

    /// <summary>tile[j, :] = a_j + bias for the 10 pixels j of a tile row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreTile(float* tile, Vector512<float> bias, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2,
        Vector512<float> a3, Vector512<float> a4, Vector512<float> a5, Vector512<float> a6, Vector512<float> a7, Vector512<float> a8, Vector512<float> a9)
    {
        (a0 + bias).Store(tile);
        (a1 + bias).Store(tile + ChannelVector);
        (a2 + bias).Store(tile + 2 * ChannelVector);
        (a3 + bias).Store(tile + 3 * ChannelVector);
        (a4 + bias).Store(tile + 4 * ChannelVector);
        (a5 + bias).Store(tile + 5 * ChannelVector);
        (a6 + bias).Store(tile + 6 * ChannelVector);
        (a7 + bias).Store(tile + 7 * ChannelVector);
        (a8 + bias).Store(tile + 8 * ChannelVector);
        (a9 + bias).Store(tile + 9 * ChannelVector);
    }

    /// <summary>
    /// offsets[tap] = c*Plane + r*dH*Wp + s*dW for the taps (c, r, s &lt; <paramref name="columns"/>) in order: every
    /// tap for columns = S, the first tap of each kernel row for columns = 1.
    /// </summary>
    private static unsafe void TapOffsets(in Conv2dGeometry g, DirectGrid grid, int columns, int* offsets)
    {
        int cg = g.InChannelsPerGroup, rows = g.Kernel.Height, rowStep = g.Dilation.Height * grid.Wp, dW = g.Dilation.Width;
        int tap = 0;
        for (int c = 0; c < cg; c++)
            for (int r = 0; r < rows; r++)
                for (int s = 0; s < columns; s++)
                    offsets[tap++] = c * grid.Plane + r * rowStep + s * dW;
    }

    /// <summary>tile[j, :] = bias + sum over taps of wTaps[tap, :] * x[offsets[tap] + j] for the 10 pixels j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ChannelVectorTile(float* x, int* offsets, int taps, float* wTaps, Vector512<float> bias, float* tile)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default;
        Vector512<float> a5 = default, a6 = default, a7 = default, a8 = default, a9 = default;
        for (int tap = 0; tap < taps; tap++)
        {
            var wv = Vector512.Load(wTaps + (nint)tap * ChannelVector);
            float* xt = x + offsets[tap];
            a0 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[0]), a0);
            a1 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[1]), a1);
            a2 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[2]), a2);
            a3 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[3]), a3);
            a4 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[4]), a4);
            a5 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[5]), a5);
            a6 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[6]), a6);
            a7 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[7]), a7);
            a8 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[8]), a8);
            a9 = Vector512.FusedMultiplyAdd(wv, Vector512.Create(xt[9]), a9);
        }
        StoreTile(tile, bias, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9);
    }
}
