using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// The direct weight gradient with output channels in the vector lanes: the mirror of the channel-vector forward
// (Conv2dDirectChannels.cs), for the geometries whose forward runs there with kernels 5 wide (LeNet's second layer).
// dY of a 16-channel block is transposed to pixel-major rows, dYT[p, q, i] = dY[k0 + i, p, q] (q padded with zeros
// to whole tiles of 10); then for each kernel row (c, r) the 5 taps' gradients are 5 vectors over the 16 channels:
//   dW[k0 + i, c, r, s] = sum over images, rows p and columns q of dYT[p, q, i] * xPad[c, p + r, q + s].
// A tile of 10 pixels of a row keeps their 10 dY vectors in registers and broadcasts each of the 14 x values under
// the tile once for the up to 5 (pixel q, tap s) with q + s = u: 24 loads per 50 FMAs, and every lane is a real
// output channel (the grid tile kernel wastes the 4 padding columns of 14 on LeNet's 10-wide rows).
public sealed partial class CpuBackend
{
    /// <summary>Floats of dY rows per tile: 10 pixels of 16 channels.</summary>
    private const int WeightRowTile = ChannelTilePixels * ChannelVector;

    /// <summary>Most floats of a group's lane sums a chunk keeps (1 MB of the 8 MB of scratch per thread).</summary>
    private const int ChannelVectorWeightMaxFloats = 1 << 18;

    /// <summary>
    /// Kernels 5 wide at dilation 1 whose forward takes channel vectors (whole 16-channel blocks, tiles narrower than
    /// the grid), with a group's weights (its lane sums) within <see cref="ChannelVectorWeightMaxFloats"/>.
    /// </summary>
    private static bool UseChannelVectorWeightGradient(in Conv2dGeometry g, DirectGrid grid) =>
        UseChannelVectors(g, grid) && g.Kernel.Width == 5 && g.Dilation.Width == 1
        && (long)g.OutChannelsPerGroup * g.InChannelsPerGroup * g.Kernel.Height * 5 <= ChannelVectorWeightMaxFloats;

    /// <summary>
    /// lanes[grp, block, c, r, s, i] = the weight gradient dW[grp*Kg + block*16 + i, c, r, s] of images [first, end)
    /// (see the file's legend; <paramref name="lanes"/> starts at zero, <see cref="LaneSumsToWeights"/> lays the sums
    /// out as dW). Image after image, its padded planes and each block's transposed dY (L1-sized for LeNet) feed every
    /// kernel row, whose 5 lane vectors per block add up across the images.
    /// </summary>
    private static unsafe void ChannelVectorWeightGradientChunk(in Conv2dGeometry g, DirectGrid grid, float* x, float* dY, int first, int end, float* lanes)
    {
        Wide512Meter.Enter();
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, rows = cg * g.Kernel.Height, taps = rows * 5;
        int outH = g.OutHeight, outW = g.OutWidth, pq = outH * outW, tilesPerRow = (outW + ChannelTilePixels - 1) / ChannelTilePixels;
        nint dYImage = (nint)outH * tilesPerRow * WeightRowTile, rowLanes = 5 * ChannelVector;
        // + 16 pixels of slack: the last 16-pixel transpose may run past the image's rows (see TransposeGradient)
        float* xPad = DirectScratch((long)cg * grid.Plane + dYImage + 16 * ChannelVector + ChannelVector * ChannelVector);
        float* dYT = xPad + (nint)cg * grid.Plane;
        float* stage = dYT + dYImage + 16 * ChannelVector;
        // rowOffsets[row] = c*Plane + r*dH*Wp for the kernel rows (c, r)
        int* rowOffsets = stackalloc int[rows];
        TapOffsets(g, grid, 1, rowOffsets);
        long dYLength = (long)g.Batch * g.OutChannels * pq, readEnd = (pq + 15) / 16 * 16;
        for (int grp = 0; grp < g.Groups; grp++)
        {
            float* groupLanes = lanes + (nint)grp * kg * taps;
            for (int n = first; n < end; n++)
            {
                PadPlanes(g, grid, x + ((nint)n * g.InChannels + grp * cg) * g.InHeight * g.InWidth, xPad);
                for (int block = 0; block < kg / ChannelVector; block++)
                {
                    long start = ((long)n * g.OutChannels + grp * kg + block * ChannelVector) * pq;
                    bool readPast = start + 15L * pq + readEnd <= dYLength;
                    TransposeGradient(dY + start, outH, outW, tilesPerRow * ChannelTilePixels, readPast, stage, dYT);
                    for (int row = 0; row < rows; row++)
                        WeightGradientRow5(xPad + rowOffsets[row], dYT, outH, grid.Wp, tilesPerRow, groupLanes + (block * rows + row) * rowLanes);
                }
            }
        }
    }

    /// <summary>
    /// dW[grp*Kg + block*16 + i, tap] = lanes[grp, block, tap, i]: each 16-channel block's taps x 16 lane sums
    /// transposed 16 taps at a time (both layouts put the block at the same offset, (grp*Kg + block*16) * taps).
    /// </summary>
    private static unsafe void LaneSumsToWeights(in Conv2dGeometry g, float* lanes, float* dW)
    {
        int taps = g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width;
        for (int block = 0; block < g.OutChannels / ChannelVector; block++)
        {
            nint at = (nint)block * ChannelVector * taps;
            for (int tap = 0; tap < taps; tap += 16)
                PanelTranspose.Block16(lanes + at + (nint)tap * ChannelVector, ChannelVector, Math.Min(16, taps - tap), Vector512<float>.One, dW + at + tap, taps);
        }
    }

    /// <summary>
    /// dYT[p*rowPixels + q, i] = dY[i*P*Q + p*Q + q] for 16 channels i, q &lt; Q, and zero for Q &lt;= q &lt; rowPixels:
    /// the plane is transposed 16 pixels at a time as one run of P*Q pixels, its last partial 16 through a zero-padded
    /// stage unless reading 16 floats past the last channel's plane stays inside dY (<paramref name="readPast"/>),
    /// then rows are spread out to rowPixels from the last down when Q &lt; rowPixels. Up to 16 pixels past the last
    /// row may be written (dYT needs that slack; whatever is written there is never read as a pixel).
    /// </summary>
    private static unsafe void TransposeGradient(float* dY, int outH, int outW, int rowPixels, bool readPast, float* stage, float* dYT)
    {
        int pq = outH * outW, px = 0;
        for (; px + 16 <= pq || readPast && px < pq; px += 16)
            PanelTranspose.Block16(dY + px, pq, ChannelVector, Vector512<float>.One, dYT + (nint)px * ChannelVector, ChannelVector);
        if (px < pq)
        {
            int count = pq - px;
            for (int i = 0; i < ChannelVector; i++)
            {
                new Span<float>(stage + i * 16 + count, 16 - count).Clear();
                PanelCopy.Copy(stage + i * 16, dY + (nint)i * pq + px, count);
            }
            PanelTranspose.Block16(stage, 16, ChannelVector, Vector512<float>.One, dYT + (nint)px * ChannelVector, ChannelVector);
        }
        if (rowPixels == outW) return;
        for (int p = outH - 1; p >= 0; p--)
        {
            float* src = dYT + (nint)p * outW * ChannelVector, dst = dYT + (nint)p * rowPixels * ChannelVector;
            Buffer.MemoryCopy(src, dst, (long)outW * ChannelVector * sizeof(float), (long)outW * ChannelVector * sizeof(float));
            new Span<float>(dst + outW * ChannelVector, (rowPixels - outW) * ChannelVector).Clear();
        }
    }

    /// <summary>
    /// lanes[s, :] += sum over rows p and tiles of dYT[p, q, :] * xRow[p*Wp + q + s] for the 5 taps s of one kernel
    /// row of one image. Pixels of even q add onto lanes[s] and those of odd q onto zero (10 FMA chains, each in a
    /// fixed order), and lanes[s] = even + odd.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WeightGradientRow5(float* xRow, float* dYT, int outH, int wp, int tilesPerRow, float* lanes)
    {
        Vector512<float> e0 = Vector512.Load(lanes), e1 = Vector512.Load(lanes + ChannelVector), e2 = Vector512.Load(lanes + 2 * ChannelVector);
        Vector512<float> e3 = Vector512.Load(lanes + 3 * ChannelVector), e4 = Vector512.Load(lanes + 4 * ChannelVector);
        Vector512<float> o0 = default, o1 = default, o2 = default, o3 = default, o4 = default;
        for (int p = 0; p < outH; p++)
            for (int tile = 0; tile < tilesPerRow; tile++)
            {
                float* xr = xRow + (nint)p * wp + tile * ChannelTilePixels;
                float* d = dYT + ((nint)p * tilesPerRow + tile) * WeightRowTile;
                var d0 = Vector512.Load(d);
                var d1 = Vector512.Load(d + ChannelVector);
                var d2 = Vector512.Load(d + 2 * ChannelVector);
                var d3 = Vector512.Load(d + 3 * ChannelVector);
                var d4 = Vector512.Load(d + 4 * ChannelVector);
                var d5 = Vector512.Load(d + 5 * ChannelVector);
                var d6 = Vector512.Load(d + 6 * ChannelVector);
                var d7 = Vector512.Load(d + 7 * ChannelVector);
                var d8 = Vector512.Load(d + 8 * ChannelVector);
                var d9 = Vector512.Load(d + 9 * ChannelVector);
                // x[u] pairs with (q, s) for q + s = u; even q -> e_s, odd q -> o_s
                var b = Vector512.Create(xr[0]);
                e0 = Vector512.FusedMultiplyAdd(d0, b, e0);
                b = Vector512.Create(xr[1]);
                o0 = Vector512.FusedMultiplyAdd(d1, b, o0);
                e1 = Vector512.FusedMultiplyAdd(d0, b, e1);
                b = Vector512.Create(xr[2]);
                e0 = Vector512.FusedMultiplyAdd(d2, b, e0);
                o1 = Vector512.FusedMultiplyAdd(d1, b, o1);
                e2 = Vector512.FusedMultiplyAdd(d0, b, e2);
                b = Vector512.Create(xr[3]);
                o0 = Vector512.FusedMultiplyAdd(d3, b, o0);
                e1 = Vector512.FusedMultiplyAdd(d2, b, e1);
                o2 = Vector512.FusedMultiplyAdd(d1, b, o2);
                e3 = Vector512.FusedMultiplyAdd(d0, b, e3);
                b = Vector512.Create(xr[4]);
                e0 = Vector512.FusedMultiplyAdd(d4, b, e0);
                o1 = Vector512.FusedMultiplyAdd(d3, b, o1);
                e2 = Vector512.FusedMultiplyAdd(d2, b, e2);
                o3 = Vector512.FusedMultiplyAdd(d1, b, o3);
                e4 = Vector512.FusedMultiplyAdd(d0, b, e4);
                b = Vector512.Create(xr[5]);
                o0 = Vector512.FusedMultiplyAdd(d5, b, o0);
                e1 = Vector512.FusedMultiplyAdd(d4, b, e1);
                o2 = Vector512.FusedMultiplyAdd(d3, b, o2);
                e3 = Vector512.FusedMultiplyAdd(d2, b, e3);
                o4 = Vector512.FusedMultiplyAdd(d1, b, o4);
                b = Vector512.Create(xr[6]);
                e0 = Vector512.FusedMultiplyAdd(d6, b, e0);
                o1 = Vector512.FusedMultiplyAdd(d5, b, o1);
                e2 = Vector512.FusedMultiplyAdd(d4, b, e2);
                o3 = Vector512.FusedMultiplyAdd(d3, b, o3);
                e4 = Vector512.FusedMultiplyAdd(d2, b, e4);
                b = Vector512.Create(xr[7]);
                o0 = Vector512.FusedMultiplyAdd(d7, b, o0);
                e1 = Vector512.FusedMultiplyAdd(d6, b, e1);
                o2 = Vector512.FusedMultiplyAdd(d5, b, o2);
                e3 = Vector512.FusedMultiplyAdd(d4, b, e3);
                o4 = Vector512.FusedMultiplyAdd(d3, b, o4);
                b = Vector512.Create(xr[8]);
                e0 = Vector512.FusedMultiplyAdd(d8, b, e0);
                o1 = Vector512.FusedMultiplyAdd(d7, b, o1);
                e2 = Vector512.FusedMultiplyAdd(d6, b, e2);
                o3 = Vector512.FusedMultiplyAdd(d5, b, o3);
                e4 = Vector512.FusedMultiplyAdd(d4, b, e4);
                b = Vector512.Create(xr[9]);
                o0 = Vector512.FusedMultiplyAdd(d9, b, o0);
                e1 = Vector512.FusedMultiplyAdd(d8, b, e1);
                o2 = Vector512.FusedMultiplyAdd(d7, b, o2);
                e3 = Vector512.FusedMultiplyAdd(d6, b, e3);
                o4 = Vector512.FusedMultiplyAdd(d5, b, o4);
                b = Vector512.Create(xr[10]);
                o1 = Vector512.FusedMultiplyAdd(d9, b, o1);
                e2 = Vector512.FusedMultiplyAdd(d8, b, e2);
                o3 = Vector512.FusedMultiplyAdd(d7, b, o3);
                e4 = Vector512.FusedMultiplyAdd(d6, b, e4);
                b = Vector512.Create(xr[11]);
                o2 = Vector512.FusedMultiplyAdd(d9, b, o2);
                e3 = Vector512.FusedMultiplyAdd(d8, b, e3);
                o4 = Vector512.FusedMultiplyAdd(d7, b, o4);
                b = Vector512.Create(xr[12]);
                o3 = Vector512.FusedMultiplyAdd(d9, b, o3);
                e4 = Vector512.FusedMultiplyAdd(d8, b, e4);
                b = Vector512.Create(xr[13]);
                o4 = Vector512.FusedMultiplyAdd(d9, b, o4);
            }
        (e0 + o0).Store(lanes);
        (e1 + o1).Store(lanes + ChannelVector);
        (e2 + o2).Store(lanes + 2 * ChannelVector);
        (e3 + o3).Store(lanes + 3 * ChannelVector);
        (e4 + o4).Store(lanes + 4 * ChannelVector);
    }
}
