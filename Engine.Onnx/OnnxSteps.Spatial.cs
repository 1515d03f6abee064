namespace Engine.Onnx;

/// <summary>
/// The spatial attributes of a 2-D Conv or pooling node, parsed once: strides, dilations and padding ('pads', or
/// 'auto_pad' resolved per call from the input size). Null when the attributes are not those of 2 spatial axes or
/// are invalid: such nodes keep the interpreter's code and its errors.
/// </summary>
internal sealed record SpatialAttributes(Size2 Stride, Size2 Dilation, string AutoPad, Padding2d Pads)
{
    public static SpatialAttributes? Read(OnnxNode a)
    {
        if (!Pair(a, "strides", out var stride) || !Pair(a, "dilations", out var dilation)) return null;
        string auto = a.String("auto_pad", "NOTSET");
        if (auto is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER")) return null;
        Padding2d pads = 0;
        if (auto == "NOTSET" && a.Ints("pads") is { Length: > 0 } p)
        {
            if (p.Length != 4) return null;
            pads = new Padding2d((int)p[0], (int)p[1], (int)p[2], (int)p[3]);
        }
        return new SpatialAttributes(stride, dilation, auto, pads);
    }

    /// <summary>A 2-value attribute; absent or empty gives 1 in both axes.</summary>
    public static bool Pair(OnnxNode a, string name, out Size2 value)
    {
        var v = a.Ints(name);
        value = new Size2(1, 1);
        if (v is null || v.Length == 0) return true;
        if (v.Length != 2) return false;
        value = new Size2((int)v[0], (int)v[1]);
        return true;
    }

    /// <summary>The padding for an input of <paramref name="input"/> (N, C, H, W) and a window of <paramref name="kernel"/>.</summary>
    public Padding2d For(Shape input, Size2 kernel)
    {
        if (AutoPad is not ("SAME_UPPER" or "SAME_LOWER")) return Pads;
        bool upper = AutoPad == "SAME_UPPER";
        var (top, bottom) = OnnxOps.Same(input.Height, kernel.Height, Stride.Height, Dilation.Height, upper);
        var (left, right) = OnnxOps.Same(input.Width, kernel.Width, Stride.Width, Dilation.Width, upper);
        return new Padding2d(top, left, bottom, right);
    }
}

/// <summary>2-D convolution of (N, C, H, W) by (K, C/G, R, S); other ranks go to the interpreter's code.</summary>
internal sealed class ConvStep(GenericStep g, SpatialAttributes spatial, int groups) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) =>
        Named(g, 2) && SpatialAttributes.Read(g.Attributes) is { } s ? new ConvStep(g, s, (int)g.Attributes.Int("group", 1)) : null;

    protected override void Execute(OnnxFrame frame)
    {
        var x = frame.Tensor(Inputs[0]);
        var w = frame.Tensor(Inputs[1]);
        if (x.Rank != 4 || w.Rank != 4) { Fallback(frame); return; }
        var pads = spatial.For(x.Shape, new Size2(w.Shape[2], w.Shape[3]));
        var bias = Has(2) ? frame.Tensor(Inputs[2]) : null;
        SetOutput(frame, Ops.Conv2d(x, w, bias, spatial.Stride, pads, spatial.Dilation, groups, Where));
    }
}

/// <summary>Max or average pooling of (N, C, H, W) with pads up to half the window (wider pads go to the interpreter's code).</summary>
internal sealed class PoolStep(GenericStep g, bool max, Size2 kernel, SpatialAttributes spatial, bool ceil, bool includePad) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g, bool max)
    {
        var a = g.Attributes;
        if (!Named(g, 1) || !SpatialAttributes.Pair(a, "kernel_shape", out var kernel) || SpatialAttributes.Read(a) is not { } s) return null;
        return new PoolStep(g, max, kernel, s, a.Int("ceil_mode", 0) != 0, a.Int("count_include_pad", 0) != 0);
    }

    protected override void Execute(OnnxFrame frame)
    {
        var x = frame.Tensor(Inputs[0]);
        if (x.Rank != 4) { Fallback(frame); return; }
        var pads = spatial.For(x.Shape, kernel);
        var dilation = spatial.Dilation;
        int halfH = (dilation.Height * (kernel.Height - 1) + 1) / 2, halfW = (dilation.Width * (kernel.Width - 1) + 1) / 2;
        if (Math.Max(pads.Top, pads.Bottom) > halfH || Math.Max(pads.Left, pads.Right) > halfW) { Fallback(frame); return; }
        var geometry = Ops.PoolGeometry(x.Shape, kernel, spatial.Stride, pads, dilation, ceil, includePad);
        SetOutput(frame, max ? Ops.MaxPool2d(x, geometry, Where) : Ops.AvgPool2d(x, geometry, Where));
    }
}

/// <summary>Average (sum over the spatial axes, scaled) or maximum over all spatial positions of (N, C, ...).</summary>
internal sealed class GlobalPoolStep(GenericStep g, bool max) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g, bool max) => Named(g, 1) ? new GlobalPoolStep(g, max) : null;

    protected override void Execute(OnnxFrame frame)
    {
        var x = frame.Tensor(Inputs[0]);
        if (x.Rank < 2) { Fallback(frame); return; }
        Span<int> keep = stackalloc int[x.Rank];
        for (int i = 0; i < keep.Length; i++) keep[i] = i < 2 ? x.Shape[i] : 1;
        if (!max)
        {
            SetOutput(frame, Ops.Scale(Ops.SumTo(x, new Shape(keep)), (float)(keep[0] * keep[1]) / x.Length));
            return;
        }
        var planes = Ops.Reshape(x, new Shape(keep[0], keep[1], 1, x.Length / (keep[0] * keep[1])));
        var y = Ops.MaxPool2d(planes, Pool2dGeometry.Adaptive(planes.Shape, 1), Where);
        SetOutput(frame, Ops.Reshape(y, new Shape(keep)));
    }
}

/// <summary>Batch normalization on the running statistics: inputs x, scale, bias, mean, variance.</summary>
internal sealed class BatchNormStep(GenericStep g, float epsilon) : PreparedStep(g)
{
    private const int Scale = 1, Bias = 2, Mean = 3, Variance = 4;

    public static OnnxStep? Prepare(GenericStep g) => Named(g, 5) ? new BatchNormStep(g, g.Attributes.Float("epsilon", 1e-5f)) : null;

    protected override void Execute(OnnxFrame frame) => SetOutput(frame, Ops.BatchNorm(frame.Tensor(Inputs[0]),
        frame.Tensor(Inputs[Mean]), frame.Tensor(Inputs[Variance]), frame.Tensor(Inputs[Scale]), frame.Tensor(Inputs[Bias]),
        false, eps: epsilon, where: Where));
}
