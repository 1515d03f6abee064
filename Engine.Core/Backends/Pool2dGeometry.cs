namespace Engine;

/// <summary>
/// Geometry of 2-D max/average pooling over N x C x H x W planes, fixed-window or adaptive.
/// Fixed: output P = floor_or_ceil((H + top + bottom - d(R-1) - 1) / s) + 1, with PyTorch's rule that in ceil mode
/// the last window must start inside the input or the left padding. Adaptive (<see cref="AdaptiveOutput"/> set):
/// window i covers [floor(i*H/P), ceil((i+1)*H/P)).
/// </summary>
public readonly record struct Pool2dGeometry(
    int Batch, int Channels, int InHeight, int InWidth,
    Size2 Kernel, Size2 Stride, Padding2d Padding, Size2 Dilation,
    bool CeilMode = false, bool CountIncludePad = true, int DivisorOverride = 0, Size2 AdaptiveOutput = default)
{
    public bool IsAdaptive => AdaptiveOutput.Height > 0;

    public static Pool2dGeometry Adaptive(Shape input, Size2 output) =>
        new(input.Batch, input.Channels, input.Height, input.Width, 1, 1, 0, 1, AdaptiveOutput: output);

    public int OutHeight => IsAdaptive ? AdaptiveOutput.Height : OutSize(InHeight, Padding.Top, Padding.Bottom, Kernel.Height, Stride.Height, Dilation.Height);
    public int OutWidth => IsAdaptive ? AdaptiveOutput.Width : OutSize(InWidth, Padding.Left, Padding.Right, Kernel.Width, Stride.Width, Dilation.Width);

    public Shape InputShape => new(Batch, Channels, InHeight, InWidth);
    public Shape OutputShape => new(Batch, Channels, OutHeight, OutWidth);

    private int OutSize(int size, int before, int after, int kernel, int stride, int dilation)
    {
        int span = size + before + after - dilation * (kernel - 1) - 1;
        // floor division: a kernel wider than the padded input makes span negative, and the output must then be empty
        int o = (CeilMode ? FloorDiv(span + stride - 1, stride) : FloorDiv(span, stride)) + 1;
        if (CeilMode && (o - 1) * stride >= size + before) o--;
        return o;
    }

    /// <summary>Input rows of output row <paramref name="o"/>: Start + i*Step for i &lt; Count (may fall outside the input).</summary>
    public (int Start, int Count, int Step) RowWindow(int o) =>
        Window(o, InHeight, OutHeight, Kernel.Height, Stride.Height, Padding.Top, Dilation.Height);

    /// <summary>Input columns of output column <paramref name="o"/>, as <see cref="RowWindow"/>.</summary>
    public (int Start, int Count, int Step) ColWindow(int o) =>
        Window(o, InWidth, OutWidth, Kernel.Width, Stride.Width, Padding.Left, Dilation.Width);

    private (int, int, int) Window(int o, int size, int outSize, int kernel, int stride, int before, int dilation)
    {
        if (IsAdaptive)
        {
            int start = (int)((long)o * size / outSize);
            int end = (int)(((long)(o + 1) * size + outSize - 1) / outSize);
            return (start, end - start, 1);
        }
        return (o * stride - before, kernel, dilation);
    }

    /// <summary>
    /// Divisor of average pooling for output (oh, ow), PyTorch's rule: the override if set; else the window
    /// clipped to the padded input when padding counts, or to the input itself when it does not.
    /// </summary>
    public int AvgDivisor(int oh, int ow)
    {
        if (DivisorOverride > 0) return DivisorOverride;
        var (h0, kh, _) = RowWindow(oh);
        var (w0, kw, _) = ColWindow(ow);
        if (!IsAdaptive && CountIncludePad)
        {
            int hEnd = Math.Min(h0 + kh, InHeight + Padding.Bottom), wEnd = Math.Min(w0 + kw, InWidth + Padding.Right);
            return (hEnd - h0) * (wEnd - w0);
        }
        int rows = Math.Min(h0 + kh, InHeight) - Math.Max(h0, 0), cols = Math.Min(w0 + kw, InWidth) - Math.Max(w0, 0);
        return rows * cols;
    }

    private static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    public void Validate(string where, bool isMax)
    {
        if (Batch <= 0 || Channels <= 0 || InHeight <= 0 || InWidth <= 0)
            throw new ArgumentException($"{where}: expected a non-empty input (N,C,H,W), got {InputShape}");
        if (IsAdaptive)
        {
            if (AdaptiveOutput.Width <= 0)
                throw new ArgumentException($"{where}: expected a positive output size, got {AdaptiveOutput}");
            return;
        }
        if (Kernel.Height <= 0 || Kernel.Width <= 0 || Stride.Height <= 0 || Stride.Width <= 0 || Dilation.Height <= 0 || Dilation.Width <= 0)
            throw new ArgumentException($"{where}: expected positive kernel size, stride and dilation, got kernel {Kernel}, stride {Stride}, dilation {Dilation}");
        if (!isMax && (Dilation.Height != 1 || Dilation.Width != 1))
            throw new ArgumentException($"{where}: average pooling has no dilation, got {Dilation}");
        int halfH = (Dilation.Height * (Kernel.Height - 1) + 1) / 2, halfW = (Dilation.Width * (Kernel.Width - 1) + 1) / 2;
        var p = Padding;
        if (p.Top < 0 || p.Left < 0 || p.Bottom < 0 || p.Right < 0 || Math.Max(p.Top, p.Bottom) > halfH || Math.Max(p.Left, p.Right) > halfW)
            throw new ArgumentException($"{where}: padding must be non-negative and at most half the kernel extent ({halfH}x{halfW}), got {p}");
        if (OutHeight <= 0 || OutWidth <= 0)
            throw new ArgumentException($"{where}: kernel {Kernel.Height}x{Kernel.Width} is larger than the padded input {InHeight + p.Top + p.Bottom}x{InWidth + p.Left + p.Right} (input {InHeight}x{InWidth}); the output would be {OutHeight}x{OutWidth}");
    }
}
