namespace Engine.Onnx;

/// <summary>Pad and Resize/Upsample: the fast Engine primitives where they match ONNX exactly, compositions otherwise.</summary>
internal static partial class OnnxOps
{
    /// <summary>
    /// Pads (or, for negative pads, crops) every axis. The last two axes go through Pad2d (viewed as
    /// (P, 1, H, W)); other axes are extended by concatenating constant, edge or mirrored slices.
    /// </summary>
    private static OnnxValue Pad(OnnxNode n)
    {
        var x = n.Tensor(0);
        string mode = n.String("mode", "constant");
        long[] pads = n.Opset < 11 ? n.Ints("pads") ?? [] : n.Host(1).AsLongs();
        float value = n.Opset < 11 ? n.Float("value", 0f) : n.HasInput(2) ? (float)n.Host(2).Data[0] : 0f;
        int rank = x.Rank;
        if (pads.Length != 2 * rank) throw new InvalidDataException($"ONNX: {n.Where}: expected {2 * rank} pads for rank {rank}, got {pads.Length}");
        var paddingMode = mode switch
        {
            "constant" => PaddingMode.Zeros,
            "reflect" => PaddingMode.Reflect,
            "edge" => PaddingMode.Replicate,
            _ => throw n.Unsupported($"mode '{mode}'"),
        };
        var before = new int[rank];
        var after = new int[rank];
        for (int a = 0; a < rank; a++)
        {
            int b = (int)pads[a], e = (int)pads[a + rank];
            if (b < 0 || e < 0)
            {
                int start = Math.Max(-b, 0);
                x = Ops.Narrow(x, a, start, x.Shape[a] - start - Math.Max(-e, 0));
            }
            before[a] = Math.Max(b, 0);
            after[a] = Math.Max(e, 0);
        }
        int planar = Math.Max(rank - 2, 0);
        for (int a = 0; a < planar; a++) x = PadAxis(x, a, before[a], after[a], paddingMode, value);
        if (rank == 0) return Dev(x);
        int h = rank >= 2 ? x.Shape[rank - 2] : 1, w = x.Shape[rank - 1];
        int top = rank >= 2 ? before[rank - 2] : 0, bottom = rank >= 2 ? after[rank - 2] : 0;
        var padding = new Padding2d(top, before[rank - 1], bottom, after[rank - 1]);
        if (padding.IsZero) return Dev(x);
        var planes = Ops.Reshape(x, new Shape(x.Length / (h * w), 1, h, w));
        var y = Ops.Pad2d(planes, padding, paddingMode, value, n.Where);
        var dims = x.Shape.ToArray();
        if (rank >= 2) dims[rank - 2] = y.Shape.Height;
        dims[rank - 1] = y.Shape.Width;
        return Dev(Ops.Reshape(y, new Shape(dims)));
    }

    private static Tensor PadAxis(Tensor x, int axis, int before, int after, PaddingMode mode, float value)
    {
        if (before == 0 && after == 0) return x;
        int size = x.Shape[axis];
        var parts = new List<Tensor>();
        if (mode == PaddingMode.Zeros)
        {
            if (before > 0) parts.Add(Tensor.Full(x.Backend, x.Shape.With(axis, before), value));
            parts.Add(x);
            if (after > 0) parts.Add(Tensor.Full(x.Backend, x.Shape.With(axis, after), value));
            return Ops.Concat(parts, axis);
        }
        var indices = new List<int>();
        for (int o = 0; o < before + size + after; o++) indices.Add(Pad2dGeometry.Source(mode, o, before, size));
        return IndexSelect(x, axis, indices.ToArray(), "Pad");
    }

    /// <summary>
    /// Resize/Upsample of the H and W axes of N x C x H x W. Each output coordinate o maps to a source coordinate
    /// by the coordinate transformation (half_pixel: (o + 0.5) / scale - 0.5, asymmetric: o / scale, ...); nearest
    /// rounds it, linear blends the two neighbours. When the map equals Resize2d's, Resize2d runs; else rows and
    /// columns are gathered and blended.
    /// </summary>
    private static OnnxValue Resize(OnnxNode n)
    {
        var x = n.Tensor(0);
        if (x.Rank != 4) throw n.Unsupported($"an input of shape {x.Shape} (only N x C x H x W)");
        string mode = n.String("mode", "nearest");
        bool legacy = n.Op == "Upsample" || n.Opset < 11;
        string transform = legacy ? "asymmetric" : n.String("coordinate_transformation_mode", "half_pixel");
        string rounding = legacy ? "floor" : n.String("nearest_mode", "round_prefer_floor");
        if (mode is not ("nearest" or "linear" or "bilinear")) throw n.Unsupported($"mode '{mode}'");
        var (scales, sizes) = ResizeTargets(n, legacy);
        var dims = x.Shape.ToArray();
        var outDims = new int[4];
        var axisScale = new double[4];
        for (int a = 0; a < 4; a++)
        {
            outDims[a] = sizes is not null ? (int)sizes[a] : (int)Math.Floor(dims[a] * scales![a]);
            axisScale[a] = sizes is not null ? (double)outDims[a] / dims[a] : scales![a];
        }
        if (outDims[0] != dims[0] || outDims[1] != dims[1]) throw n.Unsupported($"resizing the batch or channel axes (to {string.Join(',', outDims)})");
        var hMap = Sources(dims[2], outDims[2], axisScale[2], transform, n);
        var wMap = Sources(dims[3], outDims[3], axisScale[3], transform, n);

        if (mode == "nearest")
        {
            var rows = hMap.Select(s => Nearest(s, dims[2], rounding, n)).ToArray();
            var cols = wMap.Select(s => Nearest(s, dims[3], rounding, n)).ToArray();
            if (rows.Select((r, o) => r == Resize2dGeometry.NearestSource(o, dims[2], outDims[2])).All(b => b) &&
                cols.Select((c, o) => c == Resize2dGeometry.NearestSource(o, dims[3], outDims[3])).All(b => b))
                return Dev(Ops.Resize2d(x, outDims[2], outDims[3], ResizeMode.Nearest, where: n.Where));
            return Dev(IndexSelect(IndexSelect(x, 2, rows, n.Where), 3, cols, n.Where));
        }
        var hTaps = hMap.Select(s => Linear(s, dims[2])).ToArray();
        var wTaps = wMap.Select(s => Linear(s, dims[3])).ToArray();
        foreach (bool align in new[] { false, true })
        {
            var g = new Resize2dGeometry(dims[0], dims[1], dims[2], dims[3], outDims[2], outDims[3], ResizeMode.Bilinear, align);
            if (SameTaps(hTaps, o => g.LinearSource(o, dims[2], outDims[2])) && SameTaps(wTaps, o => g.LinearSource(o, dims[3], outDims[3])))
                return Dev(Ops.Resize2d(x, outDims[2], outDims[3], ResizeMode.Bilinear, align, n.Where));
        }
        return Dev(Blend(Blend(x, 2, hTaps, n.Where), 3, wTaps, n.Where));
    }

    private static (double[]? Scales, long[]? Sizes) ResizeTargets(OnnxNode n, bool legacy)
    {
        if (n.Op == "Upsample" && n.Opset < 9)
            return (n.Floats("scales")?.Select(f => (double)f).ToArray() ?? throw new InvalidDataException($"ONNX: {n.Where}: expected scales"), null);
        if (legacy) return (n.Host(1).Data, null);
        const int scalesInput = 2, sizesInput = 3;
        if (n.HasInput(sizesInput) && n.Host(sizesInput).Data.Length > 0) return (null, n.Host(sizesInput).AsLongs());
        if (n.HasInput(scalesInput) && n.Host(scalesInput).Data.Length > 0) return (n.Host(scalesInput).Data.Select(v => (double)(float)v).ToArray(), null);
        throw new InvalidDataException($"ONNX: {n.Where}: expected scales or sizes");
    }

    private static double[] Sources(int inSize, int outSize, double scale, string transform, OnnxNode n)
    {
        var map = new double[outSize];
        for (int o = 0; o < outSize; o++)
            map[o] = transform switch
            {
                "half_pixel" => (o + 0.5) / scale - 0.5,
                "pytorch_half_pixel" => outSize > 1 ? (o + 0.5) / scale - 0.5 : 0,
                // ONNX divides by the unrounded resized length in * scale.
                "align_corners" => inSize * scale > 1 ? o * (inSize - 1.0) / (inSize * scale - 1) : 0,
                "asymmetric" => o / scale,
                "tf_half_pixel_for_nn" => (o + 0.5) / scale,
                _ => throw n.Unsupported($"coordinate_transformation_mode '{transform}'"),
            };
        return map;
    }

    private static int Nearest(double source, int inSize, string rounding, OnnxNode n)
    {
        double r = rounding switch
        {
            "round_prefer_floor" => source - Math.Floor(source) == 0.5 ? Math.Floor(source) : Math.Round(source, MidpointRounding.AwayFromZero),
            "round_prefer_ceil" => source - Math.Floor(source) == 0.5 ? Math.Ceiling(source) : Math.Round(source, MidpointRounding.AwayFromZero),
            "floor" => Math.Floor(source),
            "ceil" => Math.Ceiling(source),
            _ => throw n.Unsupported($"nearest_mode '{rounding}'"),
        };
        return (int)Math.Clamp(r, 0, inSize - 1);
    }

    private static (int I0, int I1, float Weight1) Linear(double source, int inSize)
    {
        double s = Math.Clamp(source, 0, inSize - 1);
        int i0 = (int)Math.Floor(s);
        return (i0, Math.Min(i0 + 1, inSize - 1), (float)(s - i0));
    }

    private static bool SameTaps((int I0, int I1, float Weight1)[] taps, Func<int, (int I0, int I1, float Weight1)> engine)
    {
        for (int o = 0; o < taps.Length; o++)
        {
            var e = engine(o);
            var t = taps[o];
            float tw = t.I0 == t.I1 ? 0f : t.Weight1, ew = e.I0 == e.I1 ? 0f : e.Weight1;
            if (t.I0 != e.I0 || MathF.Abs(tw - ew) > 1e-6f || (tw != 0f && t.I1 != e.I1)) return false;
        }
        return true;
    }

    /// <summary>Along one axis: y[o] = x[I0(o)] * (1 - w(o)) + x[I1(o)] * w(o), the weights broadcast over the other axes.</summary>
    private static Tensor Blend(Tensor x, int axis, (int I0, int I1, float Weight1)[] taps, string where)
    {
        var weightShape = new int[x.Rank];
        Array.Fill(weightShape, 1);
        weightShape[axis] = taps.Length;
        var w1 = Tensor.FromArray(x.Backend, taps.Select(t => t.Weight1).ToArray(), new Shape(weightShape));
        var w0 = Tensor.FromArray(x.Backend, taps.Select(t => 1f - t.Weight1).ToArray(), new Shape(weightShape));
        var first = IndexSelect(x, axis, taps.Select(t => t.I0).ToArray(), where);
        var second = IndexSelect(x, axis, taps.Select(t => t.I1).ToArray(), where);
        return Ops.Add(Ops.Multiply(first, w0), Ops.Multiply(second, w1));
    }
}
