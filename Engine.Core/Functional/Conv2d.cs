namespace Engine;

public static partial class Ops
{
    /// <summary>
    /// 2-D convolution with zero padding (other padding modes go through <see cref="Pad2d"/> first).
    /// x (N x C x H x W), w (K x C/G x R x S), bias (K) gives y (N x K x P x Q).
    /// dX = conv^T(dY, w); dW = correlation of x with dY; dBias = sum of dY over N, P, Q.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, Size2 stride, Padding2d padding, Size2 dilation, int groups = 1, string where = "Conv2d")
    {
        if (w.Rank != 4)
            throw new ArgumentException($"{where}: expected a weight (K,C/G,R,S), got {w.Shape}");
        int inChannels = w.Shape[1] * groups;
        if (x.Rank != 4 || x.Shape.Channels != inChannels)
            throw new ArgumentException($"{where}: expected input with {inChannels} channels (N,{inChannels},H,W), got {x.Shape}");
        x.CheckSameBackend(w, where);
        var g = new Conv2dGeometry(x.Shape.Batch, inChannels, x.Shape.Height, x.Shape.Width, w.Shape[0],
            new Size2(w.Shape[2], w.Shape[3]), stride, padding, dilation, groups);
        g.Validate(where);
        if (bias is not null && (bias.Rank != 1 || bias.Length != g.OutChannels))
            throw new ArgumentException($"{where}: expected a bias ({g.OutChannels}), got {bias.Shape}");
        var be = x.Backend;
        var y = Tensor.Empty(be, g.OutputShape);
        be.Conv2d(g, x.Buffer, w.Buffer, bias?.Buffer, y.Buffer);
        Inspection.Window(y, x, g.Kernel, g.Stride, g.Dilation);
        Inspection.AddMacs(g.Macs);
        if (Autograd.Needs(x, w, bias)) Autograd.Record("Conv2d", y, new Conv2dBackward(x, w, bias, g), x, w, bias);
        return y;
    }

    private readonly struct Conv2dBackward(Tensor x, Tensor w, Tensor? bias, Conv2dGeometry g) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var be = x.Backend;
            if (x.TracksGrad)
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.Conv2dBackwardData(g, dY.Buffer, w.Buffer, dX.Buffer);
                Autograd.Accumulate(x, dX);
            }
            bool needBias = bias is not null && bias.TracksGrad;
            if (w.TracksGrad || needBias)
            {
                var dW = Tensor.Empty(be, w.Shape);
                var dBias = needBias ? Tensor.Empty(be, bias!.Shape) : null;
                be.Conv2dBackwardWeight(g, x.Buffer, dY.Buffer, dW.Buffer, dBias?.Buffer);
                if (w.TracksGrad) Autograd.Accumulate(w, dW);
                if (dBias is not null) Autograd.Accumulate(bias!, dBias);
            }
        }
    }

    /// <summary>Pads the H and W axes of N x C x H x W. The gradient folds padded positions back onto their sources.</summary>
    public static Tensor Pad2d(Tensor x, Padding2d padding, PaddingMode mode = PaddingMode.Zeros, float value = 0f, string where = "Pad2d")
    {
        if (x.Rank != 4) throw new ArgumentException($"{where}: expected an input (N,C,H,W), got {x.Shape}");
        var g = new Pad2dGeometry(x.Shape.Batch, x.Shape.Channels, x.Shape.Height, x.Shape.Width, padding, mode, value);
        g.Validate(where);
        var be = x.Backend;
        var y = Tensor.Empty(be, g.OutputShape);
        be.Pad2d(g, x.Buffer, y.Buffer);
        if (Autograd.Needs(x)) Autograd.Record("Pad2d", y, new Pad2dBackward(x, g), x);
        return y;
    }

    private readonly struct Pad2dBackward(Tensor x, Pad2dGeometry g) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var dX = Tensor.Empty(x.Backend, x.Shape);
            x.Backend.Pad2dBackward(g, dY.Buffer, dX.Buffer);
            Autograd.Accumulate(x, dX);
        }
    }
}
