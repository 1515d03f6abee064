namespace Engine;

public static partial class Ops
{
    /// <summary>The same storage seen with another shape of equal size; one axis may be -1 (inferred).</summary>
    public static Tensor Reshape(Tensor x, params ReadOnlySpan<int> dims)
    {
        Span<int> d = stackalloc int[dims.Length];
        dims.CopyTo(d);
        int infer = -1, known = 1;
        for (int i = 0; i < d.Length; i++)
        {
            if (d[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"reshape: at most one axis may be -1, got {string.Join(',', d.ToArray())}");
                infer = i;
            }
            else known *= d[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || x.Length % known != 0)
                throw new ArgumentException($"reshape: cannot view {x.Shape} ({x.Length} elements) as ({string.Join(',', d.ToArray())})");
            d[infer] = x.Length / known;
        }
        return Reshape(x, new Shape(d));
    }

    public static Tensor Reshape(Tensor x, Shape shape)
    {
        if (shape.Size != x.Length)
            throw new ArgumentException($"reshape: cannot view {x.Shape} ({x.Length} elements) as {shape} ({shape.Size} elements)");
        var buffer = x.Buffer;
        buffer.AddReference();
        var y = Tensor.Create(x.Backend, shape, buffer);
        if (Autograd.Needs(x)) Autograd.Record("Reshape", y, new ReshapeBackward(x), x);
        return y;
    }

    /// <summary>dX = dY seen in x's shape.</summary>
    private readonly struct ReshapeBackward(Tensor x) : IBackward
    {
        public void Backward(Tensor dY) => Autograd.Accumulate(x, Reshape(dY, x.Shape));
    }

    /// <summary>Merges axes startAxis..end into one: (N,C,H,W) becomes (N, C*H*W) for startAxis 1.</summary>
    public static Tensor Flatten(Tensor x, int startAxis = 1)
    {
        if (startAxis < 0) startAxis += x.Rank;
        if (startAxis < 0 || startAxis >= Math.Max(x.Rank, 1))
            throw new ArgumentException($"flatten: start axis {startAxis} is outside a tensor of shape {x.Shape}");
        Span<int> d = stackalloc int[startAxis + 1];
        for (int i = 0; i < startAxis; i++) d[i] = x.Shape[i];
        d[startAxis] = x.Shape.Product(startAxis, x.Rank);
        return Reshape(x, new Shape(d));
    }
}
