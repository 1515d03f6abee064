namespace Engine;

public static partial class Ops
{
    /// <summary>Max pooling; returns the output and the flat (h*W + w) index of each window's first maximum.</summary>
    public static (Tensor Output, Tensor Indices) MaxPool2dWithIndices(Tensor x, Pool2dGeometry g, string where = "MaxPool2d")
    {
        CheckPoolInput(x, g, where, isMax: true);
        var be = x.Backend;
        var y = Tensor.Empty(be, g.OutputShape);
        var indices = Tensor.Empty(be, g.OutputShape);
        be.MaxPool2d(g, x.Buffer, y.Buffer, indices.Buffer);
        if (Autograd.Needs(x))
        {
            Autograd.Record("MaxPool2d", y, [x], dY =>
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.MaxPool2dBackward(g, dY.Buffer, indices.Buffer, dX.Buffer);
                Autograd.Accumulate(x, dX);
            });
        }
        return (y, indices);
    }

    public static Tensor MaxPool2d(Tensor x, Pool2dGeometry g, string where = "MaxPool2d") => MaxPool2dWithIndices(x, g, where).Output;

    /// <summary>Average pooling; dX spreads each dY over its window divided by the window's divisor.</summary>
    public static Tensor AvgPool2d(Tensor x, Pool2dGeometry g, string where = "AvgPool2d")
    {
        CheckPoolInput(x, g, where, isMax: false);
        var be = x.Backend;
        var y = Tensor.Empty(be, g.OutputShape);
        be.AvgPool2d(g, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
        {
            Autograd.Record("AvgPool2d", y, [x], dY =>
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.AvgPool2dBackward(g, dY.Buffer, dX.Buffer);
                Autograd.Accumulate(x, dX);
            });
        }
        return y;
    }

    /// <summary>The pooling geometry of a fixed window over <paramref name="input"/>; stride defaults to the kernel.</summary>
    public static Pool2dGeometry PoolGeometry(Shape input, Size2 kernel, Size2? stride = null, Padding2d padding = default,
        Size2? dilation = null, bool ceilMode = false, bool countIncludePad = true, int divisorOverride = 0) =>
        new(input.Batch, input.Channels, input.Height, input.Width, kernel, stride ?? kernel, padding, dilation ?? new Size2(1, 1),
            ceilMode, countIncludePad, divisorOverride);

    private static void CheckPoolInput(Tensor x, Pool2dGeometry g, string where, bool isMax)
    {
        if (x.Rank != 4)
            throw new ArgumentException($"{where}: expected an input (N,C,H,W), got {x.Shape}");
        if (x.Shape != g.InputShape)
            throw new ArgumentException($"{where}: expected an input {g.InputShape}, got {x.Shape}");
        g.Validate(where, isMax);
    }
}
