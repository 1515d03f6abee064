using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// Legend: N batch, C in channels, K out channels, G groups, R x S kernel, H x W input, P x Q output,
// Cg = C/G, CRS = Cg*R*S, NPQ = N*P*Q (pixels of the whole batch, image after image).

/// <summary>
/// The column matrix of a convolution, never materialized: L[(c*R + r)*S + s, (n*P + p)*Q + q] =
/// x[n, c, p*strideH - top + r*dilationH, q*strideW - left + s*dilationW] (0 outside the input), a CRS x NPQ
/// matrix read by the forward GEMM y (Kg x NPQ) = W_g (Kg x CRS) * L. A block is copied run by run: a run is a
/// stretch of consecutive q in one output row (and, when packing, one micro-panel), copied for every row of L in the
/// block as one window of an input row (stride 1: masked copies with zeroed borders; stride 2: de-interleaved by
/// vpermt2ps). The taps of the block's rows are tabulated once, so the copy loops divide nothing.
/// </summary>
internal readonly unsafe struct Im2ColSource(float* x, in Conv2dGeometry g) : IPanelSource
{
    /// <summary>Rows of L whose taps are tabulated at a time (bounds the stack tables).</summary>
    private const int TapBlock = 256;

    private readonly ConvIndex _ix = new(g);

    /// <summary>
    /// Stride 1 with Q == W (a "same" width, as every 3x3 pad-1 layer of ResNet): pixel jj = p*Q + q of an image reads
    /// plane index jj + shift for tap (r, s), shift = (r*dH - top)*W + s*dW - left, so a panel row is one window of the
    /// flattened plane (see <see cref="PackFlat"/>).
    /// </summary>
    private readonly bool _flat = GemmKernels.Use512 && g.Stride is { Height: 1, Width: 1 } && g.OutWidth == g.InWidth;

    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel)
    {
        if (_flat && panel % FlatLanes == 0)
        {
            PackFlat(destination, k0, kc, j0, width, panel);
            return;
        }
        Copy(destination, panel, k0, kc, j0, width, panel);
        if (width % panel != 0)
        {
            int last = width / panel;
            PanelCopy.ZeroTail(destination + (nint)last * kc * panel, kc, width - last * panel, panel);
        }
    }

    /// <summary>Lanes of one masked window load.</summary>
    private const int FlatLanes = 16;

    /// <summary>A pixel index no tap reaches (lanes outside the image segment being loaded).</summary>
    private const int NoPixel = -(1 << 29);

    /// <summary>
    /// Pack for <see cref="_flat"/> geometries: each 16 columns of a panel row are, per image they touch, one masked load
    /// of 16 consecutive floats of the plane, lane i reading pixel jj_i + shift where 0 &lt;= q_i + s*dW - left &lt; W and
    /// 0 &lt;= jj_i + shift &lt; H*W (then the row p_i + r*dH - top lies inside the plane), else 0. Columns past
    /// <paramref name="width"/> come out 0. The same values as <see cref="Copy"/>, a few instructions per 16 floats
    /// instead of one masked copy per output-row run (runs of 7 or 14 pixels on ResNet's small maps).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PackFlat(float* destination, int k0, int kc, int j0, int width, int panel)
    {
        Wide512Meter.Enter();
        var ix = _ix;
        // per row of the block: the offset of its window in the image (plane + shift), the shift, and s*dW - left
        nint* tapOffset = stackalloc nint[TapBlock];
        int* tapShift = stackalloc int[TapBlock];
        int* tapColumn = stackalloc int[TapBlock];
        int* columnOf = stackalloc int[FlatLanes];
        var lane = Vector512<int>.Indices;
        var planeSize = Vector512.Create((uint)ix.HW);
        var rowSize = Vector512.Create((uint)ix.W);
        int groups = GemmDriver.CeilDiv(width, panel) * (panel / FlatLanes);
        for (int kb = 0; kb < kc; kb += TapBlock)
        {
            int taps = Math.Min(TapBlock, kc - kb), row = k0 + kb;
            int c = row / ix.RS, r = row % ix.RS / ix.S, s = row % ix.S;
            for (int k = 0; k < taps; k++)
            {
                int shiftW = s * ix.DilationW - ix.Left;
                tapShift[k] = (r * ix.DilationH - ix.Top) * ix.W + shiftW;
                tapColumn[k] = shiftW;
                tapOffset[k] = (nint)c * ix.HW + tapShift[k];
                if (++s == ix.S)
                {
                    s = 0;
                    if (++r == ix.R)
                    {
                        r = 0;
                        c++;
                    }
                }
            }
            for (int u = 0; u < groups; u++)
            {
                int first = u * FlatLanes, t = first / panel, count = Math.Clamp(width - first, 0, FlatLanes);
                float* dst = destination + (nint)t * kc * panel + (nint)kb * panel + (first - t * panel);
                if (count == 0)
                {
                    for (int k = 0; k < taps; k++) Vector512<float>.Zero.Store(dst + (nint)k * panel);
                    continue;
                }
                // segments: lanes [a, b) hold pixels ja.. of image n (a new image starts a new segment)
                for (int a = 0; a < count;)
                {
                    int j = j0 + first + a, n = j / ix.PQ, ja = j % ix.PQ, b = Math.Min(count, a + ix.PQ - ja);
                    for (int i = 0; i < FlatLanes; i++) columnOf[i] = i >= a && i < b ? (ja + i - a) % ix.Q : 0;
                    var inSegment = Vector512.GreaterThanOrEqual(lane, Vector512.Create(a)) & Vector512.LessThan(lane, Vector512.Create(b));
                    var pixel = Vector512.ConditionalSelect(inSegment, lane + Vector512.Create(ja - a), Vector512.Create(NoPixel));
                    var column = Vector512.Load(columnOf);
                    // lane i reads image + tapOffset[k] + i = plane c of image n at pixel jj_i + shift
                    float* image = x + n * ix.ImageStride + (ja - a);
                    bool merge = a > 0;
                    for (int k = 0; k < taps; k++)
                    {
                        var inside = Vector512.LessThan((pixel + Vector512.Create(tapShift[k])).AsUInt32(), planeSize)
                            & Vector512.LessThan((column + Vector512.Create(tapColumn[k])).AsUInt32(), rowSize);
                        float* d = dst + (nint)k * panel;
                        var old = merge ? Vector512.Load(d) : Vector512<float>.Zero;
                        Avx512F.MaskLoad(image + tapOffset[k], inside.AsSingle(), old).Store(d);
                    }
                    a = b;
                }
            }
        }
    }

    /// <summary>destination[k * stride + i] = L[k0 + k, j0 + i] for k &lt; kc and i &lt; cols (rows of L, any stride).</summary>
    public void Rows(float* destination, nint stride, int k0, int kc, int j0, int cols) => Copy(destination, stride, k0, kc, j0, cols, 0);

    /// <summary>
    /// L[k0 + k, j0 + i] for k &lt; kc, i &lt; width into micro-panels of <paramref name="panel"/> columns (row stride
    /// panel, panel t at t * kc * panel), or, with panel 0, into rows of <paramref name="rowStride"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Copy(float* destination, nint rowStride, int k0, int kc, int j0, int width, int panel)
    {
        var ix = _ix;
        // per row of the block: the offset of its channel's plane, r*dH and s*dW
        nint* tapPlane = stackalloc nint[TapBlock];
        int* tapH = stackalloc int[TapBlock];
        int* tapW = stackalloc int[TapBlock];
        nint panelSize = panel > 0 ? (nint)kc * panel : 0;
        for (int kb = 0; kb < kc; kb += TapBlock)
        {
            int taps = Math.Min(TapBlock, kc - kb), row = k0 + kb;
            int c = row / ix.RS, r = row % ix.RS / ix.S, s = row % ix.S;
            for (int k = 0; k < taps; k++)
            {
                tapPlane[k] = (nint)c * ix.HW;
                tapH[k] = r * ix.DilationH;
                tapW[k] = s * ix.DilationW;
                if (++s == ix.S)
                {
                    s = 0;
                    if (++r == ix.R)
                    {
                        r = 0;
                        c++;
                    }
                }
            }
            float* block = destination + kb * rowStride;
            // runs: column j0 + jj is pixel q of output row p of image n
            int n = j0 / ix.PQ, p = j0 % ix.PQ / ix.Q, q = j0 % ix.Q;
            for (int jj = 0; jj < width;)
            {
                int len = Math.Min(width - jj, ix.Q - q);
                float* dst = block + jj;
                if (panel > 0)
                {
                    int t = jj / panel, at = jj - t * panel;
                    len = Math.Min(len, panel - at);
                    dst = block + t * panelSize + at;
                }
                CopyRun(dst, rowStride, taps, tapPlane, tapH, tapW, x + n * ix.ImageStride, p * ix.StrideH - ix.Top, q * ix.StrideW - ix.Left, len);
                jj += len;
                q += len;
                if (q == ix.Q)
                {
                    q = 0;
                    if (++p == ix.P)
                    {
                        p = 0;
                        n++;
                    }
                }
            }
        }
    }

    /// <summary>
    /// dst[k * rowStride + i] = image[tapPlane[k] + (h0 + tapH[k]) * W + w0 + tapW[k] + i * strideW] (0 outside the
    /// plane) for k &lt; taps and i &lt; len: one run of pixels for every tabulated row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CopyRun(float* dst, nint rowStride, int taps, nint* tapPlane, int* tapH, int* tapW, float* image, int h0, int w0, int len)
    {
        var ix = _ix;
        int sw = ix.StrideW;
        for (int k = 0; k < taps; k++, dst += rowStride)
        {
            int h = h0 + tapH[k];
            if ((uint)h >= (uint)ix.H)
            {
                PanelCopy.Zero(dst, len);
                continue;
            }
            float* src = image + tapPlane[k] + (nint)h * ix.W;
            int w = w0 + tapW[k];
            if (sw == 1) PanelCopy.Window(dst, src, w, len, ix.W);
            else if (sw == 2) PanelCopy.Window2(dst, src, w, len, ix.W);
            else PanelCopy.Strided(dst, src, w, len, sw, ix.W);
        }
    }
}

/// <summary>
/// The transposed column matrix L^T (NPQ x CRS): L^T[pixel, (c*R + r)*S + s] as in <see cref="Im2ColSource"/>, read by
/// the weight gradient dW_g (Kg x CRS) = dY_g (Kg x NPQ) * L^T, whose K dimension runs over every pixel of the batch.
/// Row k of this source is pixel firstPixel + k.
/// </summary>
internal readonly unsafe struct Im2ColTransposedSource(float* x, in Conv2dGeometry g, int firstPixel = 0) : IPanelSource
{
    private readonly ConvIndex _ix = new(g);
    private readonly Im2ColSource _columns = new(x, g);

    /// <summary>Rows of L for one packing call (width taps x kc pixels), per thread.</summary>
    [ThreadStatic] private static AlignedScratch? t_rows;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel)
    {
        if (GemmKernels.Use512)
        {
            // taps [j0, j0 + width) of L written out as rows over pixels (the forward's run copies), then transposed
            // into panels 16 x 16 at a time: two vector passes instead of one scalar gather per element
            float* rows = AlignedScratch.AtLeast(ref t_rows, (long)width * kc);
            _columns.Rows(rows, kc, j0, width, firstPixel + k0, kc);
            new DenseSource(rows, kc, kMajor: false).Pack(destination, 0, kc, 0, width, panel);
            return;
        }
        var ix = _ix;
        // per panel column: offset of tap (c, r, s) from the window's top-left pixel, and its (r*dH, s*dW)
        nint* tapOffset = stackalloc nint[panel];
        int* tapH = stackalloc int[panel];
        int* tapW = stackalloc int[panel];
        for (int t = 0, first = 0; first < width; t++, first += panel)
        {
            float* dst = destination + (nint)t * kc * panel;
            int cols = Math.Min(panel, width - first);
            for (int jj = 0; jj < cols; jj++)
            {
                int col = j0 + first + jj, c = col / ix.RS, r = col % ix.RS / ix.S, s = col % ix.S;
                tapH[jj] = r * ix.DilationH;
                tapW[jj] = s * ix.DilationW;
                tapOffset[jj] = (nint)c * ix.HW + (nint)tapH[jj] * ix.W + tapW[jj];
            }
            int pixel = firstPixel + k0, n = pixel / ix.PQ, p = pixel % ix.PQ / ix.Q, q = pixel % ix.Q;
            for (int k = 0; k < kc; k++, q++)
            {
                if (q == ix.Q)
                {
                    q = 0;
                    if (++p == ix.P)
                    {
                        p = 0;
                        n++;
                    }
                }
                int h0 = p * ix.StrideH - ix.Top, w0 = q * ix.StrideW - ix.Left;
                float* d = dst + (nint)k * panel;
                bool inside = h0 >= 0 && w0 >= 0 && h0 + ix.ExtentH <= ix.H && w0 + ix.ExtentW <= ix.W;
                if (inside)
                {
                    float* src = x + n * ix.ImageStride + (nint)h0 * ix.W + w0;
                    for (int jj = 0; jj < cols; jj++) d[jj] = src[tapOffset[jj]];
                }
                else
                {
                    float* src = x + n * ix.ImageStride + (nint)h0 * ix.W + w0;
                    for (int jj = 0; jj < cols; jj++)
                        d[jj] = (uint)(h0 + tapH[jj]) < (uint)ix.H && (uint)(w0 + tapW[jj]) < (uint)ix.W ? src[tapOffset[jj]] : 0f;
                }
            }
            PanelCopy.ZeroTail(dst, kc, cols, panel);
        }
    }
}

/// <summary>The index arithmetic shared by the im2col sources (sizes of one group of one image).</summary>
internal readonly struct ConvIndex(in Conv2dGeometry g)
{
    public readonly int H = g.InHeight, W = g.InWidth, P = g.OutHeight, Q = g.OutWidth, R = g.Kernel.Height, S = g.Kernel.Width;
    public readonly int HW = g.InHeight * g.InWidth, PQ = g.OutHeight * g.OutWidth, RS = g.Kernel.Height * g.Kernel.Width;
    public readonly int StrideH = g.Stride.Height, StrideW = g.Stride.Width, Top = g.Padding.Top, Left = g.Padding.Left;
    public readonly int DilationH = g.Dilation.Height, DilationW = g.Dilation.Width;
    public readonly int ExtentH = g.Dilation.Height * (g.Kernel.Height - 1) + 1, ExtentW = g.Dilation.Width * (g.Kernel.Width - 1) + 1;

    /// <summary>Distance between images in x: C*H*W (all groups).</summary>
    public readonly nint ImageStride = (nint)g.InChannels * g.InHeight * g.InWidth;
}
