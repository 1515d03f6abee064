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
        if (needsGrad && Autograd.IsEnabled)
        {
            var step = new ConcatBackward(tensors, a);
            if (tensors.Length <= 4)
                Autograd.Record("Concat", y, step, tensors[0], tensors.Length > 1 ? tensors[1] : null, tensors.Length > 2 ? tensors[2] : null,
                    tensors.Length > 3 ? tensors[3] : null);
            else Autograd.Record("Concat", y, step, step.Many!);
        }
        return y;
    }

    /// <summary>
    /// Input i's gradient is the slice of dY along the axis where input i was copied. Up to four inputs inline (an
    /// Inception block's branches), so recording them allocates nothing.
    /// </summary>
    private readonly struct ConcatBackward : IBackward
    {
        private readonly Tensor? _input0, _input1, _input2, _input3;
        private readonly int _axis;

        public ConcatBackward(ReadOnlySpan<Tensor> inputs, int axis)
        {
            _axis = axis;
            if (inputs.Length > 4) Many = inputs.ToArray();
            else
            {
                _input0 = inputs[0];
                _input1 = inputs.Length > 1 ? inputs[1] : null;
                _input2 = inputs.Length > 2 ? inputs[2] : null;
                _input3 = inputs.Length > 3 ? inputs[3] : null;
            }
        }

        /// <summary>The inputs when there are more than four.</summary>
        public Tensor[]? Many { get; }

        public void Backward(Tensor dY)
        {
            int offset = 0;
            if (Many is not null)
                foreach (var t in Many) offset = Slice(dY, t, offset);
            else
            {
                offset = Slice(dY, _input0!, offset);
                if (_input1 is not null) offset = Slice(dY, _input1, offset);
                if (_input2 is not null) offset = Slice(dY, _input2, offset);
                if (_input3 is not null) Slice(dY, _input3, offset);
            }
        }

        private int Slice(Tensor dY, Tensor input, int offset)
        {
            int size = input.Shape[_axis];
            if (input.TracksGrad) Autograd.Accumulate(input, Narrow(dY, _axis, offset, size));
            return offset + size;
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
        if (Autograd.Needs(x)) Autograd.Record("Narrow", y, new NarrowBackward(x, a, start, length), x);
        return y;
    }

    /// <summary>dX is zero but for the slice, which is dY.</summary>
    private readonly struct NarrowBackward(Tensor x, int axis, int start, int length) : IBackward
    {
        public void Backward(Tensor dY)
        {
            int size = x.Shape[axis];
            int outer = x.Shape.Product(0, axis), inner = x.Shape.Product(axis + 1, x.Rank);
            var dX = Tensor.Zeros(x.Backend, x.Shape);
            x.Backend.CopyBlocks(dY.Buffer, 0, length * inner, dX.Buffer, start * inner, size * inner, length * inner, outer);
            Autograd.Accumulate(x, dX);
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
            Autograd.Record("Permute", y, new PermuteBackward(x, new Shape(inverse)), x);
        }
        return y;
    }

    /// <summary>dX = dY permuted by the inverse order.</summary>
    private readonly struct PermuteBackward(Tensor x, Shape inverse) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var dX = Tensor.Empty(x.Backend, x.Shape);
            x.Backend.Permute(new PermuteGeometry(dY.Shape, inverse), dY.Buffer, dX.Buffer);
            Autograd.Accumulate(x, dX);
        }
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
        if (Autograd.Needs(x)) Autograd.Record("Resize2d", y, new Resize2dBackward(x, g), x);
        return y;
    }

    private readonly struct Resize2dBackward(Tensor x, Resize2dGeometry g) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var dX = Tensor.Empty(x.Backend, x.Shape);
            x.Backend.Resize2dBackward(g, dY.Buffer, dX.Buffer);
            Autograd.Accumulate(x, dX);
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
        if (Autograd.Needs(x)) Autograd.Record("MaxUnpool2d", y, new MaxUnpool2dBackward(x, g, indices), x);
        return y;
    }

    /// <summary>dX is dY gathered at the indices.</summary>
    private readonly struct MaxUnpool2dBackward(Tensor x, Pool2dGeometry g, Tensor indices) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var dX = Tensor.Empty(x.Backend, x.Shape);
            x.Backend.MaxUnpool2dBackward(g, dY.Buffer, indices.Buffer, dX.Buffer);
            Autograd.Accumulate(x, dX);
        }
    }

    private static bool IsEnabledFor(Tensor[] inputs)
    {
        if (!Autograd.IsEnabled) return false;
        foreach (var t in inputs) if (t.TracksGrad) return true;
        return false;
    }
}
