using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

// Legend as in Conv2d.cs. Wp = left + W + right (padded width), Hp likewise; T = P*Wp rounded up to whole vectors.
//
// The direct path for convolutions with few output channels and stride 1 (LeNet's layers): with each input plane
// padded into a Hp x Wp grid, output pixel (p, q) and tap (r, s) read grid index t + (r*dH)*Wp + s*dW with
// t = p*Wp + q, so for a fixed tap the output grid (P x Wp, of which the first Q columns are real) is one contiguous
// vector sweep. No packing: each loaded vector of x feeds up to 8 output channels. Columns q >= Q of the grid are
// computed and dropped; dOutput is placed in the same grid with zeros there, so they add nothing going back.
public sealed partial class CpuBackend
{
    /// <summary>Output channels per direct-kernel sweep (8 accumulators).</summary>
    private const int DirectChannels = 8;

    [ThreadStatic] private static AlignedScratch? t_direct;

    /// <summary>Set false by tests to send every convolution through the implicit GEMM.</summary>
    internal static bool DirectConvEnabled { get; set; } = true;

    /// <summary>Most taps (C/G*R*S) of a convolution the direct path takes whatever its output channels: a GEMM this shallow wastes its packing.</summary>
    private const int DirectMaxShallowTaps = 27;

    /// <summary>
    /// Output planes of at least this many pixels (28 x 28) go direct with up to <see cref="DirectMaxWideChannels"/>
    /// output channels per group: VGG's 32 -> 32 channel 3x3 layer at 28 x 28 (batch 128) measured about 1.5x less
    /// CPU time direct than through the implicit GEMM in each of forward, backward data and backward weight
    /// (at 14 x 14 with 64 channels the GEMM was as fast or faster, so smaller planes keep it).
    /// </summary>
    private const int DirectMinWidePlane = 28 * 28;

    private const int DirectMaxWideChannels = 4 * DirectChannels;

    /// <summary>
    /// The direct path: stride 1, a small padded plane, weights within <see cref="DirectMaxWeightFloats"/>, and at
    /// most 16 output channels per group, or a depth of at most <see cref="DirectMaxShallowTaps"/> taps (a first layer
    /// on 1 or 3 channels, e.g. 1 -> 32 channels 3x3), or a large output plane with at most 32 output channels per group.
    /// Its grid sweeps are plain Vector512 code (no AVX-512 intrinsics), which the JIT runs as pairs of 256-bit
    /// operations without AVX-512: measured on this machine with DOTNET_EnableAVX512=0, LeNet's layers run 2-6x faster
    /// that way than through the 256-bit implicit GEMM, so the direct path stays on AVX2 machines; its AVX-512-only
    /// parts (channel vectors, data tiles, masked copies) follow <see cref="GemmKernels.Use512"/>.
    /// </summary>
    private static bool UseDirect(in Conv2dGeometry g) =>
        DirectConvEnabled && g.Stride is { Height: 1, Width: 1 }
        && (g.OutChannelsPerGroup <= 2 * DirectChannels
            || g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width <= DirectMaxShallowTaps
            || g.OutChannelsPerGroup <= DirectMaxWideChannels && g.OutHeight * g.OutWidth >= DirectMinWidePlane)
        && (long)(g.InHeight + g.Padding.Top + g.Padding.Bottom + 1) * (g.InWidth + g.Padding.Left + g.Padding.Right) * g.InChannelsPerGroup <= 1 << 18
        && (long)g.Groups * ((g.OutChannelsPerGroup + ChannelVector - 1) / ChannelVector * ChannelVector) * g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width <= DirectMaxWeightFloats
        && g.Kernel.Height * g.Kernel.Width > 1;

    /// <summary>Most floats of weights laid out per block of output channels (<see cref="DirectWeightTaps"/>) a direct call rents: 2 MB of the 8 MB of scratch.</summary>
    private const int DirectMaxWeightFloats = 1 << 19;

    /// <summary>Sizes of the padded grid of one (image, group).</summary>
    private readonly record struct DirectGrid(int Wp, int Plane, int T)
    {
        public static DirectGrid Of(in Conv2dGeometry g)
        {
            int wp = g.InWidth + g.Padding.Left + g.Padding.Right;
            int t = (g.OutHeight * wp + 15) / 16 * 16;
            int reach = (g.Kernel.Height - 1) * g.Dilation.Height * wp + (g.Kernel.Width - 1) * g.Dilation.Width;
            // + 16: the channel-vector forward's last tile of a row reads up to 9 pixels past the row's end
            return new DirectGrid(wp, (t + reach + 15) / 16 * 16 + 16, t);
        }
    }

    private static unsafe float* DirectScratch(long length) => AlignedScratch.AtLeast(ref t_direct, length);

    /// <summary>xPad (Cg planes of Plane floats) = the group's input planes, zero padded (the tail past Hp rows zero too).</summary>
    private static unsafe void PadPlanes(in Conv2dGeometry g, DirectGrid grid, float* x, float* xPad)
    {
        int cg = g.InChannelsPerGroup, hw = g.InHeight * g.InWidth;
        if (grid.Wp == g.InWidth)
        {
            // no left or right padding: a plane's rows are one run, after Top zero rows and before the zero tail
            // (Plane >= Hp*Wp at stride 1, see DirectGrid)
            int head = g.Padding.Top * grid.Wp;
            for (int c = 0; c < cg; c++)
            {
                float* plane = xPad + (nint)c * grid.Plane;
                new Span<float>(plane, head).Clear();
                new ReadOnlySpan<float>(x + (nint)c * hw, hw).CopyTo(new Span<float>(plane + head, hw));
                new Span<float>(plane + head + hw, grid.Plane - head - hw).Clear();
            }
            return;
        }
        new Span<float>(xPad, cg * grid.Plane).Clear();
        for (int c = 0; c < cg; c++)
            for (int h = 0; h < g.InHeight; h++)
                PanelCopy.Copy(xPad + (nint)c * grid.Plane + (nint)(h + g.Padding.Top) * grid.Wp + g.Padding.Left, x + (nint)c * hw + (nint)h * g.InWidth, g.InWidth);
    }

    /// <summary>
    /// Forward, direct: y[n, k, p, q] = bias[k] + sum over (c, r, s) in order of w[k, c, r, s] * xPad[c, p + r*dH, q + s*dW].
    /// The weights are laid out per block of 8 (or 6, see <see cref="DirectBlockWidth"/>) channels once
    /// (<see cref="DirectWeightTaps"/>); a chunk is an (image, group) padded once for all its blocks, or (image, group,
    /// block) when there are too few images and groups to share out.
    /// Every output is the same sweep either way, so the chunking never changes a bit.
    /// </summary>
    private unsafe void Conv2dDirect(Conv2dGeometry g, CpuBuffer weights, float* x, float* w, float* bias, float* y)
    {
        int kg = g.OutChannelsPerGroup, cg = g.InChannelsPerGroup, width = DirectBlockWidth(kg), blocks = (kg + width - 1) / width;
        int outH = g.OutHeight, outW = g.OutWidth, pq = outH * outW, taps = cg * g.Kernel.Height * g.Kernel.Width;
        int images = g.Batch * g.Groups, blocksPerChunk = images >= DirectMinImageChunks ? blocks : 1;
        var grid = DirectGrid.Of(g);
        if (UseChannelVectors(g, grid))
        {
            if (UseWinograd(g, grid)) Conv2dWinograd(g, weights, x, w, bias, y);
            else Conv2dDirectChannels(g, grid, x, w, bias, y);
            return;
        }
        var weightTaps = Rent(g.Groups * blocks * taps * width);
        try
        {
            fixed (float* wt = weightTaps)
            {
                DirectWeightTaps(g, w, wt, width);
                _workers.For(images * (blocks / blocksPerChunk), (g, grid, (nint)x, (nint)wt, (nint)bias, (nint)y, kg, cg, blocks, blocksPerChunk, outH, outW, pq, (taps, width)), static (s, chunk) =>
                {
                    var (g, grid, xAt, wtAt, biasAt, yAt, kg, cg, blocks, blocksPerChunk, outH, outW, pq, (taps, width)) = s;
                    float* x = (float*)xAt, wTaps = (float*)wtAt, bias = (float*)biasAt, y = (float*)yAt;
                    int chunksPerImage = blocks / blocksPerChunk, image = chunk / chunksPerImage, n = image / g.Groups, grp = image % g.Groups;
                    float* xPad = DirectScratch((long)cg * grid.Plane + DirectChannels * grid.T);
                    float* yGrid = xPad + (nint)cg * grid.Plane;
                    PadPlanes(g, grid, x + ((nint)n * g.InChannels + grp * cg) * g.InHeight * g.InWidth, xPad);
                    for (int block = chunk % chunksPerImage * blocksPerChunk, end = block + blocksPerChunk; block < end; block++)
                    {
                        int k0 = grp * kg + block * width, count = Math.Min(width, grp * kg + kg - k0);
                        float* blockTaps = wTaps + (nint)(grp * blocks + block) * taps * width;
                        if (width == DirectNarrowChannels) DirectForwardSweep6(g, grid, xPad, blockTaps, yGrid);
                        else DirectForwardSweep(g, grid, xPad, blockTaps, yGrid);
                        for (int i = 0; i < count; i++)
                            GridToPlane(yGrid + (nint)i * grid.T, grid.Wp, y + ((nint)n * g.OutChannels + k0 + i) * pq, outH, outW, bias is null ? 0f : bias[k0 + i]);
                    }
                });
            }
        }
        finally
        {
            Return(weightTaps);
        }
    }

    /// <summary>Images x groups from which the forward hands out whole (image, group) chunks instead of single blocks.</summary>
    private const int DirectMinImageChunks = 8;

    /// <summary>
    /// wTaps[grp*blocks + block, tap, i] = w[grp*Kg + block*width + i, tap] for i &lt; width (0 past the group's
    /// channels): each block's weights tap after tap, as the sweeps read them (width 8, or 16 for channel vectors).
    /// </summary>
    private static unsafe void DirectWeightTaps(in Conv2dGeometry g, float* w, float* wTaps, int width)
    {
        int kg = g.OutChannelsPerGroup, blocks = (kg + width - 1) / width;
        int taps = g.InChannelsPerGroup * g.Kernel.Height * g.Kernel.Width;
        for (int grp = 0; grp < g.Groups; grp++)
            for (int block = 0; block < blocks; block++)
            {
                int k0 = grp * kg + block * width, count = Math.Min(width, grp * kg + kg - k0);
                float* dst = wTaps + (nint)(grp * blocks + block) * taps * width;
                new Span<float>(dst, taps * width).Clear();
                for (int i = 0; i < count; i++)
                {
                    float* src = w + (nint)(k0 + i) * taps;
                    for (int tap = 0; tap < taps; tap++) dst[tap * width + i] = src[tap];
                }
            }
    }

    /// <summary>
    /// yGrid[i, t] = sum over taps (c, r, s) of wTaps[tap, i] * xPad[c, t + r*dH*Wp + s*dW], 8 channels at once: two
    /// vectors of positions per pass (16 accumulators, each tap's 8 weights broadcast once for both), then a last
    /// single vector. Every position is the same FMA chain either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectForwardSweep(in Conv2dGeometry g, DirectGrid grid, float* xPad, float* wTaps, float* yGrid)
    {
        int R = g.Kernel.Height, S = g.Kernel.Width, cg = g.InChannelsPerGroup;
        int t = 0;
        for (; t + 32 <= grid.T; t += 32) DirectForwardPair(g, grid, xPad, wTaps, yGrid, t);
        for (; t < grid.T; t += 16)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            float* wt = wTaps;
            for (int c = 0; c < cg; c++)
                for (int r = 0; r < R; r++)
                {
                    float* row = xPad + (nint)c * grid.Plane + (nint)r * g.Dilation.Height * grid.Wp + t;
                    for (int s = 0; s < S; s++, wt += DirectChannels)
                    {
                        var xv = Vector512.Load(row + s * g.Dilation.Width);
                        a0 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[0]), a0);
                        a1 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[1]), a1);
                        a2 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[2]), a2);
                        a3 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[3]), a3);
                        a4 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[4]), a4);
                        a5 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[5]), a5);
                        a6 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[6]), a6);
                        a7 = Vector512.FusedMultiplyAdd(xv, Vector512.Create(wt[7]), a7);
                    }
                }
            a0.Store(yGrid + t);
            a1.Store(yGrid + grid.T + t);
            a2.Store(yGrid + 2 * grid.T + t);
            a3.Store(yGrid + 3 * grid.T + t);
            a4.Store(yGrid + 4 * grid.T + t);
            a5.Store(yGrid + 5 * grid.T + t);
            a6.Store(yGrid + 6 * grid.T + t);
            a7.Store(yGrid + 7 * grid.T + t);
        }
    }

    /// <summary>yGrid[i, t .. t + 31] of <see cref="DirectForwardSweep"/>: 16 accumulators, 8 broadcast weights and 2 loads per tap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectForwardPair(in Conv2dGeometry g, DirectGrid grid, float* xPad, float* wTaps, float* yGrid, int t)
    {
        int R = g.Kernel.Height, S = g.Kernel.Width, cg = g.InChannelsPerGroup;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        float* wt = wTaps;
        for (int c = 0; c < cg; c++)
            for (int r = 0; r < R; r++)
            {
                float* row = xPad + (nint)c * grid.Plane + (nint)r * g.Dilation.Height * grid.Wp + t;
                for (int s = 0; s < S; s++, wt += DirectChannels)
                {
                    var x0 = Vector512.Load(row + s * g.Dilation.Width);
                    var x1 = Vector512.Load(row + s * g.Dilation.Width + 16);
                    var w0 = Vector512.Create(wt[0]);
                    a0 = Vector512.FusedMultiplyAdd(x0, w0, a0);
                    b0 = Vector512.FusedMultiplyAdd(x1, w0, b0);
                    var w1 = Vector512.Create(wt[1]);
                    a1 = Vector512.FusedMultiplyAdd(x0, w1, a1);
                    b1 = Vector512.FusedMultiplyAdd(x1, w1, b1);
                    var w2 = Vector512.Create(wt[2]);
                    a2 = Vector512.FusedMultiplyAdd(x0, w2, a2);
                    b2 = Vector512.FusedMultiplyAdd(x1, w2, b2);
                    var w3 = Vector512.Create(wt[3]);
                    a3 = Vector512.FusedMultiplyAdd(x0, w3, a3);
                    b3 = Vector512.FusedMultiplyAdd(x1, w3, b3);
                    var w4 = Vector512.Create(wt[4]);
                    a4 = Vector512.FusedMultiplyAdd(x0, w4, a4);
                    b4 = Vector512.FusedMultiplyAdd(x1, w4, b4);
                    var w5 = Vector512.Create(wt[5]);
                    a5 = Vector512.FusedMultiplyAdd(x0, w5, a5);
                    b5 = Vector512.FusedMultiplyAdd(x1, w5, b5);
                    var w6 = Vector512.Create(wt[6]);
                    a6 = Vector512.FusedMultiplyAdd(x0, w6, a6);
                    b6 = Vector512.FusedMultiplyAdd(x1, w6, b6);
                    var w7 = Vector512.Create(wt[7]);
                    a7 = Vector512.FusedMultiplyAdd(x0, w7, a7);
                    b7 = Vector512.FusedMultiplyAdd(x1, w7, b7);
                }
            }
        a0.Store(yGrid + t);
        b0.Store(yGrid + t + 16);
        a1.Store(yGrid + grid.T + t);
        b1.Store(yGrid + grid.T + t + 16);
        a2.Store(yGrid + 2 * grid.T + t);
        b2.Store(yGrid + 2 * grid.T + t + 16);
        a3.Store(yGrid + 3 * grid.T + t);
        b3.Store(yGrid + 3 * grid.T + t + 16);
        a4.Store(yGrid + 4 * grid.T + t);
        b4.Store(yGrid + 4 * grid.T + t + 16);
        a5.Store(yGrid + 5 * grid.T + t);
        b5.Store(yGrid + 5 * grid.T + t + 16);
        a6.Store(yGrid + 6 * grid.T + t);
        b6.Store(yGrid + 6 * grid.T + t + 16);
        a7.Store(yGrid + 7 * grid.T + t);
        b7.Store(yGrid + 7 * grid.T + t + 16);
    }

    /// <summary>dYGrid[i, p*Wp + q] = dY[n, k0 + i, p, q] for q &lt; Q, 0 elsewhere (and for count &lt;= i &lt; channels).</summary>
    private static unsafe void GridOfGradient(in Conv2dGeometry g, DirectGrid grid, float* dY, int n, int k0, int count, int channels, float* dYGrid)
    {
        int outH = g.OutHeight, outW = g.OutWidth, pq = outH * outW;
        new Span<float>(dYGrid, channels * grid.T).Clear();
        for (int i = 0; i < count; i++)
        {
            float* src = dY + ((nint)n * g.OutChannels + k0 + i) * pq;
            for (int p = 0; p < outH; p++)
                PanelCopy.Copy(dYGrid + (nint)i * grid.T + p * grid.Wp, src + p * outW, outW);
        }
    }

    /// <summary>
    /// plane[p, q] = grid[p*Wp + q] + bias for q &lt; Q (the real columns of an output grid). A row's last partial
    /// vector is one more 8-wide vector ending at column Q, rewriting a few columns with the same values.
    /// </summary>
    private static unsafe void GridToPlane(float* grid, int wp, float* plane, int outH, int outW, float bias)
    {
        var wide = Vector512.Create(bias);
        var narrow = Vector256.Create(bias);
        for (int p = 0; p < outH; p++)
        {
            float* src = grid + (nint)p * wp, dst = plane + (nint)p * outW;
            int q = 0;
            for (; q + 16 <= outW; q += 16) (Vector512.Load(src + q) + wide).Store(dst + q);
            for (; q + 8 <= outW; q += 8) (Vector256.Load(src + q) + narrow).Store(dst + q);
            if (q < outW && outW >= 8)
            {
                (Vector256.Load(src + outW - 8) + narrow).Store(dst + outW - 8);
                continue;
            }
            for (; q < outW; q++) dst[q] = src[q] + bias;
        }
    }
}
