using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Engine.Cpu;

// Legend: N batch, C in channels, K out channels, G groups, R x S kernel, H x W input, P x Q output,
// Cg = C/G, CRS = Cg*R*S, NPQ = N*P*Q (pixels of the whole batch, image after image).

/// <summary>
/// The column matrix of a convolution, never materialized: L[(c*R + r)*S + s, (n*P + p)*Q + q] =
/// x[n, c, p*strideH - top + r*dilationH, q*strideW - left + s*dilationW] (0 outside the input), a CRS x NPQ
/// matrix read by the forward GEMM y (Kg x NPQ) = W_g (Kg x CRS) * L. Packing walks each micro-panel as runs of
/// consecutive q in one output row, so stride-1 rows become plain copies with zeroed borders.
/// </summary>
internal readonly unsafe struct Im2ColSource(float* x, in Conv2dGeometry g) : IPanelSource
{
    private readonly ConvIndex _ix = new(g);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel)
    {
        for (int first = 0; first < width; first += panel)
        {
            float* dst = destination + (nint)first * kc;
            int cols = Math.Min(panel, width - first);
            Rows(dst, panel, k0, kc, j0 + first, cols);
            PanelCopy.ZeroTail(dst, kc, cols, panel);
        }
    }

    /// <summary>destination[k * stride + i] = L[k0 + k, j0 + i] for k &lt; kc and i &lt; cols (rows of L, any stride).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Rows(float* destination, nint stride, int k0, int kc, int j0, int cols)
    {
        var ix = _ix;
        // one run: columns [start, start+len) are q = q0.. of output row p of image n
        int* runStart = stackalloc int[cols];
        int* runLength = stackalloc int[cols];
        nint* runImage = stackalloc nint[cols];
        int* runH = stackalloc int[cols];
        int* runW = stackalloc int[cols];
        int runs = 0;
        for (int jj = 0; jj < cols;)
        {
            int j = j0 + jj, n = j / ix.PQ, pq = j % ix.PQ, p = pq / ix.Q, q = pq % ix.Q;
            int len = Math.Min(cols - jj, ix.Q - q);
            runStart[runs] = jj;
            runLength[runs] = len;
            runImage[runs] = n * ix.ImageStride;
            runH[runs] = p * ix.StrideH - ix.Top;
            runW[runs] = q * ix.StrideW - ix.Left;
            runs++;
            jj += len;
        }
        for (int k = 0; k < kc; k++)
        {
            // row k0 + k is tap (r, s) of channel c: its plane and its (r*dH, s*dW)
            int row = k0 + k, c = row / ix.RS;
            float* plane = x + (nint)c * ix.HW;
            int tapH = row % ix.RS / ix.S * ix.DilationH, tapW = row % ix.S * ix.DilationW;
            float* dstRow = destination + k * stride;
            for (int u = 0; u < runs; u++)
            {
                float* d = dstRow + runStart[u];
                int len = runLength[u], h = runH[u] + tapH;
                if ((uint)h >= (uint)ix.H)
                {
                    PanelCopy.Zero(d, len);
                    continue;
                }
                float* src = plane + runImage[u] + (nint)h * ix.W;
                int w0 = runW[u] + tapW;
                if (ix.StrideW == 1)
                    PanelCopy.Window(d, src, w0, len, ix.W);
                else
                {
                    // valid i: 0 <= w0 + i*stride < W
                    int sw = ix.StrideW;
                    int lo = Math.Min(w0 >= 0 ? 0 : (sw - 1 - w0) / sw, len);
                    int hi = Math.Clamp(w0 >= ix.W ? 0 : (ix.W - 1 - w0) / sw + 1, lo, len);
                    PanelCopy.Zero(d, lo);
                    PanelCopy.Gather(d + lo, src + w0 + lo * sw, hi - lo, sw, ix.W - (w0 + lo * sw));
                    PanelCopy.Zero(d + hi, len - hi);
                }
            }
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
        if (Avx512F.IsSupported)
        {
            // taps [j0, j0 + width) of L written out as rows over pixels (the forward's run copies), then transposed
            // into panels 16 x 16 at a time: two vector passes instead of one scalar gather per element
            if (t_rows is null || t_rows.Length < (long)width * kc) t_rows = new AlignedScratch((long)width * kc);
            float* rows = t_rows.Pointer;
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
    public readonly int H = g.InHeight, W = g.InWidth, P = g.OutHeight, Q = g.OutWidth, S = g.Kernel.Width;
    public readonly int HW = g.InHeight * g.InWidth, PQ = g.OutHeight * g.OutWidth, RS = g.Kernel.Height * g.Kernel.Width;
    public readonly int StrideH = g.Stride.Height, StrideW = g.Stride.Width, Top = g.Padding.Top, Left = g.Padding.Left;
    public readonly int DilationH = g.Dilation.Height, DilationW = g.Dilation.Width;
    public readonly int ExtentH = g.Dilation.Height * (g.Kernel.Height - 1) + 1, ExtentW = g.Dilation.Width * (g.Kernel.Width - 1) + 1;

    /// <summary>Distance between images in x: C*H*W (all groups).</summary>
    public readonly nint ImageStride = (nint)g.InChannels * g.InHeight * g.InWidth;
}
