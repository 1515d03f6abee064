namespace Engine.Onnx;

/// <summary>
/// Convolution, pooling and normalization over N x C x H x W (1-D inputs N x C x L run as N x C x 1 x L).
/// ONNX pads are [begin_1, ..., begin_k, end_1, ..., end_k] for the k spatial axes.
/// </summary>
internal static partial class OnnxOps
{
    /// <summary>(N,C,L) viewed as (N,C,1,L); 4-D inputs unchanged.</summary>
    private static Tensor As2d(OnnxNode n, Tensor x)
    {
        if (x.Rank == 4) return x;
        if (x.Rank == 3) return Ops.Reshape(x, new Shape(x.Shape[0], x.Shape[1], 1, x.Shape[2]));
        throw n.Unsupported($"an input of shape {x.Shape} (only 1-D and 2-D spatial inputs)");
    }

    /// <summary>Per-axis attribute for the spatial axes of a 2-D view (1-D values get a leading 1 or 0).</summary>
    private static Size2 Pair(OnnxNode n, string name, int spatial, int fallback)
    {
        var v = n.Ints(name);
        if (v is null || v.Length == 0) return new Size2(fallback, fallback);
        if (v.Length != spatial) throw new InvalidDataException($"ONNX: {n.Where}: expected {spatial} values in '{name}', got {v.Length}");
        return spatial == 1 ? new Size2(fallback == 0 ? 0 : 1, (int)v[0]) : new Size2((int)v[0], (int)v[1]);
    }

    /// <summary>Explicit padding from 'pads' or 'auto_pad' (SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start).</summary>
    private static Padding2d Pads(OnnxNode n, int spatial, Shape input, Size2 kernel, Size2 stride, Size2 dilation)
    {
        string auto = n.String("auto_pad", "NOTSET");
        if (auto is "SAME_UPPER" or "SAME_LOWER")
        {
            var (top, bottom) = Same(input.Height, kernel.Height, stride.Height, dilation.Height, auto == "SAME_UPPER");
            var (left, right) = Same(input.Width, kernel.Width, stride.Width, dilation.Width, auto == "SAME_UPPER");
            return new Padding2d(top, left, bottom, right);
        }
        if (auto == "VALID") return 0;
        if (auto != "NOTSET") throw n.Unsupported($"auto_pad '{auto}'");
        var p = n.Ints("pads");
        if (p is null || p.Length == 0) return 0;
        if (p.Length != 2 * spatial) throw new InvalidDataException($"ONNX: {n.Where}: expected {2 * spatial} pads, got {p.Length}");
        return spatial == 1 ? new Padding2d(0, (int)p[0], 0, (int)p[1]) : new Padding2d((int)p[0], (int)p[1], (int)p[2], (int)p[3]);
    }

    internal static (int Before, int After) Same(int size, int kernel, int stride, int dilation, bool upper)
    {
        int outSize = (size + stride - 1) / stride;
        int total = Math.Max((outSize - 1) * stride + dilation * (kernel - 1) + 1 - size, 0);
        return upper ? (total / 2, total - total / 2) : (total - total / 2, total / 2);
    }

    private static Tensor Restore(Tensor y, int rank) =>
        rank == 3 ? Ops.Reshape(y, new Shape(y.Shape[0], y.Shape[1], y.Shape[3])) : y;

    private static OnnxValue Conv(OnnxNode n)
    {
        var x0 = n.Tensor(0);
        if (x0.Rank == 5) return Conv3d(n, x0);
        var x = As2d(n, x0);
        var w = As2d(n, n.Tensor(1));
        int spatial = x0.Rank - 2;
        var kernel = new Size2(w.Shape[2], w.Shape[3]);
        var stride = Pair(n, "strides", spatial, 1);
        var dilation = Pair(n, "dilations", spatial, 1);
        var pads = Pads(n, spatial, x.Shape, kernel, stride, dilation);
        var bias = n.HasInput(2) ? n.Tensor(2) : null;
        var y = Ops.Conv2d(x, w, bias, stride, pads, dilation, (int)n.Int("group", 1), n.Where);
        return Dev(Restore(y, x0.Rank));
    }

    /// <summary>
    /// Transposed convolution: the full output F = (in-1)*s + d*(k-1) + 1 (no padding), extended by output_padding
    /// and cropped by pads begin/end; the bias is added last so that extended cells get it too.
    /// </summary>
    private static OnnxValue ConvTranspose(OnnxNode n)
    {
        var x0 = n.Tensor(0);
        var x = As2d(n, x0);
        var w = As2d(n, n.Tensor(1));
        int spatial = x0.Rank - 2, groups = (int)n.Int("group", 1);
        var stride = Pair(n, "strides", spatial, 1);
        var dilation = Pair(n, "dilations", spatial, 1);
        var outputPadding = Pair(n, "output_padding", spatial, 0);
        var full = Ops.ConvTranspose2d(x, w, null, stride, 0, 0, dilation, groups, n.Where);
        int fullH = full.Shape.Height, fullW = full.Shape.Width;
        var (top, bottom) = TransposePads(n, spatial, 0, x.Shape.Height, fullH, stride.Height, outputPadding.Height);
        var (left, right) = TransposePads(n, spatial, 1, x.Shape.Width, fullW, stride.Width, outputPadding.Width);
        int outH = fullH + outputPadding.Height - top - bottom, outW = fullW + outputPadding.Width - left - right;
        int extraH = Math.Max(top + outH - fullH, 0), extraW = Math.Max(left + outW - fullW, 0);
        var y = extraH > 0 || extraW > 0 ? Ops.Pad2d(full, new Padding2d(0, 0, extraH, extraW), where: n.Where) : full;
        y = Ops.Narrow(Ops.Narrow(y, 2, top, outH), 3, left, outW);
        if (n.HasInput(2)) y = Ops.Add(y, Ops.Reshape(n.Tensor(2), new Shape(1, y.Shape.Channels, 1, 1)));
        return Dev(Restore(y, x0.Rank));
    }

    /// <summary>Begin/end crop of one axis of the full transposed-convolution output (axis 0 = H, 1 = W of the 2-D view).</summary>
    private static (int Begin, int End) TransposePads(OnnxNode n, int spatial, int axis, int inSize, int full, int stride, int outputPadding)
    {
        int index = spatial == 1 ? 0 : axis;
        if (spatial == 1 && axis == 0) return (0, 0);
        string auto = n.String("auto_pad", "NOTSET");
        var outputShape = n.Ints("output_shape");
        int? target = outputShape is { Length: > 0 } ? (int)outputShape[outputShape.Length - spatial + index]
            : auto is "SAME_UPPER" or "SAME_LOWER" ? inSize * stride : null;
        if (target is int t)
        {
            int total = full + outputPadding - t;
            if (total < 0) return (0, total);
            return auto == "SAME_LOWER" ? (total - total / 2, total / 2) : (total / 2, total - total / 2);
        }
        var p = n.Ints("pads");
        if (p is null || p.Length == 0) return (0, 0);
        return ((int)p[index], (int)p[spatial + index]);
    }

    private static OnnxValue Pool(OnnxNode n, bool max)
    {
        var x0 = n.Tensor(0);
        if (x0.Rank == 5) return Pool3d(n, x0, max);
        var x = As2d(n, x0);
        int spatial = x0.Rank - 2;
        var kernel = Pair(n, "kernel_shape", spatial, 1);
        var stride = Pair(n, "strides", spatial, 1);
        var dilation = Pair(n, "dilations", spatial, 1);
        var pads = Pads(n, spatial, x.Shape, kernel, stride, dilation);
        bool ceil = n.Int("ceil_mode", 0) != 0, includePad = n.Int("count_include_pad", 0) != 0;
        int halfH = (dilation.Height * (kernel.Height - 1) + 1) / 2, halfW = (dilation.Width * (kernel.Width - 1) + 1) / 2;
        if (Math.Max(pads.Top, pads.Bottom) > halfH || Math.Max(pads.Left, pads.Right) > halfW)
        {
            // Pads wider than half the window: pad explicitly (with -inf for max, zeros for average). Without
            // counting pads, the average is pool(padded x) / pool(padded ones): the window's divisor cancels.
            var padded = Ops.Pad2d(x, pads, PaddingMode.Zeros, max ? float.NegativeInfinity : 0f, n.Where);
            var explicitGeometry = Ops.PoolGeometry(padded.Shape, kernel, stride, 0, dilation, ceil, true);
            if (max) return Dev(Restore(Ops.MaxPool2d(padded, explicitGeometry, n.Where), x0.Rank));
            var sums = Ops.AvgPool2d(padded, explicitGeometry, n.Where);
            if (!includePad)
            {
                var ones = Ops.Pad2d(Tensor.Ones(x.Backend, x.Shape), pads, where: n.Where);
                sums = Ops.Divide(sums, Ops.AvgPool2d(ones, explicitGeometry, n.Where));
            }
            return Dev(Restore(sums, x0.Rank));
        }
        var g = Ops.PoolGeometry(x.Shape, kernel, stride, pads, dilation, ceil, includePad);
        var y = max ? Ops.MaxPool2d(x, g, n.Where) : Ops.AvgPool2d(x, g, n.Where);
        return Dev(Restore(y, x0.Rank));
    }

    /// <summary>
    /// MaxPool with its Indices output: the flat index into the whole input, ((n*C + c)*H + h)*W + w, or
    /// ((n*C + c)*W + w)*H + h for storage_order 1, from the plane index h*W + w of each window's maximum.
    /// </summary>
    private static OnnxValue[] MaxPoolWithIndices(OnnxNode n)
    {
        var x = n.Tensor(0);
        if (x.Rank != 4) throw n.Unsupported($"the Indices output for an input of shape {x.Shape}");
        var kernel = Pair(n, "kernel_shape", 2, 1);
        var stride = Pair(n, "strides", 2, 1);
        var dilation = Pair(n, "dilations", 2, 1);
        var pads = Pads(n, 2, x.Shape, kernel, stride, dilation);
        var g = Ops.PoolGeometry(x.Shape, kernel, stride, pads, dilation, n.Int("ceil_mode", 0) != 0);
        var (y, planeIndices) = Ops.MaxPool2dWithIndices(x, g, n.Where);
        bool columnMajor = n.Int("storage_order", 0) != 0;
        int h = x.Shape.Height, w = x.Shape.Width, perPlane = y.Shape.Height * y.Shape.Width;
        var flat = planeIndices.ToArray();
        var indices = new double[flat.Length];
        for (int i = 0; i < flat.Length; i++)
        {
            long plane = i / perPlane, within = (long)flat[i];
            long row = within / w, col = within % w;
            indices[i] = plane * h * w + (columnMajor ? col * h + row : within);
        }
        return [Dev(y), OnnxValue.Of(new HostTensor(y.Shape.ToArray(), indices, Proto.TensorProto.Types.DataType.Int64))];
    }

    private static OnnxValue GlobalPool(OnnxNode n, bool max)
    {
        var x = n.Tensor(0);
        var keep = x.Shape.ToArray();
        for (int i = 2; i < keep.Length; i++) keep[i] = 1;
        if (!max) return Dev(Ops.Scale(Ops.SumTo(x, new Shape(keep)), (float)(keep[0] * keep[1]) / x.Length));
        var planes = Ops.Reshape(x, new Shape(keep[0], keep[1], 1, x.Length / (keep[0] * keep[1])));
        var y = Ops.MaxPool2d(planes, Pool2dGeometry.Adaptive(planes.Shape, 1), n.Where);
        return Dev(Ops.Reshape(y, new Shape(keep)));
    }

    /// <summary>
    /// y = x / (bias + alpha/size * sum of x^2 over channels [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta,
    /// the window sum taken as an average pool (divisor size) over zero-padded squares viewed as (N, 1, C, rest).
    /// </summary>
    private static OnnxValue Lrn(OnnxNode n)
    {
        var x = n.Tensor(0);
        int size = (int)n.Int("size", 1);
        float alpha = n.Float("alpha", 1e-4f), beta = n.Float("beta", 0.75f), bias = n.Float("bias", 1f);
        int batch = x.Shape[0], channels = x.Shape[1], rest = x.Length / (batch * channels);
        var squares = Ops.Reshape(Ops.Square(x), new Shape(batch, 1, channels, rest));
        int before = (size - 1) / 2, after = size - 1 - before;
        var padded = Ops.Pad2d(squares, new Padding2d(before, 0, after, 0), where: n.Where);
        var mean = Ops.AvgPool2d(padded, Ops.PoolGeometry(padded.Shape, new Size2(size, 1), new Size2(1, 1)), n.Where);
        var denominator = Ops.Pow(Ops.AddScalar(Ops.Scale(Ops.Reshape(mean, x.Shape), alpha), bias), beta);
        return Dev(Ops.Divide(x, denominator));
    }
}

/// <summary>3-D convolution and pooling over N x C x D x H x W through Conv3d/Pool3d (symmetric padding only).</summary>
internal static partial class OnnxOps
{
    private static Size3 Triple(OnnxNode n, string name, int fallback)
    {
        var v = n.Ints(name);
        if (v is null || v.Length == 0) return fallback;
        if (v.Length != 3) throw new InvalidDataException($"ONNX: {n.Where}: expected 3 values in '{name}', got {v.Length}");
        return new Size3((int)v[0], (int)v[1], (int)v[2]);
    }

    private static (Size3 Stride, Size3 Padding, Size3 Dilation) Volume(OnnxNode n, Shape input, Size3 kernel)
    {
        var stride = Triple(n, "strides", 1);
        var dilation = Triple(n, "dilations", 1);
        string auto = n.String("auto_pad", "NOTSET");
        int[] before = new int[3], after = new int[3];
        if (auto is "SAME_UPPER" or "SAME_LOWER")
        {
            int[] k = [kernel.Depth, kernel.Height, kernel.Width], s = [stride.Depth, stride.Height, stride.Width], d = [dilation.Depth, dilation.Height, dilation.Width];
            for (int a = 0; a < 3; a++) (before[a], after[a]) = Same(input[a + 2], k[a], s[a], d[a], auto == "SAME_UPPER");
        }
        else if (auto == "NOTSET" && n.Ints("pads") is { Length: 6 } p)
            for (int a = 0; a < 3; a++) (before[a], after[a]) = ((int)p[a], (int)p[a + 3]);
        else if (auto is not ("NOTSET" or "VALID")) throw n.Unsupported($"auto_pad '{auto}'");
        if (!before.SequenceEqual(after)) throw n.Unsupported($"asymmetric 3-D padding ({string.Join(',', before)}) / ({string.Join(',', after)})");
        return (stride, new Size3(before[0], before[1], before[2]), dilation);
    }

    private static OnnxValue Conv3d(OnnxNode n, Tensor x)
    {
        var w = n.Tensor(1);
        var (stride, padding, dilation) = Volume(n, x.Shape, new Size3(w.Shape[2], w.Shape[3], w.Shape[4]));
        var bias = n.HasInput(2) ? n.Tensor(2) : null;
        return Dev(Ops.Conv3d(x, w, bias, stride, padding, dilation, (int)n.Int("group", 1), n.Where));
    }

    private static OnnxValue Pool3d(OnnxNode n, Tensor x, bool max)
    {
        var kernel = Triple(n, "kernel_shape", 1);
        var (stride, padding, dilation) = Volume(n, x.Shape, kernel);
        bool ceil = n.Int("ceil_mode", 0) != 0, includePad = n.Int("count_include_pad", 0) != 0;
        return Dev(Ops.Pool3d(x, max, kernel, stride, padding, dilation, ceil, includePad, n.Where));
    }
}
