namespace Engine;

/// <summary>A depth/height/width triple for 3-D layers.</summary>
public readonly record struct Size3(int Depth, int Height, int Width)
{
    public static implicit operator Size3(int all) => new(all, all, all);
    public static implicit operator Size3((int Depth, int Height, int Width) dhw) => new(dhw.Depth, dhw.Height, dhw.Width);
    public Size2 Plane => new(Height, Width);
    public override string ToString() => $"({Depth},{Height},{Width})";
}

public static partial class Ops
{
    /// <summary>
    /// 3-D convolution of x (N, C, D, H, W) with w (K, C/G, KD, KH, KW), built on the 2-D convolution: for each depth
    /// tap kd, the input slices od*sd - pd + kd*dd (zero outside) for every output depth od are gathered into a batch
    /// of N*OD planes and convolved with w[:, :, kd]; the KD results are summed.
    /// </summary>
    public static Tensor Conv3d(Tensor x, Tensor w, Tensor? bias, Size3 stride, Size3 padding, Size3 dilation, int groups = 1, string where = "Conv3d")
    {
        if (w.Rank != 5 || x.Rank != 5 || x.Shape.Channels != w.Shape[1] * groups)
            throw new ArgumentException($"{where}: expected input with {(w.Rank == 5 ? w.Shape[1] * groups : 0)} channels (N,C,D,H,W), got {x.Shape}");
        int n = x.Shape[0], c = x.Shape[1], d = x.Shape[2], h = x.Shape[3], wd = x.Shape[4];
        int k = w.Shape[0], kd = w.Shape[2], kh = w.Shape[3], kw = w.Shape[4];
        int od = Conv2dGeometry.OutSize(d, 2 * padding.Depth, kd, stride.Depth, dilation.Depth);
        if (od <= 0 || stride.Depth <= 0 || dilation.Depth <= 0 || padding.Depth < 0)
            throw new ArgumentException($"{where}: kernel depth {kd} (dilation {dilation.Depth}) does not fit input depth {d} with padding {padding.Depth}");
        // (N, C, D + 2pd, H*W): zero-pad the depth axis.
        var padded = Pad2d(Reshape(x, new Shape(n, c, d, h * wd)), new Padding2d(padding.Depth, 0, padding.Depth, 0), where: where);
        Tensor? sum = null;
        for (int tap = 0; tap < kd; tap++)
        {
            int span = (od - 1) * stride.Depth + 1;
            var slices = Narrow(padded, 2, tap * dilation.Depth, span);
            if (stride.Depth > 1) slices = AvgPool2d(slices, PoolGeometry(slices.Shape, new Size2(1, 1), new Size2(stride.Depth, 1)), where);
            // (N, C, OD, H*W) -> (N*OD, C, H, W)
            var planes = Reshape(Permute(Reshape(slices, new Shape(n, c, od, h, wd)), 0, 2, 1, 3, 4), new Shape(n * od, c, h, wd));
            var kernel = Reshape(Narrow(w, 2, tap, 1), new Shape(k, w.Shape[1], kh, kw));
            var y = Conv2d(planes, kernel, null, stride.Plane, new Padding2d(padding.Height, padding.Width, padding.Height, padding.Width), dilation.Plane, groups, where);
            sum = sum is null ? y : Add(sum, y);
        }
        int p = sum!.Shape.Height, q = sum.Shape.Width;
        var result = Permute(Reshape(sum, new Shape(n, od, k, p, q)), 0, 2, 1, 3, 4);
        return bias is null ? result : Add(result, Reshape(bias, new Shape(1, k, 1, 1, 1)));
    }

    /// <summary>
    /// 3-D max or average pooling, separably: the H x W window on every depth slice, then the depth window over the
    /// results (a box max is the max of slice maxima; a box average the average of slice averages, the divisor being
    /// the product of the per-axis window sizes, as PyTorch counts it).
    /// </summary>
    public static Tensor Pool3d(Tensor x, bool max, Size3 kernel, Size3 stride, Size3 padding, Size3 dilation, bool ceilMode = false,
        bool countIncludePad = true, string where = "Pool3d")
    {
        if (x.Rank != 5) throw new ArgumentException($"{where}: expected an input (N,C,D,H,W), got {x.Shape}");
        int n = x.Shape[0], c = x.Shape[1], d = x.Shape[2];
        var planes = Reshape(x, new Shape(n, c * d, x.Shape[3], x.Shape[4]));
        var pg = PoolGeometry(planes.Shape, kernel.Plane, stride.Plane, new Padding2d(padding.Height, padding.Width, padding.Height, padding.Width),
            dilation.Plane, ceilMode, countIncludePad);
        var pooled = max ? MaxPool2d(planes, pg, where) : AvgPool2d(planes, pg, where);
        int p = pooled.Shape.Height, q = pooled.Shape.Width;
        var columns = Reshape(pooled, new Shape(n, c, d, p * q));
        var dg = PoolGeometry(columns.Shape, new Size2(kernel.Depth, 1), new Size2(stride.Depth, 1), new Padding2d(padding.Depth, 0, padding.Depth, 0),
            new Size2(dilation.Depth, 1), ceilMode, countIncludePad);
        var result = max ? MaxPool2d(columns, dg, where) : AvgPool2d(columns, dg, where);
        return Reshape(result, new Shape(n, c, result.Shape.Height, p, q));
    }

    /// <summary>1-D max or average pooling of (N, C, L) as 2-D pooling of (N, C, 1, L).</summary>
    public static Tensor Pool1d(Tensor x, bool max, int kernel, int stride, int padding, int dilation = 1, bool ceilMode = false,
        bool countIncludePad = true, string where = "Pool1d")
    {
        if (x.Rank != 3) throw new ArgumentException($"{where}: expected an input (N,C,L), got {x.Shape}");
        var planes = Reshape(x, new Shape(x.Shape[0], x.Shape[1], 1, x.Shape[2]));
        var g = PoolGeometry(planes.Shape, new Size2(1, kernel), new Size2(1, stride), new Padding2d(0, padding, 0, padding), new Size2(1, dilation), ceilMode, countIncludePad);
        var y = max ? MaxPool2d(planes, g, where) : AvgPool2d(planes, g, where);
        return Reshape(y, new Shape(y.Shape[0], y.Shape[1], y.Shape[3]));
    }
}
