namespace Engine;

public static partial class Ops
{
    public static Tensor Softmax(Tensor x, int axis = -1) => SoftmaxCore(x, axis, log: false);

    public static Tensor LogSoftmax(Tensor x, int axis = -1) => SoftmaxCore(x, axis, log: true);

    /// <summary>Softmax (or log-softmax) along <paramref name="axis"/>, numerically stable (max subtracted).</summary>
    private static Tensor SoftmaxCore(Tensor x, int axis, bool log)
    {
        int a = axis < 0 ? axis + x.Rank : axis;
        if (a < 0 || a >= x.Rank)
            throw new ArgumentException($"{(log ? "LogSoftmax" : "Softmax")}: axis {axis} is outside a tensor of shape {x.Shape}");
        var g = SoftmaxGeometry.Of(x.Shape, a);
        var be = x.Backend;
        var y = Tensor.Empty(be, x.Shape);
        be.Softmax(g, log, x.Buffer, y.Buffer);
        if (Autograd.Needs(x)) Autograd.Record(log ? "LogSoftmax" : "Softmax", y, new SoftmaxBackward(x, log, g, y), x);
        return y;
    }

    private readonly struct SoftmaxBackward(Tensor x, bool log, SoftmaxGeometry g, Tensor y) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var dX = Tensor.Empty(x.Backend, x.Shape);
            x.Backend.SoftmaxBackward(g, log, y.Buffer, dY.Buffer, dX.Buffer);
            Autograd.Accumulate(x, dX);
        }
    }
}
