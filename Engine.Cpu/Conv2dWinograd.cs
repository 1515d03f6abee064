using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// The forward of kernels 5 wide by Winograd's minimal filtering F(2, 5) along rows (Legend as in Conv2dDirect.cs).
// Two neighbouring outputs of a kernel row, y0 = sum_s g_s d_s and y1 = sum_s g_s d_(s+1) over six inputs d_0..5,
// are y = A^T [(G g) . (B^T d)] with the points 0, 1, -1, 2, -2, infinity:
//
//   B^T d = (4d0 - 5d2 + d4,  -4(d1 + d2) + d3 + d4,  4(d1 - d2) - d3 + d4,
//            2(d3 - d1) - d2 + d4,  -2(d3 - d1) - d2 + d4,  4d1 - 5d3 + d5)
//   G g   = (g0/4,  -(g0 + g1 + g2 + g3 + g4)/6,  -(g0 - g1 + g2 - g3 + g4)/6,
//            (g0 + 2g1 + 4g2 + 8g3 + 16g4)/24,  (g0 - 2g1 + 4g2 - 8g3 + 16g4)/24,  g4)
//   A^T m = (m0 + m1 + m2 + m3 + m4,  m1 - m2 + 2(m3 - m4) + m5)
//
// The products m_j = sum over kernel rows (c, r) of U[c, r, j] * V[c, p + r*dH, t, j] are 6 FMAs per pair of outputs
// and kernel row where the direct sum takes 10: with 16 output channels per vector (as in Conv2dDirectChannels.cs),
// U[c, r, j] is a vector of 16 transformed weights and V (the transformed input at tile t = q/2 of row p + r*dH) is
// broadcast. LeNet's second layer (6 -> 16 channels, 14 x 14 -> 10 x 10): 9,000 FMAs of 16 lanes per image
// instead of 15,000, plus the transforms.
//
// The transforms round: each output differs from the direct sum by a few units of float rounding of the terms'
// magnitudes, not bit for bit as the other forwards do (the tests hold it to the direct paths' 2e-6 per unit of
// sum |terms|; the worst of 800 generated cases measured 7.9e-7). Every output is the same sequence of operations on
// every thread count, so the results are still bitwise independent of the threads. A NaN input reaches exactly the
// outputs whose window holds it (y0 takes no d5 and y1 no d0, through the point at infinity); an infinite input
// gives NaN (inf - inf in A^T) where the direct sum gives +-inf.
// PyTorch's CPU convolutions (oneDNN) sum directly here; cuDNN offers Winograd algorithms that its heuristics pick.
public sealed partial class CpuBackend
{
    /// <summary>
    /// Whether convolutions with 5-wide kernels may run a Winograd forward (F(4, 5) tiles, or F(2, 5) for an image with
    /// a NaN or infinite input: Conv2dWinogradHybrid.cs; default true; process-wide, like PyTorch's backend flags), and
    /// 3x3 ones F(2x2, 3x3) (Conv2dWinogradTiles.cs); and whether the backward data of kernels 5 tall may run F(4, 5)
    /// down the columns (Conv2dWinogradBackwardData.cs). It changes the results by float rounding only (within 2e-6 of
    /// sum |terms|); set it false for the direct sum's or the GEMM's bits, e.g. to compare with a run from before it
    /// existed. Tests switch it off to check the direct kernels.
    /// </summary>
    public static bool WinogradEnabled { get; set; } = true;

    /// <summary>Whether the forward of <paramref name="g"/> runs through F(2, 5) (for tests).</summary>
    internal static bool TakesWinograd(in Conv2dGeometry g)
    {
        var geo = Packable(g);
        return UseDirect(geo) && UseWinograd(geo, DirectGrid.Of(geo));
    }

    /// <summary>
    /// Channel-vector geometries with kernels 5 wide at column dilation 1 whose input is read in place (no padding,
    /// output rows of whole 10-pixel tiles, so the input rows are an even number of columns wide), with at least
    /// <see cref="WinogradMinRows"/> kernel rows (C/G*R).
    /// </summary>
    private static bool UseWinograd(in Conv2dGeometry g, DirectGrid grid) =>
        WinogradEnabled && UseChannelVectors(g, grid) && ReadsInPlace(g) && g.Kernel.Width == 5 && g.Dilation.Width == 1
        && g.InChannelsPerGroup * g.Kernel.Height >= WinogradMinRows;

    /// <summary>
    /// Fewest kernel rows for F(2, 5): a 10-pixel tile costs 30 FMAs per kernel row and about 40 operations of
    /// transforms and passes against the direct kernel's 50 FMAs per row, so a few rows gain little; and with few
    /// terms per output the transforms' rounding weighs most against the sum's magnitude.
    /// </summary>
    private const int WinogradMinRows = 6;

    /// <summary>Transformed inputs and products per pair of outputs.</summary>
    private const int WinogradPoints = 6;

    /// <summary>
    /// y[n, k, p, q] = bias[k] + F(2, 5) of the group's kernel rows: U laid out when the weights have changed
    /// (<see cref="WinogradWeights"/>, kept by <see cref="WinogradRowWeights"/>), then chunks of (image, group) or (image, group, 16-channel block) as in
    /// <see cref="Conv2dDirectChannels"/>, each transforming its input planes and running its blocks' tiles.
    /// </summary>
    private unsafe void Conv2dWinograd(Conv2dGeometry g, CpuBuffer weights, float* x, float* w, float* bias, float* y)
    {
        int blocks = g.OutChannelsPerGroup / ChannelVector, images = g.Batch * g.Groups;
        int blocksPerChunk = images >= DirectMinImageChunks ? blocks : 1;
        int rows = g.InChannelsPerGroup * g.Kernel.Height;
        // offsets[c*R + r] = c*(H*W/2) + r*dH*(W/2): kernel row (c, r)'s first tile in the transformed planes
        int* offsets = stackalloc int[rows];
        for (int c = 0, row = 0; c < g.InChannelsPerGroup; c++)
            for (int r = 0; r < g.Kernel.Height; r++)
                offsets[row++] = c * (g.InHeight * g.InWidth / 2) + r * g.Dilation.Height * (g.InWidth / 2);
        float* u = WinogradRowWeights.Of(weights, g, w);
        // the F(4, 5) rows (Conv2dWinogradHybrid.cs) index V by input row: rowOffsets[c*R + r] = c*H + r*dH
        bool hybrid = WinogradHybridEnabled;
        int* rowOffsets = stackalloc int[rows];
        for (int c = 0, row = 0; c < g.InChannelsPerGroup; c++)
            for (int r = 0; r < g.Kernel.Height; r++)
                rowOffsets[row++] = c * g.InHeight + r * g.Dilation.Height;
        float* u4 = hybrid ? WinogradRowWeights.Of(weights, g, w, four: true) : null;
        _workers.For(images * (blocks / blocksPerChunk), (g, (nint)offsets, blocksPerChunk, (nint)x, (nint)u, (nint)bias, (nint)y, ((nint)rowOffsets, (nint)u4)),
            static (s, chunk) =>
            {
                var (g, offsets, blocksPerChunk, xAt, uAt, biasAt, yAt, (rowOffsets, u4)) = s;
                int chunksPerImage = g.OutChannelsPerGroup / ChannelVector / blocksPerChunk, image = chunk / chunksPerImage;
                int first = chunk % chunksPerImage * blocksPerChunk, n = image / g.Groups, grp = image % g.Groups;
                // an image with a NaN or infinite input (the hybrid declines it) runs the F(2, 5) rows alone
                if (u4 != 0 && WinogradHybridImage(g, (int*)rowOffsets, (float*)xAt, (float*)u4, (float*)biasAt, (float*)yAt, n, grp, first, first + blocksPerChunk))
                    return;
                WinogradImage(g, (int*)offsets, (float*)xAt, (float*)uAt, (float*)biasAt, (float*)yAt, n, grp, first, first + blocksPerChunk);
            });
    }

    /// <summary>
    /// F(2, 5)'s transformed weights (<see cref="WinogradWeights"/>' layout), or F(4, 5)'s (four:
    /// <see cref="WinogradWeights4"/>'), kept on the weight buffer (<see cref="CpuBuffer.WinogradRows"/>,
    /// <see cref="CpuBuffer.WinogradRows4"/>) at the version they were made from, made again in place when the weights
    /// change (a training step; no allocation) or the geometry's layout does: an inference pass, and the benchmark,
    /// skip the transform, which runs on one thread before the parallel part.
    /// </summary>
    internal sealed unsafe class WinogradRowWeights
    {
        private AlignedScratch? _data;
        private long _version = -1;
        private (int Groups, int Kg, int Cg, int R) _shape;

        public static float* Of(CpuBuffer buffer, in Conv2dGeometry g, float* w, bool four = false)
        {
            var kept = four ? buffer.WinogradRows4 ??= new WinogradRowWeights() : buffer.WinogradRows ??= new WinogradRowWeights();
            var shape = (g.Groups, g.OutChannelsPerGroup, g.InChannelsPerGroup, g.Kernel.Height);
            long version = buffer.Version;
            if (kept._data is not null && kept._version == version && kept._shape == shape) return kept._data.Pointer;
            long length = (long)g.Groups * (g.OutChannelsPerGroup / ChannelVector) * g.InChannelsPerGroup * g.Kernel.Height
                * (four ? HybridPoints : WinogradPoints) * ChannelVector;
            if (kept._data is null || kept._data.Length < length) kept._data = new AlignedScratch(length);
            if (four) WinogradWeights4(g, w, kept._data.Pointer);
            else WinogradWeights(g, w, kept._data.Pointer);
            (kept._version, kept._shape) = (version, shape);
            return kept._data.Pointer;
        }
    }

    private const double Sixth = 1.0 / 6, TwentyFourth = 1.0 / 24;

    /// <summary>
    /// u[grp*blocks + block, c*R + r, j, i] = (G g)_j for g = w[grp*Kg + block*16 + i, c, r, 0..5), summed in double
    /// and rounded once (multiplied by the nearest doubles to 1/6 and 1/24: divisions cost a few percent of LeNet's
    /// forward here, and this part runs on one thread).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WinogradWeights(in Conv2dGeometry g, float* w, float* u)
    {
        int rows = g.InChannelsPerGroup * g.Kernel.Height, kg = g.OutChannelsPerGroup, blocks = kg / ChannelVector;
        for (int grp = 0; grp < g.Groups; grp++)
            for (int k = 0; k < kg; k++)
            {
                float* lanes = u + (nint)(grp * blocks + k / ChannelVector) * rows * WinogradPoints * ChannelVector + k % ChannelVector;
                float* wk = w + (nint)(grp * kg + k) * rows * 5;
                for (int row = 0; row < rows; row++)
                {
                    double g0 = wk[row * 5], g1 = wk[row * 5 + 1], g2 = wk[row * 5 + 2], g3 = wk[row * 5 + 3], g4 = wk[row * 5 + 4];
                    float* at = lanes + (nint)row * WinogradPoints * ChannelVector;
                    double even = g0 + g2 + g4, odd = g1 + g3, even4 = g0 + 4 * g2 + 16 * g4, odd4 = 2 * g1 + 8 * g3;
                    at[0] = (float)(g0 * 0.25);
                    at[ChannelVector] = (float)((even + odd) * -Sixth);
                    at[2 * ChannelVector] = (float)((even - odd) * -Sixth);
                    at[3 * ChannelVector] = (float)((even4 + odd4) * TwentyFourth);
                    at[4 * ChannelVector] = (float)((even4 - odd4) * TwentyFourth);
                    at[5 * ChannelVector] = (float)g4;
                }
            }
    }

    /// <summary>
    /// Blocks [first, end) of image n, group grp: the group's planes (in place, or copied at the input's end) transformed to
    /// V[j, c*(H*W/2) + h*(W/2) + t] (<see cref="WinogradInput"/>), then per block every output row's 10-pixel tiles
    /// staged [pixel, channel] and transposed into y 16 pixels at a time.
    /// </summary>
    // not inlined: inside the worker pool's For (where a one-thread pool runs the chunks, its delegate inlined) the
    // JIT's inlining budget ran out before the transposes' helpers, which then cost a quarter of the time as calls
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WinogradImage(in Conv2dGeometry g, int* offsets, float* x, float* u, float* bias, float* y, int n, int grp, int first, int end)
    {
        Wide512Meter.Enter();
        int cg = g.InChannelsPerGroup, kg = g.OutChannelsPerGroup, blocks = kg / ChannelVector, rows = cg * g.Kernel.Height;
        int outH = g.OutHeight, outW = g.OutWidth, pq = outH * outW, plane = g.InHeight * g.InWidth, w2 = g.InWidth / 2;
        // L = the transformed length of a point (whole vectors). The transform reads 2L + 4 floats from the group's
        // first: past its planes only for V's unused tiles, so in place unless that runs past the input (the last
        // image), which reads a copy with a zero tail instead.
        int length = (cg * plane / 2 + 15) / 16 * 16;
        long start = ((long)n * g.InChannels + grp * cg) * plane;
        bool inPlace = start + 2L * length + 4 <= (long)g.Batch * g.InChannels * plane;
        float* copy = DirectScratch((inPlace ? 0 : 2L * length + 16) + (long)WinogradPoints * length + (long)pq * ChannelVector);
        float* v = inPlace ? copy : copy + 2 * length + 16, tile = v + (nint)WinogradPoints * length;
        if (!inPlace)
        {
            new ReadOnlySpan<float>(x + start, cg * plane).CopyTo(new Span<float>(copy, cg * plane));
            new Span<float>(copy + cg * plane, 2 * length + 16 - cg * plane).Clear();
        }
        WinogradInput(inPlace ? x + start : copy, length, v);
        for (int block = first; block < end; block++)
        {
            int k0 = grp * kg + block * ChannelVector;
            var biasLanes = bias is null ? Vector512<float>.Zero : Vector512.Load(bias + k0);
            float* ub = u + (nint)(grp * blocks + block) * rows * WinogradPoints * ChannelVector;
            for (int p = 0; p < outH; p++)
                for (int q0 = 0; q0 < outW; q0 += ChannelTilePixels)
                    WinogradTile(v + (nint)p * w2 + q0 / 2, length, offsets, rows, ub, biasLanes, tile + ((nint)p * outW + q0) * ChannelVector);
            // tile[pixel, i] -> y[k0 + i, pixel], 16 pixels at a time
            float* yBlock = y + ((nint)n * g.OutChannels + k0) * pq;
            for (int pixel = 0; pixel < pq; pixel += ChannelVector)
                PanelTranspose.Block16(tile + (nint)pixel * ChannelVector, ChannelVector, Math.Min(ChannelVector, pq - pixel), Vector512<float>.One, yBlock + pixel, pq);
        }
    }

    /// <summary>
    /// v[j*L + i] = (B^T d)_j for d = copy[2i .. 2i + 6), i &lt; L: the even and odd inputs of each shift (0, 2, 4)
    /// gathered from two loads by one permute each, then the transform's 14 adds and FMAs per 16 outputs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WinogradInput(float* copy, int length, float* v)
    {
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odd = even + Vector512<int>.One;
        var four = Vector512.Create(4f);
        var five = Vector512.Create(-5f);
        var two = Vector512.Create(2f);
        for (int i = 0; i < length; i += 16)
        {
            float* at = copy + 2 * i;
            var a = Vector512.Load(at);
            var b = Vector512.Load(at + 16);
            var d0 = Avx512F.PermuteVar16x32x2(a, even, b);
            var d1 = Avx512F.PermuteVar16x32x2(a, odd, b);
            a = Vector512.Load(at + 2);
            b = Vector512.Load(at + 18);
            var d2 = Avx512F.PermuteVar16x32x2(a, even, b);
            var d3 = Avx512F.PermuteVar16x32x2(a, odd, b);
            a = Vector512.Load(at + 4);
            b = Vector512.Load(at + 20);
            var d4 = Avx512F.PermuteVar16x32x2(a, even, b);
            var d5 = Avx512F.PermuteVar16x32x2(a, odd, b);
            float* o = v + i;
            Vector512.FusedMultiplyAdd(four, d0, Vector512.FusedMultiplyAdd(five, d2, d4)).Store(o);
            Vector512.FusedMultiplyAdd(-four, d1 + d2, d3 + d4).Store(o + length);
            Vector512.FusedMultiplyAdd(four, d1 - d2, d4 - d3).Store(o + 2 * length);
            var e = d4 - d2;
            var f = d3 - d1;
            Vector512.FusedMultiplyAdd(two, f, e).Store(o + 3 * length);
            Vector512.FusedMultiplyAdd(-two, f, e).Store(o + 4 * length);
            Vector512.FusedMultiplyAdd(four, d1, Vector512.FusedMultiplyAdd(five, d3, d5)).Store(o + 5 * length);
        }
    }

    /// <summary>
    /// tile[2t + e, :] = bias + (A^T m)_e for the 5 tiles t of a row of 10 pixels, m_j = sum over kernel rows of
    /// u[row, j, :] * v[j*L + offsets[row] + t]: three passes over the kernel rows, points (1, 2), (3, 4), (0, 5),
    /// each with 10 accumulators, folded into the 10 outputs (y even pixels, z odd) after each pass:
    /// y = m1 + m2, z = m1 - m2; y += m3 + m4, z += 2(m3 - m4); y += m0, z += m5 (no product by 0, so a NaN in m5
    /// never reaches y, nor one in m0 z).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WinogradTile(float* v, int length, int* offsets, int rows, float* u, Vector512<float> bias, float* tile)
    {
        const int Step = WinogradPoints * ChannelVector;
        var two = Vector512.Create(2f);
        Vector512<float> y0 = default, y1 = default, y2 = default, y3 = default, y4 = default;
        Vector512<float> z0 = default, z1 = default, z2 = default, z3 = default, z4 = default;
        for (int pass = 0; pass < 3; pass++)
        {
            int ja = pass == 2 ? 0 : 2 * pass + 1, jb = pass == 2 ? 5 : 2 * pass + 2;
            float* vA = v + (nint)ja * length, vB = v + (nint)jb * length, uA = u + ja * ChannelVector, uB = u + jb * ChannelVector;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default;
            for (int row = 0; row < rows; row++)
            {
                float* va = vA + offsets[row], vb = vB + offsets[row];
                var ua = Vector512.Load(uA + (nint)row * Step);
                var ub = Vector512.Load(uB + (nint)row * Step);
                a0 = Vector512.FusedMultiplyAdd(ua, Vector512.Create(va[0]), a0);
                b0 = Vector512.FusedMultiplyAdd(ub, Vector512.Create(vb[0]), b0);
                a1 = Vector512.FusedMultiplyAdd(ua, Vector512.Create(va[1]), a1);
                b1 = Vector512.FusedMultiplyAdd(ub, Vector512.Create(vb[1]), b1);
                a2 = Vector512.FusedMultiplyAdd(ua, Vector512.Create(va[2]), a2);
                b2 = Vector512.FusedMultiplyAdd(ub, Vector512.Create(vb[2]), b2);
                a3 = Vector512.FusedMultiplyAdd(ua, Vector512.Create(va[3]), a3);
                b3 = Vector512.FusedMultiplyAdd(ub, Vector512.Create(vb[3]), b3);
                a4 = Vector512.FusedMultiplyAdd(ua, Vector512.Create(va[4]), a4);
                b4 = Vector512.FusedMultiplyAdd(ub, Vector512.Create(vb[4]), b4);
            }
            if (pass == 0)
            {
                y0 = a0 + b0; y1 = a1 + b1; y2 = a2 + b2; y3 = a3 + b3; y4 = a4 + b4;
                z0 = a0 - b0; z1 = a1 - b1; z2 = a2 - b2; z3 = a3 - b3; z4 = a4 - b4;
            }
            else if (pass == 1)
            {
                y0 += a0 + b0; y1 += a1 + b1; y2 += a2 + b2; y3 += a3 + b3; y4 += a4 + b4;
                z0 = Vector512.FusedMultiplyAdd(two, a0 - b0, z0);
                z1 = Vector512.FusedMultiplyAdd(two, a1 - b1, z1);
                z2 = Vector512.FusedMultiplyAdd(two, a2 - b2, z2);
                z3 = Vector512.FusedMultiplyAdd(two, a3 - b3, z3);
                z4 = Vector512.FusedMultiplyAdd(two, a4 - b4, z4);
            }
            else
            {
                y0 += a0; y1 += a1; y2 += a2; y3 += a3; y4 += a4;
                z0 += b0; z1 += b1; z2 += b2; z3 += b3; z4 += b4;
            }
        }
        StoreTile(tile, bias, y0, z0, y1, z1, y2, z2, y3, z3, y4, z4);
    }
}
