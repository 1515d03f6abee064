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
        InspectPool(y, x, g);
        if (Autograd.Needs(x)) Autograd.Record("MaxPool2d", y, new MaxPool2dBackward(x, g, indices), x);
        return (y, indices);
    }

    /// <summary>dX gets each dY at its window's recorded maximum (max pooling, fractional included).</summary>
    private readonly struct MaxPool2dBackward(Tensor x, Pool2dGeometry g, Tensor indices) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var dX = Tensor.Empty(x.Backend, x.Shape);
            x.Backend.MaxPool2dBackward(g, dY.Buffer, indices.Buffer, dX.Buffer);
            Autograd.Accumulate(x, dX);
        }
    }

    public static Tensor MaxPool2d(Tensor x, Pool2dGeometry g, string where = "MaxPool2d") => MaxPool2dWithIndices(x, g, where).Output;

    /// <summary>Average pooling; dX spreads each dY over its window divided by the window's divisor.</summary>
    public static Tensor AvgPool2d(Tensor x, Pool2dGeometry g, string where = "AvgPool2d")
    {
        CheckPoolInput(x, g, where, isMax: false);
        var be = x.Backend;
        var y = Tensor.Empty(be, g.OutputShape);
        be.AvgPool2d(g, x.Buffer, y.Buffer);
        InspectPool(y, x, g);
        if (Autograd.Needs(x)) Autograd.Record("AvgPool2d", y, new AvgPool2dBackward(x, g), x);
        return y;
    }

    private readonly struct AvgPool2dBackward(Tensor x, Pool2dGeometry g) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var dX = Tensor.Empty(x.Backend, x.Shape);
            x.Backend.AvgPool2dBackward(g, dY.Buffer, dX.Buffer);
            Autograd.Accumulate(x, dX);
        }
    }

    /// <summary>The pooling geometry of a fixed window over <paramref name="input"/>; stride defaults to the kernel.</summary>
    public static Pool2dGeometry PoolGeometry(Shape input, Size2 kernel, Size2? stride = null, Padding2d padding = default,
        Size2? dilation = null, bool ceilMode = false, bool countIncludePad = true, int divisorOverride = 0) =>
        new(input.Batch, input.Channels, input.Height, input.Width, kernel, stride ?? kernel, padding, dilation ?? new Size2(1, 1),
            ceilMode, countIncludePad, divisorOverride);

    /// <summary>Adaptive windows count as kernel ceil(in/out), stride floor(in/out) (exact for global pooling).</summary>
    private static void InspectPool(Tensor y, Tensor x, Pool2dGeometry g)
    {
        if (!g.IsAdaptive) Inspection.Window(y, x, g.Kernel, g.Stride, g.Dilation);
        else Inspection.Window(y, x,
            new Size2((g.InHeight + g.OutHeight - 1) / g.OutHeight, (g.InWidth + g.OutWidth - 1) / g.OutWidth),
            new Size2(Math.Max(g.InHeight / g.OutHeight, 1), Math.Max(g.InWidth / g.OutWidth, 1)), 1);
    }

    private static void CheckPoolInput(Tensor x, Pool2dGeometry g, string where, bool isMax)
    {
        if (x.Rank != 4)
            throw new ArgumentException($"{where}: expected an input (N,C,H,W), got {x.Shape}");
        if (x.Shape != g.InputShape)
            throw new ArgumentException($"{where}: expected an input {g.InputShape}, got {x.Shape}");
        g.Validate(where, isMax);
    }
}

public static partial class Ops
{
    /// <summary>
    /// Fractional max pooling (Graham 2014, PyTorch's interval rule): per plane, a sample u in [0,1) per axis from
    /// the generator places window i at floor((i + u) * alpha) - floor(u * alpha), alpha = (in - k) / (out - 1),
    /// the last window at in - k.
    /// </summary>
    public static (Tensor Output, Tensor Indices) FractionalMaxPool2d(Tensor x, Size2 kernel, Size2 output, Generator? generator = null, string where = "FractionalMaxPool2d")
    {
        if (x.Rank != 4) throw new ArgumentException($"{where}: expected an input (N,C,H,W), got {x.Shape}");
        int planes = x.Shape.Batch * x.Shape.Channels, h = x.Shape.Height, w = x.Shape.Width;
        if (kernel.Height <= 0 || kernel.Width <= 0 || output.Height <= 0 || output.Width <= 0 ||
            output.Height + kernel.Height - 1 > h || output.Width + kernel.Width - 1 > w)
            throw new ArgumentException($"{where}: output {output} with kernel {kernel} needs an input of at least {output.Height + kernel.Height - 1}x{output.Width + kernel.Width - 1}, got {h}x{w}");
        var samples = (generator ?? Generator.Default).Uniform(planes * 2, 0f, 1f);
        var rows = new float[planes * output.Height];
        var cols = new float[planes * output.Width];
        for (int p = 0; p < planes; p++)
        {
            Intervals(samples[2 * p + 1], h, output.Height, kernel.Height, rows.AsSpan(p * output.Height, output.Height));
            Intervals(samples[2 * p], w, output.Width, kernel.Width, cols.AsSpan(p * output.Width, output.Width));
        }
        var g = new Pool2dGeometry(x.Shape.Batch, x.Shape.Channels, h, w, kernel, 1, 0, 1, AdaptiveOutput: output);
        var be = x.Backend;
        var rowStarts = Tensor.FromArray(be, rows, new Shape(rows.Length));
        var colStarts = Tensor.FromArray(be, cols, new Shape(cols.Length));
        var y = Tensor.Empty(be, g.OutputShape);
        var indices = Tensor.Empty(be, g.OutputShape);
        be.FractionalMaxPool2d(g, x.Buffer, rowStarts.Buffer, colStarts.Buffer, y.Buffer, indices.Buffer);
        if (Autograd.Needs(x)) Autograd.Record("FractionalMaxPool2d", y, new MaxPool2dBackward(x, g, indices), x);
        return (y, indices);
    }

    private static void Intervals(float sample, int inSize, int outSize, int pool, Span<float> starts)
    {
        if (outSize > 1)
        {
            float alpha = (float)(inSize - pool) / (outSize - 1);
            for (int i = 0; i < outSize - 1; i++) starts[i] = (int)((i + sample) * alpha) - (int)(sample * alpha);
        }
        starts[outSize - 1] = inSize - pool;
    }
}
