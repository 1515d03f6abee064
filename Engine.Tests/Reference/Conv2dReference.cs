namespace Engine.Tests.Reference;

/// <summary>
/// Direct 2-D convolution (cross-correlation, as PyTorch) in double, written from the definition:
/// y[n, k, p, q] = bias[k] + sum over c &lt; C/G, r &lt; R, s &lt; S of
///     w[k, c, r, s] * x[n, g*C/G + c, p*strideH - top + r*dilationH, q*strideW - left + s*dilationW]
/// with g = k / (K/G) and x = 0 outside the input. Backward passes are the adjoints of the same sum.
/// Only the geometry's fields are read; output sizes are computed here from the formula.
/// </summary>
public static class Conv2dReference
{
    /// <summary>floor((n + before + after - d(k-1) - 1) / s) + 1.</summary>
    public static int OutSize(int n, int before, int after, int kernel, int stride, int dilation) =>
        (int)Math.Floor((n + before + after - dilation * (kernel - 1) - 1) / (double)stride) + 1;

    public static (int P, int Q) OutSizes(Conv2dGeometry g) => (
        OutSize(g.InHeight, g.Padding.Top, g.Padding.Bottom, g.Kernel.Height, g.Stride.Height, g.Dilation.Height),
        OutSize(g.InWidth, g.Padding.Left, g.Padding.Right, g.Kernel.Width, g.Stride.Width, g.Dilation.Width));

    /// <summary>Calls visit(xIndex, wIndex, yIndex) for every product term of the forward sum with an in-input tap.</summary>
    private static void ForEachTerm(Conv2dGeometry g, Action<int, int, int> visit)
    {
        var (P, Q) = OutSizes(g);
        int cg = g.InChannels / g.Groups, kg = g.OutChannels / g.Groups, R = g.Kernel.Height, S = g.Kernel.Width;
        for (int n = 0; n < g.Batch; n++)
            for (int k = 0; k < g.OutChannels; k++)
            {
                int group = k / kg;
                for (int p = 0; p < P; p++)
                    for (int q = 0; q < Q; q++)
                    {
                        int yIndex = ((n * g.OutChannels + k) * P + p) * Q + q;
                        for (int c = 0; c < cg; c++)
                            for (int r = 0; r < R; r++)
                                for (int s = 0; s < S; s++)
                                {
                                    int h = p * g.Stride.Height - g.Padding.Top + r * g.Dilation.Height;
                                    int w = q * g.Stride.Width - g.Padding.Left + s * g.Dilation.Width;
                                    if (h < 0 || h >= g.InHeight || w < 0 || w >= g.InWidth) continue;
                                    int xIndex = ((n * g.InChannels + group * cg + c) * g.InHeight + h) * g.InWidth + w;
                                    int wIndex = ((k * cg + c) * R + r) * S + s;
                                    visit(xIndex, wIndex, yIndex);
                                }
                    }
            }
    }

    public static double[] Forward(Conv2dGeometry g, double[] x, double[] w, double[]? bias)
    {
        var (P, Q) = OutSizes(g);
        var y = new double[g.Batch * g.OutChannels * P * Q];
        if (bias is not null)
            for (int i = 0; i < y.Length; i++) y[i] = bias[i / (P * Q) % g.OutChannels];
        ForEachTerm(g, (xi, wi, yi) => y[yi] += w[wi] * x[xi]);
        return y;
    }

    /// <summary>dX[xi] = sum over terms reading xi of w * dY.</summary>
    public static double[] BackwardData(Conv2dGeometry g, double[] dY, double[] w)
    {
        var dX = new double[g.Batch * g.InChannels * g.InHeight * g.InWidth];
        ForEachTerm(g, (xi, wi, yi) => dX[xi] += w[wi] * dY[yi]);
        return dX;
    }

    /// <summary>dW[wi] = sum over terms using wi of x * dY; dBias[k] = sum of dY over n, p, q.</summary>
    public static (double[] dWeight, double[] dBias) BackwardWeight(Conv2dGeometry g, double[] x, double[] dY)
    {
        var (P, Q) = OutSizes(g);
        var dW = new double[g.OutChannels * (g.InChannels / g.Groups) * g.Kernel.Height * g.Kernel.Width];
        ForEachTerm(g, (xi, wi, yi) => dW[wi] += x[xi] * dY[yi]);
        var dBias = new double[g.OutChannels];
        for (int i = 0; i < dY.Length; i++) dBias[i / (P * Q) % g.OutChannels] += dY[i];
        return (dW, dBias);
    }

    /// <summary>
    /// The column matrix of one image and group: columns[(c*R + r)*S + s, p*Q + q] = x[c, tap(p, r), tap(q, s)]
    /// (0 outside the input), for the adjoint property &lt;im2col(x), y&gt; = &lt;x, col2im(y)&gt;.
    /// </summary>
    public static double[] Im2Col(Conv2dGeometry g, double[] xGroup)
    {
        var (P, Q) = OutSizes(g);
        int cg = g.InChannels / g.Groups, R = g.Kernel.Height, S = g.Kernel.Width;
        var columns = new double[cg * R * S * P * Q];
        for (int c = 0; c < cg; c++)
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++)
                    for (int p = 0; p < P; p++)
                        for (int q = 0; q < Q; q++)
                        {
                            int h = p * g.Stride.Height - g.Padding.Top + r * g.Dilation.Height;
                            int w = q * g.Stride.Width - g.Padding.Left + s * g.Dilation.Width;
                            if (h < 0 || h >= g.InHeight || w < 0 || w >= g.InWidth) continue;
                            columns[(((c * R + r) * S + s) * P + p) * Q + q] = xGroup[(c * g.InHeight + h) * g.InWidth + w];
                        }
        return columns;
    }
}
