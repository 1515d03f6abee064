namespace Engine;

/// <summary>
/// Differentiable operations. Each records its backward right beside its forward; composed operations
/// (MSE, mean, cross-entropy) need no backward of their own.
/// </summary>
public static partial class Ops
{
    public static Tensor Relu(Tensor x) => Unary(UnaryOp.Relu, x);
    public static Tensor Tanh(Tensor x) => Unary(UnaryOp.Tanh, x);
    public static Tensor Sigmoid(Tensor x) => Unary(UnaryOp.Sigmoid, x);
    public static Tensor Exp(Tensor x) => Unary(UnaryOp.Exp, x);
    public static Tensor Log(Tensor x) => Unary(UnaryOp.Log, x);
    public static Tensor Square(Tensor x) => Unary(UnaryOp.Square, x);
    public static Tensor Abs(Tensor x) => Unary(UnaryOp.Abs, x);
    public static Tensor Scale(Tensor x, float factor) => Unary(UnaryOp.Scale, x, factor);
    public static Tensor AddScalar(Tensor x, float value) => Unary(UnaryOp.AddScalar, x, value);

    /// <summary>y = f(x) elementwise; dX = dY * f'(x).</summary>
    public static Tensor Unary(UnaryOp op, Tensor x, float alpha = 0f)
    {
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.Unary(op, alpha, x.Buffer, y.Buffer, x.Length);
        if (Autograd.Needs(x))
        {
            if (op == UnaryOp.DropoutMask) throw new InvalidOperationException("DropoutMask has no gradient");
            Autograd.Record(NameOf(op), y, new UnaryBackward(op, alpha, x, y), x);
        }
        return y;
    }

    private readonly struct UnaryBackward(UnaryOp op, float alpha, Tensor x, Tensor y) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var dX = Tensor.Empty(x.Backend, x.Shape);
            x.Backend.UnaryBackward(op, alpha, x.Buffer, y.Buffer, dY.Buffer, dX.Buffer, x.Length);
            Autograd.Accumulate(x, dX);
        }
    }

    public static Tensor Add(Tensor a, Tensor b) => Binary(BinaryOp.Add, a, b);
    public static Tensor Subtract(Tensor a, Tensor b) => Binary(BinaryOp.Subtract, a, b);
    public static Tensor Multiply(Tensor a, Tensor b) => Binary(BinaryOp.Multiply, a, b);
    public static Tensor Divide(Tensor a, Tensor b) => Binary(BinaryOp.Divide, a, b);

    /// <summary>
    /// y = a op b with NumPy broadcasting. Gradients are summed back over broadcast axes:
    /// add dA = dY, dB = dY; subtract dB = -dY; multiply dA = dY*b, dB = dY*a; divide dA = dY/b, dB = -dY*y/b.
    /// </summary>
    public static Tensor Binary(BinaryOp op, Tensor a, Tensor b)
    {
        a.CheckSameBackend(b, NameOf(op));
        var shape = BroadcastShape(a.Shape, b.Shape, NameOf(op));
        var be = a.Backend;
        var y = Tensor.Empty(be, shape);
        be.Binary(op, a.Buffer, a.Shape, b.Buffer, b.Shape, y.Buffer, shape);
        if (Autograd.Needs(a, b)) Autograd.Record(NameOf(op), y, new BinaryBackward(op, a, b, y), a, b);
        return y;
    }

    private readonly struct BinaryBackward(BinaryOp op, Tensor a, Tensor b, Tensor y) : IBackward
    {
        public void Backward(Tensor dY)
        {
            Tensor dA, dB;
            switch (op)
            {
                case BinaryOp.Add: dA = dY; dB = dY; break;
                case BinaryOp.Subtract: dA = dY; dB = Scale(dY, -1f); break;
                case BinaryOp.Multiply: dA = Multiply(dY, b); dB = Multiply(dY, a); break;
                default: dA = Divide(dY, b); dB = Scale(Divide(Multiply(dY, y), b), -1f); break;
            }
            if (a.TracksGrad) Autograd.Accumulate(a, SumTo(dA, a.Shape));
            if (b.TracksGrad) Autograd.Accumulate(b, SumTo(dB, b.Shape));
        }
    }

    // The operations' names, made once (an enum's ToString allocates on every call).
    private static readonly string[] s_unaryNames = Names<UnaryOp>(), s_binaryNames = Names<BinaryOp>();

    private static string[] Names<T>() where T : struct, Enum
    {
        var values = Enum.GetValues<T>();
        var names = new string[values.Max(v => Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture)) + 1];
        foreach (var v in values) names[Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture)] = v.ToString();
        return names;
    }

    private static string NameOf(UnaryOp op) => s_unaryNames[(int)op];
    private static string NameOf(BinaryOp op) => s_binaryNames[(int)op];

    /// <summary>The NumPy broadcast of two shapes (right-aligned; sizes equal or 1).</summary>
    public static Shape BroadcastShape(Shape a, Shape b, string op = "broadcast")
    {
        int rank = Math.Max(a.Rank, b.Rank);
        Span<int> dims = stackalloc int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Rank ? 1 : a[i - (rank - a.Rank)];
            int db = i < rank - b.Rank ? 1 : b[i - (rank - b.Rank)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {a} and {b} do not broadcast (axis {i}: {da} vs {db})");
            dims[i] = da == 1 ? db : da;
        }
        return new Shape(dims);
    }

    /// <summary>Sums <paramref name="x"/> over the axes where <paramref name="shape"/> broadcasts to it.</summary>
    public static Tensor SumTo(Tensor x, Shape shape)
    {
        if (x.Shape == shape) return x;
        if (BroadcastShape(x.Shape, shape, "sum to shape") != x.Shape)
            throw new ArgumentException($"sum to shape: {shape} does not broadcast to {x.Shape}");
        var y = Tensor.Empty(x.Backend, shape);
        x.Backend.ReduceSum(x.Buffer, x.Shape, y.Buffer, shape);
        if (Autograd.Needs(x)) Autograd.Record("SumTo", y, new SumToBackward(x), x);
        return y;
    }

    /// <summary>dX = dY repeated over the summed axes.</summary>
    private readonly struct SumToBackward(Tensor x) : IBackward
    {
        public void Backward(Tensor dY) => Autograd.Accumulate(x, BroadcastTo(dY, x.Shape));
    }

    /// <summary>Repeats <paramref name="x"/> along broadcast axes to <paramref name="shape"/>.</summary>
    public static Tensor BroadcastTo(Tensor x, Shape shape)
    {
        if (x.Shape == shape) return x;
        var zero = Tensor.Zeros(x.Backend, new Shape());
        var y = Tensor.Empty(x.Backend, shape);
        if (BroadcastShape(x.Shape, shape, "broadcast to") != shape)
            throw new ArgumentException($"broadcast to: {x.Shape} does not broadcast to {shape}");
        x.Backend.Binary(BinaryOp.Add, x.Buffer, x.Shape, zero.Buffer, zero.Shape, y.Buffer, shape);
        if (Autograd.Needs(x)) Autograd.Record("BroadcastTo", y, new BroadcastToBackward(x), x);
        return y;
    }

    /// <summary>dX = dY summed over the broadcast axes.</summary>
    private readonly struct BroadcastToBackward(Tensor x) : IBackward
    {
        public void Backward(Tensor dY) => Autograd.Accumulate(x, SumTo(dY, x.Shape));
    }

    /// <summary>Sum of all elements, a rank-0 tensor.</summary>
    public static Tensor Sum(Tensor x) => SumTo(x, new Shape());

    /// <summary>Mean of all elements, a rank-0 tensor.</summary>
    public static Tensor Mean(Tensor x) => Scale(Sum(x), 1f / x.Length);
}
