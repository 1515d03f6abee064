namespace Engine;

public static partial class Ops
{
    /// <summary>
    /// Joins tensors along <paramref name="axis"/> (all other sizes equal). Viewing each as Outer x size_i x Inner,
    /// input i is copied as Outer blocks of size_i*Inner; its gradient is the matching slice of dY.
    /// </summary>
    public static Tensor Concat(IReadOnlyList<Tensor> tensors, int axis = 1) =>
        Concat(tensors is Tensor[] array ? array.AsSpan() : tensors.ToArray().AsSpan(), axis);

    /// <summary>Concatenation of a span of tensors (a collection expression such as <c>[a, b]</c> allocates nothing).</summary>
    public static Tensor Concat(ReadOnlySpan<Tensor> tensors, int axis = 1)
    {
        if (tensors.Length == 0) throw new ArgumentException("concat: expected at least one tensor");
        var first = tensors[0];
        int a = axis < 0 ? axis + first.Rank : axis;
        if (a < 0 || a >= first.Rank) throw new ArgumentException($"concat: axis {axis} is outside a tensor of shape {first.Shape}");
        int total = 0;
        bool needsGrad = false;
        foreach (var t in tensors)
        {
            first.CheckSameBackend(t, "concat");
            if (t.Rank != first.Rank || t.Shape.With(a, 1) != first.Shape.With(a, 1))
                throw new ArgumentException($"concat: all tensors must match except along axis {a}; got {first.Shape} and {t.Shape}");
            total += t.Shape[a];
            needsGrad |= t.TracksGrad;
        }
        var shape = first.Shape.With(a, total);
        int outer = shape.Product(0, a), inner = shape.Product(a + 1, shape.Rank);
        var be = first.Backend;
        var y = Tensor.Empty(be, shape);
        int offset = 0;
        foreach (var t in tensors)
        {
            int block = t.Shape[a] * inner;
            be.CopyBlocks(t.Buffer, 0, block, y.Buffer, offset * inner, total * inner, block, outer);
            offset += t.Shape[a];
        }
        if (needsGrad && Autograd.IsEnabled) Record(tensors.ToArray(), a, y);
        return y;

        static void Record(Tensor[] inputs, int a, Tensor y)
        {
            var offsets = new int[inputs.Length];
            for (int i = 1; i < inputs.Length; i++) offsets[i] = offsets[i - 1] + inputs[i - 1].Shape[a];
            Autograd.Record("Concat", y, inputs, dY =>
            {
                for (int i = 0; i < inputs.Length; i++)
                    if (inputs[i].TracksGrad) Autograd.Accumulate(inputs[i], Narrow(dY, a, offsets[i], inputs[i].Shape[a]));
            });
        }
    }

    /// <summary>The slice [start, start + length) of <paramref name="x"/> along <paramref name="axis"/> (a copy).</summary>
    public static Tensor Narrow(Tensor x, int axis, int start, int length)
    {
        int a = axis < 0 ? axis + x.Rank : axis;
        if (a < 0 || a >= x.Rank) throw new ArgumentException($"narrow: axis {axis} is outside a tensor of shape {x.Shape}");
        int size = x.Shape[a];
        if (start < 0 || length < 0 || start + length > size)
            throw new ArgumentException($"narrow: slice [{start}, {start + length}) is outside axis {a} of size {size} in {x.Shape}");
        var shape = x.Shape.With(a, length);
        int outer = shape.Product(0, a), inner = shape.Product(a + 1, shape.Rank);
        var be = x.Backend;
        var y = Tensor.Empty(be, shape);
        be.CopyBlocks(x.Buffer, start * inner, size * inner, y.Buffer, 0, length * inner, length * inner, outer);
        if (Autograd.Needs(x)) Record(x, be, start, length, size, inner, outer, y);
        return y;

        static void Record(Tensor x, IBackend be, int start, int length, int size, int inner, int outer, Tensor y)
        {
            Autograd.Record("Narrow", y, [x], dY =>
            {
                var dX = Tensor.Zeros(be, x.Shape);
                be.CopyBlocks(dY.Buffer, 0, length * inner, dX.Buffer, start * inner, size * inner, length * inner, outer);
                Autograd.Accumulate(x, dX);
            });
        }
    }

    /// <summary>Reorders axes: output axis i is input axis axes[i]. The gradient applies the inverse order.</summary>
    public static Tensor Permute(Tensor x, params ReadOnlySpan<int> axes)
    {
        var g = new PermuteGeometry(x.Shape, new Shape(axes));
        g.Validate("permute");
        var be = x.Backend;
        var y = Tensor.Empty(be, g.OutputShape);
        be.Permute(g, x.Buffer, y.Buffer);
        if (Autograd.Needs(x))
        {
            Span<int> inverse = stackalloc int[axes.Length];
            for (int i = 0; i < axes.Length; i++) inverse[axes[i]] = i;
            var inv = new Shape(inverse);
            Autograd.Record("Permute", y, [x], dY =>
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.Permute(new PermuteGeometry(dY.Shape, inv), dY.Buffer, dX.Buffer);
                Autograd.Accumulate(x, dX);
            });
        }
        return y;
    }

    /// <summary>(N, C*r*r, H, W) to (N, C, H*r, W*r): out[n,c,h*r+i,w*r+j] = in[n, c*r*r + i*r + j, h, w].</summary>
    public static Tensor PixelShuffle(Tensor x, int upscale)
    {
        if (x.Rank != 4 || upscale <= 0 || x.Shape.Channels % (upscale * upscale) != 0)
            throw new ArgumentException($"PixelShuffle: expected (N, C*{upscale}^2, H, W), got {x.Shape}");
        int n = x.Shape.Batch, c = x.Shape.Channels / (upscale * upscale), h = x.Shape.Height, w = x.Shape.Width;
        var split = Reshape(x, new Shape(n, c, upscale, upscale, h, w));
        var moved = Permute(split, 0, 1, 4, 2, 5, 3);
        return Reshape(moved, new Shape(n, c, h * upscale, w * upscale));
    }

    /// <summary>Resizes the H and W axes (nearest, or bilinear with or without align corners).</summary>
    public static Tensor Resize2d(Tensor x, int outHeight, int outWidth, ResizeMode mode, bool alignCorners = false, string where = "Upsample")
    {
        if (x.Rank != 4) throw new ArgumentException($"{where}: expected an input (N,C,H,W), got {x.Shape}");
        var g = new Resize2dGeometry(x.Shape.Batch, x.Shape.Channels, x.Shape.Height, x.Shape.Width, outHeight, outWidth, mode, alignCorners);
        g.Validate(where);
        var be = x.Backend;
        var y = Tensor.Empty(be, g.OutputShape);
        be.Resize2d(g, x.Buffer, y.Buffer);
        int taps = mode == ResizeMode.Bilinear ? 2 : 1;
        Inspection.Upsample(y, x, (double)outHeight / x.Shape.Height, (double)outWidth / x.Shape.Width, taps, taps);
        if (Autograd.Needs(x)) Record(x, be, g, y);
        return y;

        static void Record(Tensor x, IBackend be, Resize2dGeometry g, Tensor y)
        {
            Autograd.Record("Resize2d", y, [x], dY =>
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.Resize2dBackward(g, dY.Buffer, dX.Buffer);
                Autograd.Accumulate(x, dX);
            });
        }
    }

    /// <summary>
    /// Max-unpooling: places each value at its recorded index in planes of <paramref name="outHeight"/> x
    /// <paramref name="outWidth"/>, zeros elsewhere. dX is dY gathered at the indices.
    /// </summary>
    public static Tensor MaxUnpool2d(Tensor x, Tensor indices, int outHeight, int outWidth, string where = "MaxUnpool2d")
    {
        if (x.Rank != 4 || indices.Shape != x.Shape)
            throw new ArgumentException($"{where}: expected an input (N,C,H,W) and indices of the same shape, got {x.Shape} and {indices.Shape}");
        int plane = outHeight * outWidth;
        foreach (var i in indices.ToArray())
            if (!(i >= 0 && i < plane) || i != MathF.Floor(i))
                throw new ArgumentException($"{where}: index {i} is outside the output plane {outHeight}x{outWidth}");
        // The pooling geometry whose input is the unpooled plane and whose output is x's plane.
        var g = new Pool2dGeometry(x.Shape.Batch, x.Shape.Channels, outHeight, outWidth, 1, 1, 0, 1,
            AdaptiveOutput: new Size2(x.Shape.Height, x.Shape.Width));
        var be = x.Backend;
        var y = Tensor.Empty(be, g.InputShape);
        be.MaxUnpool2d(g, x.Buffer, indices.Buffer, y.Buffer);
        if (Autograd.Needs(x))
        {
            Autograd.Record("MaxUnpool2d", y, [x], dY =>
            {
                var dX = Tensor.Empty(be, x.Shape);
                be.MaxUnpool2dBackward(g, dY.Buffer, indices.Buffer, dX.Buffer);
                Autograd.Accumulate(x, dX);
            });
        }
        return y;
    }

    private static bool IsEnabledFor(Tensor[] inputs)
    {
        if (!Autograd.IsEnabled) return false;
        foreach (var t in inputs) if (t.TracksGrad) return true;
        return false;
    }
}
