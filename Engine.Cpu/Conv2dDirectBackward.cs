using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

// The backward passes of the direct path (Conv2dDirect.cs): same padded grid, same 8-channel blocks.
public sealed partial class CpuBackend
{
    /// <summary>
    /// Backward data, direct: dXPad[c, t + r*dH*Wp + s*dW] += sum over i of w[k0 + i, c, r, s] * dYGrid[i, t], blocks of
    /// channels in order, then dX = the interior of dXPad (overwritten). Chunks are (image, group).
    /// </summary>
    private unsafe void Conv2dDirectBackwardData(Conv2dGeometry g, float* dY, float* w, float* dX)
    {
        if (UseDataTiles(g))
        {
            Conv2dDirectBackwardDataTiles(g, dY, w, dX);
            return;
        }
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, blocks = (kg + DirectChannels - 1) / DirectChannels;
        int taps = cg * g.Kernel.Height * g.Kernel.Width, inH = g.InHeight, inW = g.InWidth, hw = inH * inW;
        int top = g.Padding.Top, left = g.Padding.Left;
        var grid = DirectGrid.Of(g);
        var weightTaps = Rent(g.Groups * blocks * taps * DirectChannels);
        try
        {
            fixed (float* wt = weightTaps)
            {
                DirectWeightTaps(g, w, wt, DirectChannels);
                _workers.For(g.Batch * g.Groups, (g, grid, (nint)dY, (nint)wt, (nint)dX, kg, cg, blocks, taps, inH, inW, hw, top, left), static (s, chunk) =>
                {
                    var (g, grid, dYAt, wtAt, dXAt, kg, cg, blocks, taps, inH, inW, hw, top, left) = s;
                    float* dY = (float*)dYAt, wTaps = (float*)wtAt, dX = (float*)dXAt;
                    int n = chunk / g.Groups, grp = chunk % g.Groups;
                    float* dXPad = DirectScratch((long)cg * grid.Plane + DirectChannels * grid.T);
                    float* dYGrid = dXPad + (nint)cg * grid.Plane;
                    new Span<float>(dXPad, cg * grid.Plane).Clear();
                    for (int block = 0; block < blocks; block++)
                    {
                        int k0 = grp * kg + block * DirectChannels, count = Math.Min(DirectChannels, grp * kg + kg - k0);
                        GridOfGradient(g, grid, dY, n, k0, count, DirectChannels, dYGrid);
                        DirectBackwardDataSweep(g, grid, dYGrid, wTaps + (nint)(grp * blocks + block) * taps * DirectChannels, dXPad);
                    }
                    float* dst = dX + ((nint)n * g.InChannels + grp * cg) * hw;
                    for (int c = 0; c < cg; c++)
                        for (int h = 0; h < inH; h++)
                            PanelCopy.Copy(dst + (nint)c * hw + (nint)h * inW, dXPad + (nint)c * grid.Plane + (nint)(h + top) * grid.Wp + left, inW);
                });
            }
        }
        finally
        {
            Return(weightTaps);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectBackwardDataSweep(in Conv2dGeometry g, DirectGrid grid, float* dYGrid, float* wTaps, float* dXPad)
    {
        int R = g.Kernel.Height, S = g.Kernel.Width, cg = g.InChannelsPerGroup;
        nint T = grid.T;
        float* wt = wTaps;
        for (int c = 0; c < cg; c++)
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++, wt += DirectChannels)
                {
                    float* dst = dXPad + (nint)c * grid.Plane + (nint)r * g.Dilation.Height * grid.Wp + s * g.Dilation.Width;
                    Vector512<float> w0 = Vector512.Create(wt[0]), w1 = Vector512.Create(wt[1]), w2 = Vector512.Create(wt[2]), w3 = Vector512.Create(wt[3]);
                    Vector512<float> w4 = Vector512.Create(wt[4]), w5 = Vector512.Create(wt[5]), w6 = Vector512.Create(wt[6]), w7 = Vector512.Create(wt[7]);
                    for (nint t = 0; t < T; t += 16)
                    {
                        float* d = dYGrid + t;
                        var v = Vector512.Load(d) * w0;
                        v = Vector512.FusedMultiplyAdd(Vector512.Load(d + T), w1, v);
                        v = Vector512.FusedMultiplyAdd(Vector512.Load(d + 2 * T), w2, v);
                        v = Vector512.FusedMultiplyAdd(Vector512.Load(d + 3 * T), w3, v);
                        v = Vector512.FusedMultiplyAdd(Vector512.Load(d + 4 * T), w4, v);
                        v = Vector512.FusedMultiplyAdd(Vector512.Load(d + 5 * T), w5, v);
                        v = Vector512.FusedMultiplyAdd(Vector512.Load(d + 6 * T), w6, v);
                        v = Vector512.FusedMultiplyAdd(Vector512.Load(d + 7 * T), w7, v);
                        (Vector512.Load(dst + t) + v).Store(dst + t);
                    }
                }
    }

    /// <summary>Output channels x taps of one weight-gradient tile (20 accumulators).</summary>
    private const int WeightTileChannels = 4, WeightTileTaps = 5;

    /// <summary>Floats of padded inputs and gradient grids a weight-gradient pass keeps at once (images beyond wait for the next pass).</summary>
    private const int WeightPassFloats = 1 << 17;

    /// <summary>
    /// Backward weight, direct: dW[k, tap] = sum over images, in fixed chunks of images (at most 8, fewer when their
    /// partial sums would pass <see cref="DirectPartialsMaxFloats"/>) added in chunk order, of
    /// sum over t of dYGrid[k, t] * xPad[c, t + r*dH*Wp + s*dW]. A chunk pads its images and lays out their gradient
    /// grids (a pass of up to <see cref="WeightPassFloats"/> floats), then runs tiles of 4 channels x 5 taps over all of
    /// them with 20 vector accumulators, and adds each accumulator's lanes (in a fixed order) once per pass. dW overwritten.
    /// </summary>
    private unsafe void Conv2dDirectBackwardWeight(Conv2dGeometry g, float* x, float* dY, float* dW)
    {
        int taps = g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width, wSize = g.OutChannels * taps;
        // at most 8 chunks, and no more than the partial sums' bound holds (one chunk sums straight into dW)
        int chunks = Math.Clamp(Math.Min(g.Batch, DirectPartialsMaxFloats / wSize), 1, 8);
        var grid = DirectGrid.Of(g);
        // the channel-vector chunks sum in lane layout, laid out as dW once at the end
        bool lanes = UseChannelVectorWeightGradient(g, grid);
        var partials = chunks > 1 || lanes ? Rent(chunks * wSize) : null;
        try
        {
            fixed (float* rented = partials)
            {
                float* part = partials is not null ? rented : dW;
                _workers.For(chunks, (g, grid, (nint)x, (nint)dY, (nint)part, wSize, chunks, lanes), static (s, chunk) =>
                {
                    var (g, grid, xAt, dYAt, partsAt, wSize, chunks, lanes) = s;
                    float* sum = (float*)partsAt + (nint)chunk * wSize;
                    new Span<float>(sum, wSize).Clear();
                    int first = chunk * g.Batch / chunks, end = (chunk + 1) * g.Batch / chunks;
                    if (lanes) ChannelVectorWeightGradientChunk(g, grid, (float*)xAt, (float*)dYAt, first, end, sum);
                    else WeightGradientChunk(g, grid, (float*)xAt, (float*)dYAt, first, end, sum);
                });
                // total = part[0] + part[1] + ... in chunk order, into dW (or into part[0] to be laid out as dW)
                float* total = lanes ? part : dW;
                if (total != part) new Span<float>(part, wSize).CopyTo(new Span<float>(total, wSize));
                for (int chunk = 1; chunk < chunks; chunk++)
                    System.Numerics.Tensors.TensorPrimitives.Add(new Span<float>(total, wSize), new Span<float>(part + (nint)chunk * wSize, wSize), new Span<float>(total, wSize));
                if (lanes) LaneSumsToWeights(g, part, dW);
            }
        }
        finally
        {
            if (partials is not null) Return(partials);
        }
    }

    /// <summary>Most floats of partial sums the direct weight gradient rents (2 MB of the 8 MB of scratch per thread).</summary>
    private const int DirectPartialsMaxFloats = 1 << 19;

    /// <summary>sum[k, tap] += the weight gradient of images [first, end), pass after pass (see <see cref="Conv2dDirectBackwardWeight"/>).</summary>
    private static unsafe void WeightGradientChunk(in Conv2dGeometry g, DirectGrid grid, float* x, float* dY, int first, int end, float* sum)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, R = g.Kernel.Height, S = g.Kernel.Width, taps = cg * R * S;
        int channels = (kg + WeightTileChannels - 1) / WeightTileChannels * WeightTileChannels;
        int tapTiles = (taps + WeightTileTaps - 1) / WeightTileTaps;
        nint xImage = (nint)cg * grid.Plane, dYImage = (nint)channels * grid.T;
        int perPass = (int)Math.Clamp(WeightPassFloats / (xImage + dYImage), 1, end - first);
        // offsets[tap] = c*Plane + r*dH*Wp + s*dW; the last tile's missing taps read offset 0 and are dropped
        int* offsets = stackalloc int[tapTiles * WeightTileTaps];
        for (int tap = 0; tap < tapTiles * WeightTileTaps; tap++)
            offsets[tap] = tap < taps ? tap / (R * S) * grid.Plane + tap / S % R * g.Dilation.Height * grid.Wp + tap % S * g.Dilation.Width : 0;
        float* lanes = stackalloc float[WeightTileChannels * WeightTileTaps];
        float* xPads = DirectScratch(perPass * (xImage + dYImage));
        float* dYGrids = xPads + perPass * xImage;
        for (int grp = 0; grp < g.Groups; grp++)
            for (int n0 = first; n0 < end; n0 += perPass)
            {
                int images = Math.Min(perPass, end - n0);
                for (int j = 0; j < images; j++)
                {
                    PadPlanes(g, grid, x + ((nint)(n0 + j) * g.InChannels + grp * cg) * g.InHeight * g.InWidth, xPads + j * xImage);
                    GridOfGradient(g, grid, dY, n0 + j, grp * kg, kg, channels, dYGrids + j * dYImage);
                }
                for (int i0 = 0; i0 < kg; i0 += WeightTileChannels)
                    for (int tile = 0; tile < tapTiles; tile++)
                    {
                        WeightGradientTile(xPads, xImage, dYGrids + (nint)i0 * grid.T, dYImage, images, grid.T, offsets + tile * WeightTileTaps, lanes);
                        for (int i = 0; i < Math.Min(WeightTileChannels, kg - i0); i++)
                            for (int u = 0; u < Math.Min(WeightTileTaps, taps - tile * WeightTileTaps); u++)
                                sum[(nint)(grp * kg + i0 + i) * taps + tile * WeightTileTaps + u] += lanes[i * WeightTileTaps + u];
                    }
            }
    }

    /// <summary>
    /// lanes[i*5 + u] = sum over images j and grid positions t of dYGrids[j, i, t] * xPads[j, t + offsets[u]] for 4
    /// channels i and 5 taps u, lane sums in a fixed order. Per 16 positions: 4 + 5 loads feed 20 FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WeightGradientTile(float* xPads, nint xImage, float* dY, nint dYImage, int images, nint T, int* offsets, float* lanes)
    {
        nint o0 = offsets[0], o1 = offsets[1], o2 = offsets[2], o3 = offsets[3], o4 = offsets[4];
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a24 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default, a34 = default;
        for (int j = 0; j < images; j++)
        {
            float* xb = xPads + j * xImage, d = dY + j * dYImage;
            for (nint t = 0; t < T; t += 16)
            {
                var d0 = Vector512.Load(d + t);
                var d1 = Vector512.Load(d + T + t);
                var d2 = Vector512.Load(d + 2 * T + t);
                var d3 = Vector512.Load(d + 3 * T + t);
                var xv = Vector512.Load(xb + o0 + t);
                a00 = Vector512.FusedMultiplyAdd(d0, xv, a00);
                a10 = Vector512.FusedMultiplyAdd(d1, xv, a10);
                a20 = Vector512.FusedMultiplyAdd(d2, xv, a20);
                a30 = Vector512.FusedMultiplyAdd(d3, xv, a30);
                xv = Vector512.Load(xb + o1 + t);
                a01 = Vector512.FusedMultiplyAdd(d0, xv, a01);
                a11 = Vector512.FusedMultiplyAdd(d1, xv, a11);
                a21 = Vector512.FusedMultiplyAdd(d2, xv, a21);
                a31 = Vector512.FusedMultiplyAdd(d3, xv, a31);
                xv = Vector512.Load(xb + o2 + t);
                a02 = Vector512.FusedMultiplyAdd(d0, xv, a02);
                a12 = Vector512.FusedMultiplyAdd(d1, xv, a12);
                a22 = Vector512.FusedMultiplyAdd(d2, xv, a22);
                a32 = Vector512.FusedMultiplyAdd(d3, xv, a32);
                xv = Vector512.Load(xb + o3 + t);
                a03 = Vector512.FusedMultiplyAdd(d0, xv, a03);
                a13 = Vector512.FusedMultiplyAdd(d1, xv, a13);
                a23 = Vector512.FusedMultiplyAdd(d2, xv, a23);
                a33 = Vector512.FusedMultiplyAdd(d3, xv, a33);
                xv = Vector512.Load(xb + o4 + t);
                a04 = Vector512.FusedMultiplyAdd(d0, xv, a04);
                a14 = Vector512.FusedMultiplyAdd(d1, xv, a14);
                a24 = Vector512.FusedMultiplyAdd(d2, xv, a24);
                a34 = Vector512.FusedMultiplyAdd(d3, xv, a34);
            }
        }
        lanes[0] = Vector512.Sum(a00); lanes[1] = Vector512.Sum(a01); lanes[2] = Vector512.Sum(a02); lanes[3] = Vector512.Sum(a03); lanes[4] = Vector512.Sum(a04);
        lanes[5] = Vector512.Sum(a10); lanes[6] = Vector512.Sum(a11); lanes[7] = Vector512.Sum(a12); lanes[8] = Vector512.Sum(a13); lanes[9] = Vector512.Sum(a14);
        lanes[10] = Vector512.Sum(a20); lanes[11] = Vector512.Sum(a21); lanes[12] = Vector512.Sum(a22); lanes[13] = Vector512.Sum(a23); lanes[14] = Vector512.Sum(a24);
        lanes[15] = Vector512.Sum(a30); lanes[16] = Vector512.Sum(a31); lanes[17] = Vector512.Sum(a32); lanes[18] = Vector512.Sum(a33); lanes[19] = Vector512.Sum(a34);
    }
}
