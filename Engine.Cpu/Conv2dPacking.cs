using System.Runtime.CompilerServices;

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
        var ix = _ix;
        // one run: panel columns [start, start+len) are q = q0.. of output row p of image n
        int* runStart = stackalloc int[panel];
        int* runLength = stackalloc int[panel];
        nint* runImage = stackalloc nint[panel];
        int* runH = stackalloc int[panel];
        int* runW = stackalloc int[panel];
        // per packed row k: its channel plane and the tap's (r*dH, s*dW)
        nint* rowPlane = stackalloc nint[kc];
        int* rowH = stackalloc int[kc];
        int* rowW = stackalloc int[kc];
        for (int k = 0; k < kc; k++)
        {
            int row = k0 + k, c = row / ix.RS;
            rowPlane[k] = (nint)c * ix.HW;
            rowH[k] = row % ix.RS / ix.S * ix.DilationH;
            rowW[k] = row % ix.S * ix.DilationW;
        }
        for (int t = 0, first = 0; first < width; t++, first += panel)
        {
            float* dst = destination + (nint)t * kc * panel;
            int cols = Math.Min(panel, width - first), runs = 0;
            for (int jj = 0; jj < cols;)
            {
                int j = j0 + first + jj, n = j / ix.PQ, pq = j % ix.PQ, p = pq / ix.Q, q = pq % ix.Q;
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
                float* plane = x + rowPlane[k];
                int tapH = rowH[k], tapW = rowW[k];
                float* dstRow = dst + (nint)k * panel;
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
            PanelCopy.ZeroTail(dst, kc, cols, panel);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* destination, int k0, int kc, int j0, int width, int panel)
    {
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
