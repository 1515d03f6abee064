namespace Engine;

public static partial class Ops
{
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
        int outH = (x.Shape.Height - 1) * stride.Height - 2 * padding.Height + dilation.Height * (w.Shape[2] - 1) + outputPadding.Height + 1;
        int outW = (x.Shape.Width - 1) * stride.Width - 2 * padding.Width + dilation.Width * (w.Shape[3] - 1) + outputPadding.Width + 1;
        if (outH <= 0 || outW <= 0)
            throw new ArgumentException($"{where}: the output would be {outH}x{outW} for input {x.Shape}");
        var g = new Conv2dGeometry(x.Shape.Batch, outChannels, outH, outW, x.Shape.Channels, new Size2(w.Shape[2], w.Shape[3]),
            stride, new Padding2d(padding.Height, padding.Width, padding.Height, padding.Width), dilation, groups);
        g.Validate(where);
        if (g.OutHeight != x.Shape.Height || g.OutWidth != x.Shape.Width)
            throw new ArgumentException($"{where}: internal size mismatch for input {x.Shape}");
        if (bias is not null && bias.Length != outChannels)
            throw new ArgumentException($"{where}: expected a bias ({outChannels}), got {bias.Shape}");
        var be = x.Backend;
        var y = Tensor.Empty(be, g.InputShape);
        be.Conv2dBackwardData(g, x.Buffer, w.Buffer, y.Buffer);
        Inspection.AddMacs(g.Macs);
        Inspection.Upsample(y, x, stride.Height, stride.Width,
            (dilation.Height * (w.Shape[2] - 1) + stride.Height) / stride.Height, (dilation.Width * (w.Shape[3] - 1) + stride.Width) / stride.Width);
        var biasShape = new Shape(1, outChannels, 1, 1);
        if (bias is not null) be.Binary(BinaryOp.Add, y.Buffer, y.Shape, bias.Buffer, biasShape, y.Buffer, y.Shape);
        if (Autograd.Needs(x, w, bias))
        {
            Autograd.Record("ConvTranspose2d", y, [x, w, bias], dY =>
            {
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
                if (bias is not null && bias.TracksGrad)
                    Autograd.Accumulate(bias, Reshape(SumTo(dY, biasShape), bias.Shape));
            });
        }
        return y;
    }
}
