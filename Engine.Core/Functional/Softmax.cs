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
        if (Autograd.Needs(x)) Record(x, log, be, g, y);
        return y;

        static void Record(Tensor x, bool log, IBackend be, SoftmaxGeometry g, Tensor y)
        {
            Autograd.Record(log ? "LogSoftmax" : "Softmax", y, [x], dY =>
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.SoftmaxBackward(g, log, y.Buffer, dY.Buffer, dX.Buffer);
                Autograd.Accumulate(x, dX);
            });
        }
    }
}
