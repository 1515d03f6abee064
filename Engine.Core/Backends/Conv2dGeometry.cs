namespace Engine;

/// <summary>
/// Everything a 2-D convolution needs to know about its shapes, validated once.
/// Legend: N batch, C in channels, K out channels, G groups, R x S kernel, H x W input, P x Q output.
/// Input N x C x H x W, weight K x C/G x R x S, output N x K x P x Q with
/// P = floor((H + top + bottom - dilationH*(R-1) - 1) / strideH) + 1 (Q likewise).
/// </summary>
public readonly record struct Conv2dGeometry(
    int Batch, int InChannels, int InHeight, int InWidth, int OutChannels,
    Size2 Kernel, Size2 Stride, Padding2d Padding, Size2 Dilation, int Groups = 1)
{
    public int OutHeight => OutSize(InHeight, Padding.Top + Padding.Bottom, Kernel.Height, Stride.Height, Dilation.Height);
    public int OutWidth => OutSize(InWidth, Padding.Left + Padding.Right, Kernel.Width, Stride.Width, Dilation.Width);
    public int InChannelsPerGroup => InChannels / Groups;
    public int OutChannelsPerGroup => OutChannels / Groups;

    public Shape InputShape => new(Batch, InChannels, InHeight, InWidth);
    public Shape WeightShape => new(OutChannels, InChannelsPerGroup, Kernel.Height, Kernel.Width);
    public Shape OutputShape => new(Batch, OutChannels, OutHeight, OutWidth);

    /// <summary>Multiply-adds of one forward pass: N * K * P * Q * C/G * R * S.</summary>
    public long Macs => (long)Batch * OutChannels * OutHeight * OutWidth * InChannelsPerGroup * Kernel.Height * Kernel.Width;

    public static int OutSize(int size, int totalPad, int kernel, int stride, int dilation) =>
        FloorDiv(size + totalPad - dilation * (kernel - 1) - 1, stride) + 1;

    /// <summary>
    /// TensorFlow's 'same' padding: output ceil(size / stride), the odd pixel of padding at the end.
    /// </summary>
    public static (int Before, int After) SamePadding(int size, int kernel, int stride, int dilation)
    {
        int outSize = (size + stride - 1) / stride;
        int total = Math.Max((outSize - 1) * stride + dilation * (kernel - 1) + 1 - size, 0);
        return (total / 2, total - total / 2);
    }

    public void Validate(string where)
    {
        if (Kernel.Height <= 0 || Kernel.Width <= 0 || Stride.Height <= 0 || Stride.Width <= 0 || Dilation.Height <= 0 || Dilation.Width <= 0)
            throw new ArgumentException($"{where}: expected positive kernel size, stride and dilation, got kernel {Kernel}, stride {Stride}, dilation {Dilation}");
        if (Padding.Top < 0 || Padding.Left < 0 || Padding.Bottom < 0 || Padding.Right < 0)
            throw new ArgumentException($"{where}: expected non-negative padding, got {Padding}");
        if (Groups <= 0 || InChannels <= 0 || OutChannels <= 0)
            throw new ArgumentException($"{where}: expected positive channels and groups, got in {InChannels}, out {OutChannels}, groups {Groups}");
        if (InChannels % Groups != 0 || OutChannels % Groups != 0)
            throw new ArgumentException($"{where}: in channels ({InChannels}) and out channels ({OutChannels}) must both be divisible by groups ({Groups})");
        if (Batch <= 0 || InHeight <= 0 || InWidth <= 0)
            throw new ArgumentException($"{where}: expected a non-empty input (N,{InChannels},H,W), got {InputShape}");
        int extentH = Dilation.Height * (Kernel.Height - 1) + 1, extentW = Dilation.Width * (Kernel.Width - 1) + 1;
        int paddedH = InHeight + Padding.Top + Padding.Bottom, paddedW = InWidth + Padding.Left + Padding.Right;
        if (extentH > paddedH || extentW > paddedW)
            throw new ArgumentException(
                $"{where}: kernel {Kernel.Height}x{Kernel.Width} (dilated extent {extentH}x{extentW}) is larger than the padded input {paddedH}x{paddedW} (input {InHeight}x{InWidth})");
    }

    private static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}
