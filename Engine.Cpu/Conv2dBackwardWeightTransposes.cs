using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

// Legend as in Conv2dBackwardWeight.cs.
internal static unsafe partial class ChannelsLastWeightGradient
{
    /// <summary>
    /// Row hp of image j of xT, in every channel block β: x[j, β*CB + c', hp - top, wp - left] at [wp, c'] of xT_β for
    /// the Wp columns and the block's channels (0 in the padding), transposed a block's channels x 16 columns at a time.
    /// Nothing at or past <paramref name="xEnd"/> (the end of the input tensor) is read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeRow(in Plan plan, float* x, nint inImage, float* xEnd, float* inputs, int j, int hp)
    {
        var g = plan.G;
        int h = hp - g.Padding.Top, left = Math.Min(g.Padding.Left, plan.Wp);
        int width = Math.Clamp(plan.Wp - left, 0, g.InWidth);
        bool inside = (uint)h < (uint)g.InHeight;
        nint hw = (nint)g.InHeight * g.InWidth;
        var one = Vector512<float>.One;
        float* tile = stackalloc float[16 * 16];
        float* transposed = stackalloc float[16 * 16];
        for (int block = 0; block < plan.ChannelBlocks; block++)
        {
            int cb = plan.Width(block);
            float* row = inputs + plan.BlockStart(block) + ((nint)j * plan.Hp + hp) * plan.Wp * cb;
            if (!inside)
            {
                new Span<float>(row, plan.Wp * cb).Clear();
                continue;
            }
            new Span<float>(row, left * cb).Clear();
            new Span<float>(row + (nint)(left + width) * cb, (plan.Wp - left - width) * cb).Clear();
            float* source = x + j * inImage + (nint)block * plan.CB * hw + (nint)h * g.InWidth;
            float* target = row + (nint)left * cb;
            if (!plan.Vector)
            {
                for (int c = 0; c < cb; c++)
                    for (int w = 0; w < width; w++) target[(nint)w * cb + c] = source[c * hw + w];
                continue;
            }
            // cb <= mr <= 16 channels per transpose
            for (int w0 = 0; w0 < width; w0 += 16)
            {
                int columns = Math.Min(16, width - w0);
                float* from = source + w0, to = target + (nint)w0 * cb;
                if (columns == 16)
                {
                    PanelTranspose.Block16(from, hw, cb, one, to, cb);
                    continue;
                }
                // the row's last columns: 16 read from each channel (the rest of the row, then the next row or plane),
                // transposed into a tile, and only the row's columns*cb floats copied out (nothing past the row written)
                if (from + (cb - 1) * hw + 16 <= xEnd)
                {
                    PanelTranspose.Block16(from, hw, cb, one, transposed, cb);
                    PanelCopy.Copy(to, transposed, columns * cb);
                    continue;
                }
                // the tensor's last row: through a 16 x 16 tile so nothing past it is read
                for (int i = 0; i < cb; i++) PanelCopy.Copy(tile + i * 16, from + i * hw, columns);
                PanelTranspose.Block16(tile, 16, cb, one, transposed, 16);
                for (int w = 0; w < columns; w++) PanelCopy.Copy(to + (nint)w * cb, transposed + w * 16, cb);
            }
        }
    }

    /// <summary>
    /// dW_g[k, c, r, s] = (or +=, <paramref name="add"/>) rows[((r*S + s)*width + c - block*CB) * ld + k - kStart] for the
    /// channels c of one block and k in [kStart, kEnd) (the block's D rows, or a slab of their columns, at
    /// <paramref name="rows"/>, ld floats apart): per 16 k, the block's Cb x RS taps transposed into a strip of 16 runs
    /// of width*RS floats (16 k x up to 16 taps per transpose), each run then one contiguous copy (or sum) into its row of dW.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeBlock(in Plan plan, float* rows, int ld, float* dW, int block, int kStart, int kEnd, bool add)
    {
        int rs = plan.RS, width = plan.Width(block), run = width * rs;
        nint tapStride = (nint)width * ld, crs = plan.T;
        float* strip = Scratch(ref t_strip, 16L * plan.CB * rs);
        var one = Vector512<float>.One;
        for (int k0 = kStart; k0 < kEnd; k0 += 16)
        {
            int count = Math.Min(16, kEnd - k0);
            // strip[kk * run + i*RS + t] = rows[t*width + i, k0 + kk - kStart] (a row holds whole 16-float groups past k0)
            for (int i = 0; i < width; i++)
                for (int t0 = 0; t0 < rs; t0 += 16)
                {
                    float* from = rows + t0 * tapStride + (nint)i * ld + (k0 - kStart), to = strip + i * rs + t0;
                    if (plan.Vector) PanelTranspose.Block16(from, tapStride, Math.Min(16, rs - t0), one, to, run);
                    else
                        for (int kk = 0; kk < count; kk++)
                            for (int t = 0; t < Math.Min(16, rs - t0); t++) to[kk * run + t] = from[t * tapStride + kk];
                }
            float* target = dW + (nint)k0 * crs + (nint)block * plan.CB * rs;
            for (int kk = 0; kk < count; kk++)
            {
                var into = new Span<float>(target + kk * crs, run);
                var from = new ReadOnlySpan<float>(strip + kk * run, run);
                if (add) System.Numerics.Tensors.TensorPrimitives.Add(into, from, into);
                else from.CopyTo(into);
            }
        }
    }
}
