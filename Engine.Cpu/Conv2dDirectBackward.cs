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
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, blocks = (kg + DirectChannels - 1) / DirectChannels;
        int taps = cg * g.Kernel.Height * g.Kernel.Width, inH = g.InHeight, inW = g.InWidth, hw = inH * inW;
        int top = g.Padding.Top, left = g.Padding.Left;
        var grid = DirectGrid.Of(g);
        _workers.For(g.Batch * g.Groups, (g, grid, (nint)dY, (nint)w, (nint)dX, kg, cg, blocks, taps, inH, inW, hw, top, left), static (s, chunk) =>
        {
            var (g, grid, dYAt, wAt, dXAt, kg, cg, blocks, taps, inH, inW, hw, top, left) = s;
            float* dY = (float*)dYAt, w = (float*)wAt, dX = (float*)dXAt;
            int n = chunk / g.Groups, grp = chunk % g.Groups;
            float* dXPad = DirectScratch((long)cg * grid.Plane + DirectChannels * (grid.T + taps));
            float* dYGrid = dXPad + (nint)cg * grid.Plane, wTaps = dYGrid + (nint)DirectChannels * grid.T;
            new Span<float>(dXPad, cg * grid.Plane).Clear();
            for (int block = 0; block < blocks; block++)
            {
                int k0 = grp * kg + block * DirectChannels, count = Math.Min(DirectChannels, grp * kg + kg - k0);
                GridOfGradient(g, grid, dY, n, k0, count, dYGrid);
                for (int tap = 0; tap < taps; tap++)
                    for (int i = 0; i < DirectChannels; i++) wTaps[tap * DirectChannels + i] = i < count ? w[(nint)(k0 + i) * taps + tap] : 0f;
                DirectBackwardDataSweep(g, grid, dYGrid, wTaps, dXPad);
            }
            float* dst = dX + ((nint)n * g.InChannels + grp * cg) * hw;
            for (int c = 0; c < cg; c++)
                for (int h = 0; h < inH; h++)
                    PanelCopy.Copy(dst + (nint)c * hw + (nint)h * inW, dXPad + (nint)c * grid.Plane + (nint)(h + top) * grid.Wp + left, inW);
        });
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

    /// <summary>
    /// Backward weight, direct: dW[k0 + i, tap] = sum over images, in fixed chunks of images added in chunk order, of
    /// sum over t of dYGrid[i, t] * xPad[c, t + r*dH*Wp + s*dW] (lane sums in a fixed order). dW overwritten.
    /// </summary>
    private unsafe void Conv2dDirectBackwardWeight(Conv2dGeometry g, float* x, float* dY, float* dW)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, blocks = (kg + DirectChannels - 1) / DirectChannels;
        int taps = cg * g.Kernel.Height * g.Kernel.Width, wSize = g.OutChannels * taps;
        int chunks = Math.Min(g.Batch, 8);
        var grid = DirectGrid.Of(g);
        var partials = Rent(chunks * wSize);
        try
        {
            fixed (float* part = partials)
            {
                float* parts = part;
                _workers.For(chunks, (g, grid, (nint)x, (nint)dY, (nint)parts, kg, cg, blocks, taps, wSize, chunks), static (s, chunk) =>
                {
                    var (g, grid, xAt, dYAt, partsAt, kg, cg, blocks, taps, wSize, chunks) = s;
                    float* x = (float*)xAt, dY = (float*)dYAt, parts = (float*)partsAt;
                    float* sum = parts + (nint)chunk * wSize;
                    new Span<float>(sum, wSize).Clear();
                    float* xPad = DirectScratch((long)cg * grid.Plane + DirectChannels * grid.T);
                    float* dYGrid = xPad + (nint)cg * grid.Plane;
                    for (int n = chunk * g.Batch / chunks; n < (chunk + 1) * g.Batch / chunks; n++)
                        for (int grp = 0; grp < g.Groups; grp++)
                        {
                            PadPlanes(g, grid, x + ((nint)n * g.InChannels + grp * cg) * g.InHeight * g.InWidth, xPad);
                            for (int block = 0; block < blocks; block++)
                            {
                                int k0 = grp * kg + block * DirectChannels, count = Math.Min(DirectChannels, grp * kg + kg - k0);
                                GridOfGradient(g, grid, dY, n, k0, count, dYGrid);
                                DirectBackwardWeightSweep(g, grid, xPad, dYGrid, sum + (nint)k0 * taps, taps, count);
                            }
                        }
                });
                new Span<float>(part, wSize).CopyTo(new Span<float>(dW, wSize));
                for (int chunk = 1; chunk < chunks; chunk++)
                    System.Numerics.Tensors.TensorPrimitives.Add(new Span<float>(dW, wSize), new Span<float>(part + (nint)chunk * wSize, wSize), new Span<float>(dW, wSize));
            }
        }
        finally
        {
            Return(partials);
        }
    }

    /// <summary>dWBlock[i, tap] += sum over t of dYGrid[i, t] * xPad[tap's plane, t + offset] for i &lt; count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectBackwardWeightSweep(in Conv2dGeometry g, DirectGrid grid, float* xPad, float* dYGrid, float* dWBlock, int taps, int count)
    {
        int R = g.Kernel.Height, S = g.Kernel.Width, cg = g.InChannelsPerGroup;
        nint T = grid.T;
        int tap = 0;
        for (int c = 0; c < cg; c++)
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++, tap++)
                {
                    float* src = xPad + (nint)c * grid.Plane + (nint)r * g.Dilation.Height * grid.Wp + s * g.Dilation.Width;
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                    for (nint t = 0; t < T; t += 16)
                    {
                        var xv = Vector512.Load(src + t);
                        float* d = dYGrid + t;
                        a0 = Vector512.FusedMultiplyAdd(Vector512.Load(d), xv, a0);
                        a1 = Vector512.FusedMultiplyAdd(Vector512.Load(d + T), xv, a1);
                        a2 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 2 * T), xv, a2);
                        a3 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 3 * T), xv, a3);
                        a4 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 4 * T), xv, a4);
                        a5 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 5 * T), xv, a5);
                        a6 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 6 * T), xv, a6);
                        a7 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 7 * T), xv, a7);
                    }
                    Span<float> lanes = [Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3),
                        Vector512.Sum(a4), Vector512.Sum(a5), Vector512.Sum(a6), Vector512.Sum(a7)];
                    for (int i = 0; i < count; i++) dWBlock[(nint)i * taps + tap] += lanes[i];
                }
    }
}
