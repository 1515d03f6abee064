namespace Engine.Tests.Reference;

/// <summary>
/// Max and average pooling of N x C x H x W planes in double, PyTorch's semantics, from the geometry's fields only:
/// fixed windows start at o*stride - padBefore and take kernel taps dilation apart; output size is
/// floor (or ceil) of (n + padBefore + padAfter - d(k-1) - 1) / s, plus 1, dropping a last ceil-mode window that
/// would start past the input and its leading padding. Adaptive windows are [floor(o*n/out), ceil((o+1)*n/out)).
/// </summary>
public static class Pool2dReference
{
    public static int OutSize(int n, int before, int after, int kernel, int stride, int dilation, bool ceil)
    {
        double span = (n + before + after - dilation * (kernel - 1) - 1) / (double)stride;
        int o = (int)(ceil ? Math.Ceiling(span) : Math.Floor(span)) + 1;
        if (ceil && (o - 1) * stride >= n + before) o--;
        return o;
    }

    public static (int P, int Q) OutSizes(Pool2dGeometry g) => g.AdaptiveOutput.Height > 0
        ? (g.AdaptiveOutput.Height, g.AdaptiveOutput.Width)
        : (OutSize(g.InHeight, g.Padding.Top, g.Padding.Bottom, g.Kernel.Height, g.Stride.Height, g.Dilation.Height, g.CeilMode),
           OutSize(g.InWidth, g.Padding.Left, g.Padding.Right, g.Kernel.Width, g.Stride.Width, g.Dilation.Width, g.CeilMode));

    /// <summary>The taps of output o along one axis (may fall outside [0, n)) and, for fixed windows, its clipped end in the padded input.</summary>
    private static (List<int> Taps, int PaddedCount) Window(bool adaptive, int o, int n, int outSize, int kernel, int stride, int before, int after, int dilation)
    {
        var taps = new List<int>();
        if (adaptive)
        {
            int start = (int)Math.Floor((double)o * n / outSize), end = (int)Math.Ceiling((double)(o + 1) * n / outSize);
            for (int i = start; i < end; i++) taps.Add(i);
            return (taps, taps.Count);
        }
        int first = o * stride - before;
        for (int i = 0; i < kernel; i++) taps.Add(first + i * dilation);
        return (taps, Math.Min(first + kernel, n + after) - first);
    }

    private static (List<int> Rows, int PaddedRows, List<int> Cols, int PaddedCols) Windows(Pool2dGeometry g, int p, int q)
    {
        bool adaptive = g.AdaptiveOutput.Height > 0;
        var (P, Q) = OutSizes(g);
        var (rows, paddedRows) = Window(adaptive, p, g.InHeight, P, g.Kernel.Height, g.Stride.Height, g.Padding.Top, g.Padding.Bottom, g.Dilation.Height);
        var (cols, paddedCols) = Window(adaptive, q, g.InWidth, Q, g.Kernel.Width, g.Stride.Width, g.Padding.Left, g.Padding.Right, g.Dilation.Width);
        return (rows.Where(h => h >= 0 && h < g.InHeight).ToList(), paddedRows, cols.Where(w => w >= 0 && w < g.InWidth).ToList(), paddedCols);
    }

    /// <summary>y = max over the window's in-input taps; argmax = flat h*W + w of the first maximum in row-major order.</summary>
    public static (double[] Output, int[] ArgMax) MaxPool(Pool2dGeometry g, double[] x)
    {
        var (P, Q) = OutSizes(g);
        int H = g.InHeight, W = g.InWidth;
        var y = new double[g.Batch * g.Channels * P * Q];
        var arg = new int[y.Length];
        for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++)
                {
                    var (rows, _, cols, _) = Windows(g, p, q);
                    double best = double.NegativeInfinity;
                    int at = -1;
                    foreach (int h in rows)
                        foreach (int w in cols)
                        {
                            double v = x[(plane * H + h) * W + w];
                            if (at < 0 || v > best) (best, at) = (v, h * W + w);
                        }
                    int o = (plane * P + p) * Q + q;
                    y[o] = best;
                    arg[o] = at;
                }
        return (y, arg);
    }

    /// <summary>dX[argmax] += dY.</summary>
    public static double[] MaxPoolBackward(Pool2dGeometry g, double[] x, double[] dY)
    {
        var (P, Q) = OutSizes(g);
        int HW = g.InHeight * g.InWidth;
        var (_, arg) = MaxPool(g, x);
        var dX = new double[g.Batch * g.Channels * HW];
        for (int o = 0; o < dY.Length; o++)
            if (arg[o] >= 0) dX[o / (P * Q) * HW + arg[o]] += dY[o];
        return dX;
    }

    /// <summary>
    /// PyTorch's divisor: the override if given; adaptive windows count their taps; with count_include_pad the
    /// window clipped to the padded input; otherwise the in-input taps only.
    /// </summary>
    public static int Divisor(Pool2dGeometry g, int p, int q)
    {
        var (rows, paddedRows, cols, paddedCols) = Windows(g, p, q);
        if (g.DivisorOverride > 0) return g.DivisorOverride;
        if (g.AdaptiveOutput.Height == 0 && g.CountIncludePad) return paddedRows * paddedCols;
        return rows.Count * cols.Count;
    }

    public static double[] AvgPool(Pool2dGeometry g, double[] x)
    {
        var (P, Q) = OutSizes(g);
        int H = g.InHeight, W = g.InWidth;
        var y = new double[g.Batch * g.Channels * P * Q];
        for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++)
                {
                    var (rows, _, cols, _) = Windows(g, p, q);
                    double sum = 0;
                    foreach (int h in rows)
                        foreach (int w in cols) sum += x[(plane * H + h) * W + w];
                    y[(plane * P + p) * Q + q] = sum / Divisor(g, p, q);
                }
        return y;
    }

    /// <summary>The adjoint of <see cref="AvgPool"/>: each dY spread over its window's in-input taps, divided by the divisor.</summary>
    public static double[] AvgPoolBackward(Pool2dGeometry g, double[] dY)
    {
        var (P, Q) = OutSizes(g);
        int H = g.InHeight, W = g.InWidth;
        var dX = new double[g.Batch * g.Channels * H * W];
        for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++)
                {
                    var (rows, _, cols, _) = Windows(g, p, q);
                    double share = dY[(plane * P + p) * Q + q] / Divisor(g, p, q);
                    foreach (int h in rows)
                        foreach (int w in cols) dX[(plane * H + h) * W + w] += share;
                }
        return dX;
    }
}
