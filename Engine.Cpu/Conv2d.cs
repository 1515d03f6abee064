namespace Engine.Cpu;

// Legend: N batch, C in channels, K out channels, G groups, R x S kernel, H x W input, P x Q output,
// Cg = C/G, Kg = K/G, CRS = Cg*R*S (rows of the column matrix), PQ = P*Q, NPQ = N*PQ (its columns).
// Every GEMM below runs through GemmDriver with the column matrix packed straight from x (Conv2dPacking.cs), so no
// column matrix is ever materialized for the forward pass or the weight gradient.
public sealed partial class CpuBackend
{
    /// <summary>
    /// Most floats of dColumns a backward-data block holds (4 MB: with the GEMM's packed blocks, at most 1.5 MB each,
    /// the calling thread stays within the 8 MB of scratch per thread).
    /// </summary>
    private const int ColumnScratchFloats = 1 << 20;

    /// <summary>Weight gradients up to this many floats per group split the pixel sum into fixed chunks.</summary>
    private const int SplitPixelsMaxWeight = 1 << 16;

    /// <summary>Pixels per chunk of a split weight-gradient sum.</summary>
    private const int SplitPixelsChunk = 4096;

    /// <summary>
    /// Forward: per group, y_g (Kg x NPQ) = W_g (Kg x CRS) * columns (CRS x NPQ) (+ bias, written first), one GEMM
    /// over the whole batch so even batch 1 splits into many tiles. A 1x1, stride-1, unpadded convolution reads
    /// x as the column matrix (its planes seen as one row of H*W pixels).
    /// </summary>
    public unsafe void Conv2d(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, DeviceBuffer y)
    {
        if (LiveTaps(g, out var live, out int r0, out int s0))
        {
            Conv2d(live, x, LiveWeightsOf(g, live, r0, s0, w), bias, y);
            return;
        }
        var geo = Packable(g);
        if (UseDirect(geo))
        {
            // the weights are only read (their version, and F(2, 5)'s kept transform, stay valid)
            fixed (float* px = Array(x), pw = Cpu(w).ReadArray, pb = bias is null ? null : Array(bias), py = Array(y))
                Conv2dDirect(geo, Cpu(w), px, pw, pb, py);
            return;
        }
        if (UseWinogradTiles(geo))
        {
            fixed (float* px = Array(x), pb = bias is null ? null : Array(bias), py = Array(y))
                Conv2dWinogradTiles(geo, WinogradTileWeights.Of(Cpu(w), geo.InChannels, geo.OutChannels, flipped: false, _workers), px, pb, py);
            return;
        }
        int kg = geo.OutChannelsPerGroup, cg = geo.InChannelsPerGroup;
        int pq = geo.OutHeight * geo.OutWidth, crs = cg * geo.Kernel.Height * geo.Kernel.Width;
        int hw = geo.InHeight * geo.InWidth, npq = geo.Batch * pq;
        // the weights are only read here, so this forward leaves their version (and any packed copy) valid
        var weightBuffer = Cpu(w);
        var packed = PackedWeights.For(weightBuffer, geo.Groups, kg, crs, _workers);
        // a short, wide output (few channels, many pixels) runs as column chunks that add the bias themselves
        bool split = GemmDriver.UseColumns(kg, npq, crs, _workers.Threads, packed is not null);
        fixed (float* px = Array(x), pw = weightBuffer.ReadArray, pb = bias is null ? null : Array(bias), py = Array(y))
        {
            for (int grp = 0; grp < geo.Groups; grp++)
            {
                // y_g (Kg x NPQ) = bias_g + W_g (Kg x CRS) * columns (CRS x NPQ)
                var output = new ConvOutput(py + (nint)grp * kg * pq, pq, (nint)geo.OutChannels * pq);
                float* xg = px + (nint)grp * cg * hw, biasG = pb is null ? null : pb + (nint)grp * kg;
                if (packed is not null) ForwardGemm(packed.Group(grp), geo, xg, output, kg, npq, crs, biasG, split);
                else ForwardGemm(new DenseSource(pw + (nint)grp * kg * crs, crs, kMajor: false), geo, xg, output, kg, npq, crs, biasG, split);
            }
        }
    }

    /// <summary>y_g (Kg x NPQ) = bias_g + W_g (Kg x CRS) * columns (CRS x NPQ), the columns packed from x_g.</summary>
    private unsafe void ForwardGemm<TW>(TW weights, in Conv2dGeometry geo, float* xg, ConvOutput output, int kg, int npq, int crs, float* bias, bool split)
        where TW : struct, IPanelSource
    {
        int hw = geo.InHeight * geo.InWidth;
        if (IsPointwise(geo)) // the columns are x itself: C x (N*H*W), image after image
            ForwardGemm(weights, new DenseSource(xg, hw, kMajor: true, segment: hw, segmentStride: (nint)geo.InChannels * hw), output, kg, npq, crs, bias, split);
        else if (UsePhasePlanes(geo)) // the same values as Im2ColSource's, so the same bits
            ForwardGemm(weights, new PhaseColumnsSource(xg, geo), output, kg, npq, crs, bias, split);
        else
            ForwardGemm(weights, new Im2ColSource(xg, geo), output, kg, npq, crs, bias, split);
    }

    /// <summary>Set by tests to pack every strided forward with <see cref="Im2ColSource"/> (the bits must not change).</summary>
    internal static bool PhasePlanesDisabled { get; set; }

    /// <summary>
    /// Strided layers (the stem's 7x7 at stride 2, ResNet's downsampling 3x3s) pack from phase-split planes: their
    /// windows are runs of every other input pixel, de-interleaved per tap and per run by <see cref="Im2ColSource"/>,
    /// once per pixel of a piece of columns by <see cref="PhaseColumnsSource"/>. Not for kernels 1 wide: their windows
    /// read each input pixel once, so the planes would only add a copy (ResNet's stride-2 1x1, batch 8, two threads:
    /// 0.958 ms through the planes against 0.875 without, in-process alternated rounds).
    /// </summary>
    private static bool UsePhasePlanes(in Conv2dGeometry g) =>
        !PhasePlanesDisabled && GemmKernels.Use512 && g.Stride.Width > 1 && g.Kernel.Width > 1;

    /// <summary>
    /// Backward data (dX overwritten): dColumns (CRS x NPQ) = W_g^T (CRS x Kg) * dY_g (Kg x NPQ), then dX = col2im
    /// (dColumns), which adds every entry back onto the input pixel it was read from. dColumns is made a block of
    /// pixels at a time (at most 4 MB); col2im splits over channels, each adding its blocks and taps in fixed order.
    /// A 1x1, stride-1, unpadded convolution writes dX straight from the GEMM.
    /// </summary>
    public unsafe void Conv2dBackwardData(in Conv2dGeometry g, DeviceBuffer dY, DeviceBuffer w, DeviceBuffer dX)
    {
        if (LiveTaps(g, out var live, out int r0, out int s0))
        {
            Conv2dBackwardData(live, dY, LiveWeightsOf(g, live, r0, s0, w), dX);
            return;
        }
        var geo = Packable(g);
        if (UseDirect(geo))
        {
            fixed (float* pdy = Array(dY), pw = Array(w), pdx = Array(dX))
                Conv2dDirectBackwardData(geo, pdy, pw, pdx);
            return;
        }
        bool pointwise = IsPointwise(geo);
        if (!pointwise && AsForward(geo, out var forward))
        {
            if (UseWinogradTiles(forward))
            {
                // dX = F(2x2, 3x3) of dY with the flipped, transposed weights (C x K x 3 x 3 read from W, K x C x 3 x 3)
                var u = WinogradTileWeights.Of(Cpu(w), forward.InChannels, forward.OutChannels, flipped: true, _workers);
                fixed (float* pdy = Array(dY), pdx = Array(dX))
                    Conv2dWinogradTiles(forward, u, pdy, null, pdx);
                return;
            }
            BackwardDataAsForward(geo, forward, dY, w, dX);
            return;
        }
        int kg = geo.OutChannelsPerGroup, cg = geo.InChannelsPerGroup;
        int pq = geo.OutHeight * geo.OutWidth, crs = cg * geo.Kernel.Height * geo.Kernel.Width;
        int hw = geo.InHeight * geo.InWidth, npq = geo.Batch * pq;
        int block = pointwise ? npq : Math.Min(npq, Math.Max(32, ColumnScratchFloats / crs / 32 * 32));
        var scratch = pointwise ? null : Rent(crs * block);
        if (!pointwise) Span(dX).Clear();
        try
        {
            fixed (float* pdy = Array(dY), pw = Array(w), pdx = Array(dX), pcols = scratch)
            {
                for (int grp = 0; grp < geo.Groups; grp++)
                {
                    var weightsT = new DenseSource(pw + (nint)grp * kg * crs, crs, kMajor: true);
                    float* dyg = pdy + (nint)grp * kg * pq, dxg = pdx + (nint)grp * cg * hw;
                    nint outImage = (nint)geo.OutChannels * pq, inImage = (nint)geo.InChannels * hw;
                    for (int j0 = 0; j0 < npq; j0 += block)
                    {
                        int width = Math.Min(block, npq - j0);
                        // dColumns (CRS x width) = W_g^T (CRS x Kg) * dY_g (Kg x width)
                        var gradients = new DenseSource(dyg, pq, kMajor: true, segment: pq, segmentStride: outImage, first: j0);
                        var target = pointwise ? new GemmTarget(dxg, hw, hw, inImage) : new GemmTarget(pcols, width);
                        GemmDriver.Run(weightsT, gradients, target, crs, width, kg, accumulate: false, _workers);
                        if (pointwise) continue;
                        float* cols = pcols, dxGroup = dxg;
                        int first = j0;
                        var gg = geo;
                        _workers.For(cg, (gg, (nint)cols, width, first, (nint)dxGroup), static (s, c) => Col2ImBlock(s.Item1, (float*)s.Item2, s.Item3, s.Item4, (float*)s.Item5, c));
                    }
                }
            }
        }
        finally
        {
            if (scratch is not null) Return(scratch);
        }
    }

    /// <summary>
    /// Backward weight (dW, dBias overwritten): dW_g (Kg x CRS) = dY_g (Kg x NPQ) * columns^T (NPQ x CRS), the sum
    /// running over every pixel of the batch inside the GEMM. Small weights (few tiles) split the pixels into fixed
    /// chunks of partial sums added in chunk order; dBias[k] = sum of dY over images and pixels. Neither depends on
    /// the thread count.
    /// </summary>
    public unsafe void Conv2dBackwardWeight(in Conv2dGeometry g, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer dW, DeviceBuffer? dBias)
    {
        if (LiveTaps(g, out var live, out int r0, out int s0))
        {
            var dLive = Allocate(live.WeightShape.Size);
            try
            {
                Conv2dBackwardWeight(live, x, dY, dLive, dBias);
                ScatterLiveTaps(g, live, r0, s0, dLive, dW);
            }
            finally
            {
                Release(dLive);
            }
            return;
        }
        var geo = Packable(g);
        if (UseDirect(geo))
        {
            fixed (float* px = Array(x), pdy = Array(dY), pdw = Array(dW))
                Conv2dDirectBackwardWeight(geo, px, pdy, pdw);
            if (dBias is not null) BiasGradient(geo, Array(dY), Array(dBias));
            return;
        }
        if (UseChannelsLastWeightGradient(geo))
        {
            Conv2dBackwardWeightChannelsLast(geo, x, dY, dW);
            if (dBias is not null) BiasGradient(geo, Array(dY), Array(dBias));
            return;
        }
        int kg = geo.OutChannelsPerGroup, cg = geo.InChannelsPerGroup;
        int pq = geo.OutHeight * geo.OutWidth, crs = cg * geo.Kernel.Height * geo.Kernel.Width;
        int hw = geo.InHeight * geo.InWidth, npq = geo.Batch * pq, wg = kg * crs;
        bool pointwise = IsPointwise(geo);
        nint inImage = (nint)geo.InChannels * hw;
        int chunks = wg <= SplitPixelsMaxWeight ? Math.Clamp(npq / SplitPixelsChunk, 1, 8) : 1;
        var partials = chunks > 1 ? Rent(chunks * wg) : null;
        try
        {
            fixed (float* px = Array(x), pdy = Array(dY), pdw = Array(dW), ppart = partials)
            {
                nint outImage = (nint)geo.OutChannels * pq;
                for (int grp = 0; grp < geo.Groups; grp++)
                {
                    float* dyg = pdy + (nint)grp * kg * pq, xg = px + (nint)grp * cg * hw, dwg = pdw + (nint)grp * wg;
                    var gg = geo;
                    if (chunks == 1)
                    {
                        // dW_g (Kg x CRS) = dY_g (Kg x NPQ) * columns^T (NPQ x CRS)
                        var gradients = new DenseSource(dyg, pq, kMajor: false, segment: pq, segmentStride: outImage);
                        if (pointwise)
                            GemmDriver.Run(gradients, new DenseSource(xg, hw, kMajor: false, segment: hw, segmentStride: inImage),
                                new GemmTarget(dwg, crs), kg, crs, npq, accumulate: false, _workers);
                        else
                            GemmDriver.Run(gradients, new Im2ColTransposedSource(xg, gg), new GemmTarget(dwg, crs), kg, crs, npq, accumulate: false, _workers);
                        continue;
                    }
                    float* part = ppart;
                    _workers.For(chunks, ((nint)dyg, (nint)xg, (nint)part, gg, npq, chunks, pq, outImage, wg, crs, kg, pointwise, hw, inImage), static (s, chunk) =>
                    {
                        var (dygAt, xgAt, partAt, gg, npq, chunks, pq, outImage, wg, crs, kg, pointwise, hw, inImage) = s;
                        float* dyg = (float*)dygAt, xg = (float*)xgAt, part = (float*)partAt;
                        // partial_chunk (Kg x CRS) = dY_g[:, pixels of chunk] * columns^T[pixels of chunk, :]
                        int p0 = (int)((long)chunk * npq / chunks), p1 = (int)((long)(chunk + 1) * npq / chunks);
                        var gradients = new DenseSource(dyg, pq, kMajor: false, segment: pq, segmentStride: outImage, first: p0);
                        var partial = new GemmTarget(part + (nint)chunk * wg, crs);
                        if (pointwise)
                            GemmDriver.Run(gradients, new DenseSource(xg, hw, kMajor: false, segment: hw, segmentStride: inImage, first: p0),
                                partial, kg, crs, p1 - p0, accumulate: false, null);
                        else
                            GemmDriver.Run(gradients, new Im2ColTransposedSource(xg, gg, p0), partial, kg, crs, p1 - p0, accumulate: false, null);
                    });
                    var sum = new Span<float>(dwg, wg);
                    new Span<float>(part, wg).CopyTo(sum);
                    for (int chunk = 1; chunk < chunks; chunk++)
                        System.Numerics.Tensors.TensorPrimitives.Add(sum, new Span<float>(part + (nint)chunk * wg, wg), sum);
                }
            }
        }
        finally
        {
            if (partials is not null) Return(partials);
        }
        if (dBias is not null) BiasGradient(geo, Array(dY), Array(dBias));
    }

    /// <summary>
    /// dX[n, c, h, w] += dColumns[(c*R + r)*S + s, j - first] for the pixel columns j in [first, first + width) whose
    /// tap (r, s) reads (h, w); channel c of one group, taps in (r, s) order.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Col2ImBlock(in Conv2dGeometry g, float* columns, int width, int first, float* dX, int c)
    {
        var ix = new ConvIndex(g);
        int R = g.Kernel.Height;
        nint plane = (nint)c * ix.HW;
        for (int r = 0; r < R; r++)
            for (int s = 0; s < ix.S; s++)
            {
                float* row = columns + (nint)((c * R + r) * ix.S + s) * width;
                for (int jj = 0; jj < width;)
                {
                    int j = first + jj, n = j / ix.PQ, pq = j % ix.PQ, p = pq / ix.Q, q = pq % ix.Q;
                    int len = Math.Min(width - jj, ix.Q - q);
                    int h = p * ix.StrideH - ix.Top + r * ix.DilationH;
                    if ((uint)h < (uint)ix.H)
                    {
                        float* dst = dX + n * ix.ImageStride + plane + (nint)h * ix.W;
                        int w = q * ix.StrideW - ix.Left + s * ix.DilationW;
                        if (ix.StrideW == 1)
                        {
                            // valid i: 0 <= w + i < W
                            int lo = Math.Clamp(-w, 0, len), hi = Math.Clamp(ix.W - w, lo, len);
                            AddTo(dst + w + lo, row + jj + lo, hi - lo);
                        }
                        else
                        {
                            for (int i = 0; i < len; i++, w += ix.StrideW)
                                if ((uint)w < (uint)ix.W) dst[w] += row[jj + i];
                        }
                    }
                    jj += len;
                }
            }
    }

    /// <summary>destination[i] += source[i] for i &lt; count (16 or 8 lanes at a time: each sum rounded alike, the same bits).</summary>
    private static unsafe void AddTo(float* destination, float* source, int count)
    {
        int i = 0;
        if (GemmKernels.Use512)
        {
            Wide512Meter.Tick(ref Wide512Meter.RowAdds);
            for (; i + 16 <= count; i += 16)
                System.Runtime.Intrinsics.Vector512.Store(System.Runtime.Intrinsics.Vector512.Load(destination + i) + System.Runtime.Intrinsics.Vector512.Load(source + i), destination + i);
        }
        else
        {
            for (; i + 8 <= count; i += 8)
                System.Runtime.Intrinsics.Vector256.Store(System.Runtime.Intrinsics.Vector256.Load(destination + i) + System.Runtime.Intrinsics.Vector256.Load(source + i), destination + i);
        }
        for (; i < count; i++) destination[i] += source[i];
    }

    /// <summary>Most output channels whose bias gradients one chunk sums (their planes are adjacent in each image).</summary>
    private const int BiasChannels = 8;

    /// <summary>
    /// dBias[k] = sum over images n in order of (ordered sum over pixels of dY[n, k]) (<see cref="SumOrdered"/>; the
    /// CUDA kernel adds in the same order, so both give the same bits). A chunk is up to 8 adjacent channels, read
    /// image after image as one run of planes (a plane at a time across the images is a stride the prefetcher does
    /// not follow), about two chunks per thread; each channel's sum is the same whichever chunk holds it.
    /// </summary>
    private void BiasGradient(Conv2dGeometry g, float[] dY, float[] dBias)
    {
        int pq = g.OutHeight * g.OutWidth;
        int perChunk = Math.Clamp((g.OutChannels + 2 * _workers.Threads - 1) / (2 * _workers.Threads), 1, BiasChannels);
        _workers.For((g.OutChannels + perChunk - 1) / perChunk, (g, dY, dBias, pq, perChunk), static (s, chunk) =>
        {
            var (g, dY, dBias, pq, perChunk) = s;
            int k0 = chunk * perChunk, count = Math.Min(perChunk, g.OutChannels - k0);
            Span<float> sums = stackalloc float[BiasChannels];
            sums.Clear();
            for (int n = 0; n < g.Batch; n++)
                for (int c = 0; c < count; c++)
                    sums[c] += SumOrdered(dY.AsSpan((n * g.OutChannels + k0 + c) * pq, pq));
            sums[..count].CopyTo(dBias.AsSpan(k0, count));
        });
    }

    /// <summary>
    /// A 1x1, stride-1, unpadded convolution seen with each plane as a single row of H*W pixels (the same sums, longer
    /// contiguous runs for the packing); any other geometry unchanged.
    /// </summary>
    private static Conv2dGeometry Packable(in Conv2dGeometry g) =>
        IsPointwise(g) ? g with { InHeight = 1, InWidth = g.InHeight * g.InWidth, Dilation = 1 } : g;

    /// <summary>1x1, stride 1, no padding: the column matrix is x itself (C x H*W per image).</summary>
    private static bool IsPointwise(in Conv2dGeometry g) =>
        g.Kernel is { Height: 1, Width: 1 } && g.Stride is { Height: 1, Width: 1 } && g.Padding.IsZero;

    /// <summary>A pooled array of at least <paramref name="length"/> floats, held until <see cref="Return"/> (scratch: metered).</summary>
    private static float[] Rent(int length)
    {
        var array = System.Buffers.ArrayPool<float>.Shared.Rent(length);
        if (ScratchMeter.Enabled) ScratchMeter.Hold((long)array.Length * sizeof(float));
        return array;
    }

    private static void Return(float[] array)
    {
        if (ScratchMeter.Enabled) ScratchMeter.Release((long)array.Length * sizeof(float));
        System.Buffers.ArrayPool<float>.Shared.Return(array);
    }
}
