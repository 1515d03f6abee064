namespace Engine;

public static partial class Ops
{
    /// <summary>
    /// Output size of one axis, and the bottom padding of the adjoint convolution: with output padding op, that
    /// convolution needs bottom = pad - stride*floor(op/stride) to map exactly back; when this is negative the last
    /// rows lie beyond every input's reach (they only get the bias) and are cropped, then restored as zeros.
    /// </summary>
    private static (int Out, int PadAfter, int Crop) Extent(int size, int kernel, int stride, int pad, int outputPadding, int dilation)
    {
        int output = (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + outputPadding + 1;
        int after = pad - stride * (outputPadding / stride);
        return (output, Math.Max(after, 0), Math.Max(-after, 0));
    }

    /// <summary>
    /// Transposed convolution: the adjoint of the convolution g that maps (N, Cout, H', W') to (N, Cin, H, W) with
    /// weight (Cin, Cout/G, R, S). H' = (H-1)*stride - 2*pad + dilation*(R-1) + outputPadding + 1.
    /// Forward = g's backward-data; dX = g's forward of dY; dW = g's backward-weight with dY as g's input.
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor w, Tensor? bias, Size2 stride, Size2 padding, Size2 outputPadding,
        Size2 dilation, int groups = 1, string where = "ConvTranspose2d")
    {
        if (w.Rank != 4 || x.Rank != 4 || x.Shape.Channels != w.Shape[0])
            throw new ArgumentException($"{where}: expected input with {(w.Rank == 4 ? w.Shape[0] : 0)} channels (N,{(w.Rank == 4 ? w.Shape[0] : 0)},H,W), got {x.Shape}");
        if (outputPadding.Height < 0 || outputPadding.Width < 0 ||
            (outputPadding.Height >= stride.Height && outputPadding.Height >= dilation.Height) ||
            (outputPadding.Width >= stride.Width && outputPadding.Width >= dilation.Width))
            throw new ArgumentException($"{where}: output padding {outputPadding} must be smaller than either the stride {stride} or the dilation {dilation}");
        x.CheckSameBackend(w, where);
        int outChannels = w.Shape[1] * groups;
        if (bias is not null && bias.Length != outChannels)
            throw new ArgumentException($"{where}: expected a bias ({outChannels}), got {bias.Shape}");
        var (outH, padBottom, cropH) = Extent(x.Shape.Height, w.Shape[2], stride.Height, padding.Height, outputPadding.Height, dilation.Height);
        var (outW, padRight, cropW) = Extent(x.Shape.Width, w.Shape[3], stride.Width, padding.Width, outputPadding.Width, dilation.Width);
        if (outH <= 0 || outW <= 0)
            throw new ArgumentException($"{where}: the output would be {outH}x{outW} for input {x.Shape}");
        // The convolution g maps the transposed output (less rows no input can reach) back onto x's plane.
        var g = new Conv2dGeometry(x.Shape.Batch, outChannels, outH - cropH, outW - cropW, x.Shape.Channels, new Size2(w.Shape[2], w.Shape[3]),
            stride, new Padding2d(padding.Height, padding.Width, padBottom, padRight), dilation, groups);
        g.Validate(where);
        if (g.OutHeight != x.Shape.Height || g.OutWidth != x.Shape.Width)
            throw new ArgumentException($"{where}: internal size mismatch for input {x.Shape}");
        var be = x.Backend;
        var y = Tensor.Empty(be, g.InputShape);
        be.Conv2dBackwardData(g, x.Buffer, w.Buffer, y.Buffer);
        Inspection.AddMacs(g.Macs);
        Inspection.Upsample(y, x, stride.Height, stride.Width,
            (dilation.Height * (w.Shape[2] - 1) + stride.Height) / stride.Height, (dilation.Width * (w.Shape[3] - 1) + stride.Width) / stride.Width);
        if (Autograd.Needs(x, w)) Autograd.Record("ConvTranspose2d", y, new ConvTranspose2dBackward(x, w, g), x, w);
        if (cropH > 0 || cropW > 0) y = Pad2d(y, new Padding2d(0, 0, cropH, cropW), where: where);
        if (bias is not null) y = Add(y, Reshape(bias, new Shape(1, outChannels, 1, 1)));
        return y;
    }

    /// <summary>The transpose of a convolution with geometry g (x as its output): dX = conv(dY, w); dW from dY and x.</summary>
    private readonly struct ConvTranspose2dBackward(Tensor x, Tensor w, Conv2dGeometry g) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var be = x.Backend;
            if (x.TracksGrad)
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.Conv2d(g, dY.Buffer, w.Buffer, null, dX.Buffer);
                Autograd.Accumulate(x, dX);
            }
            if (w.TracksGrad)
            {
                var dW = Tensor.Empty(be, w.Shape);
                be.Conv2dBackwardWeight(g, dY.Buffer, x.Buffer, dW.Buffer, null);
                Autograd.Accumulate(w, dW);
            }
        }
    }
}
