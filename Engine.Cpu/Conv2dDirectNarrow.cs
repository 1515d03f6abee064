using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

// The grid sweep of the direct forward (Legend as in Conv2dDirect.cs) in 6-channel blocks, for groups whose output
// channels are a multiple of 6 but not of 8 (LeNet's first layer: 6). An 8-channel block there computes 2 channels of
// zeros (a quarter of its FMAs); a 6-channel block runs three vectors of positions per pass: 18 accumulators, per tap
// 3 loads and 6 broadcast weights (0.5 loads per FMA; the 8-channel pair takes 10 per 16). Each position is the same
// FMA chain over the taps in (c, r, s) order from zero, so the bits are the 8-channel sweep's.
public sealed partial class CpuBackend
{
    /// <summary>Output channels per block of the narrow sweep.</summary>
    private const int DirectNarrowChannels = 6;

    /// <summary>Set false by tests to run 8-channel blocks where 6-channel ones would run.</summary>
    internal static bool NarrowBlocksEnabled { get; set; } = true;

    /// <summary>Whether the forward of <paramref name="g"/> runs the 6-channel grid sweep (for tests).</summary>
    internal static bool TakesNarrowBlocks(in Conv2dGeometry g)
    {
        var geo = Packable(g);
        return UseDirect(geo) && !UseChannelVectors(geo, DirectGrid.Of(geo)) && DirectBlockWidth(geo.OutChannelsPerGroup) == DirectNarrowChannels;
    }

    /// <summary>Output channels per block of the direct forward's grid sweep: 6 where that wastes none and 8 would, else 8.</summary>
    private static int DirectBlockWidth(int kg) =>
        NarrowBlocksEnabled && kg % DirectChannels != 0 && kg % DirectNarrowChannels == 0 ? DirectNarrowChannels : DirectChannels;

    /// <summary>
    /// yGrid[i, t] = sum over taps (c, r, s) of wTaps[tap, i] * xPad[c, t + r*dH*Wp + s*dW] for 6 channels: three
    /// vectors of positions per pass, then single vectors.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectForwardSweep6(in Conv2dGeometry g, DirectGrid grid, float* xPad, float* wTaps, float* yGrid)
    {
        int R = g.Kernel.Height, S = g.Kernel.Width, cg = g.InChannelsPerGroup, dW = g.Dilation.Width;
        int t = 0;
        for (; t + 48 <= grid.T; t += 48) DirectForwardTriple6(g, grid, xPad, wTaps, yGrid, t);
        for (; t < grid.T; t += 16)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
            float* wt = wTaps;
            for (int c = 0; c < cg; c++)
                for (int r = 0; r < R; r++)
                {
                    float* row = xPad + (nint)c * grid.Plane + (nint)r * g.Dilation.Height * grid.Wp + t;
                    for (int s = 0; s < S; s++, wt += DirectNarrowChannels)
                    {
                        var xv = Vector512.Load(row + s * dW);
                        a0 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[0]), a0);
                        a1 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[1]), a1);
                        a2 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[2]), a2);
                        a3 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[3]), a3);
                        a4 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[4]), a4);
                        a5 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[5]), a5);
                    }
                }
            a0.Store(yGrid + t);
            a1.Store(yGrid + grid.T + t);
            a2.Store(yGrid + 2 * grid.T + t);
            a3.Store(yGrid + 3 * grid.T + t);
            a4.Store(yGrid + 4 * grid.T + t);
            a5.Store(yGrid + 5 * grid.T + t);
        }
    }

    /// <summary>yGrid[i, t .. t + 47] of <see cref="DirectForwardSweep6"/>: 18 accumulators, 6 broadcast weights and 3 loads per tap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectForwardTriple6(in Conv2dGeometry g, DirectGrid grid, float* xPad, float* wTaps, float* yGrid, int t)
    {
        int R = g.Kernel.Height, S = g.Kernel.Width, cg = g.InChannelsPerGroup, dW = g.Dilation.Width;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        float* wt = wTaps;
        for (int c = 0; c < cg; c++)
            for (int r = 0; r < R; r++)
            {
                float* row = xPad + (nint)c * grid.Plane + (nint)r * g.Dilation.Height * grid.Wp + t;
                for (int s = 0; s < S; s++, wt += DirectNarrowChannels)
                {
                    var x0 = Vector512.Load(row + s * dW);
                    var x1 = Vector512.Load(row + s * dW + 16);
                    var x2 = Vector512.Load(row + s * dW + 32);
                    var w = Vector512.Create(wt[0]);
                    a0 = Vector512.FusedMultiplyAdd(x0, w, a0);
                    b0 = Vector512.FusedMultiplyAdd(x1, w, b0);
                    c0 = Vector512.FusedMultiplyAdd(x2, w, c0);
                    w = Vector512.Create(wt[1]);
                    a1 = Vector512.FusedMultiplyAdd(x0, w, a1);
                    b1 = Vector512.FusedMultiplyAdd(x1, w, b1);
                    c1 = Vector512.FusedMultiplyAdd(x2, w, c1);
                    w = Vector512.Create(wt[2]);
                    a2 = Vector512.FusedMultiplyAdd(x0, w, a2);
                    b2 = Vector512.FusedMultiplyAdd(x1, w, b2);
                    c2 = Vector512.FusedMultiplyAdd(x2, w, c2);
                    w = Vector512.Create(wt[3]);
                    a3 = Vector512.FusedMultiplyAdd(x0, w, a3);
                    b3 = Vector512.FusedMultiplyAdd(x1, w, b3);
                    c3 = Vector512.FusedMultiplyAdd(x2, w, c3);
                    w = Vector512.Create(wt[4]);
                    a4 = Vector512.FusedMultiplyAdd(x0, w, a4);
                    b4 = Vector512.FusedMultiplyAdd(x1, w, b4);
                    c4 = Vector512.FusedMultiplyAdd(x2, w, c4);
                    w = Vector512.Create(wt[5]);
                    a5 = Vector512.FusedMultiplyAdd(x0, w, a5);
                    b5 = Vector512.FusedMultiplyAdd(x1, w, b5);
                    c5 = Vector512.FusedMultiplyAdd(x2, w, c5);
                }
            }
        a0.Store(yGrid + t);
        b0.Store(yGrid + t + 16);
        c0.Store(yGrid + t + 32);
        a1.Store(yGrid + grid.T + t);
        b1.Store(yGrid + grid.T + t + 16);
        c1.Store(yGrid + grid.T + t + 32);
        a2.Store(yGrid + 2 * grid.T + t);
        b2.Store(yGrid + 2 * grid.T + t + 16);
        c2.Store(yGrid + 2 * grid.T + t + 32);
        a3.Store(yGrid + 3 * grid.T + t);
        b3.Store(yGrid + 3 * grid.T + t + 16);
        c3.Store(yGrid + 3 * grid.T + t + 32);
        a4.Store(yGrid + 4 * grid.T + t);
        b4.Store(yGrid + 4 * grid.T + t + 16);
        c4.Store(yGrid + 4 * grid.T + t + 32);
        a5.Store(yGrid + 5 * grid.T + t);
        b5.Store(yGrid + 5 * grid.T + t + 16);
        c5.Store(yGrid + 5 * grid.T + t + 32);
    }
}
