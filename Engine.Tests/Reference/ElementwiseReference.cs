namespace Engine.Tests.Reference;

/// <summary>Elementwise functions, their derivatives, NumPy broadcasting and sum-reduction, in double.</summary>
public static class ElementwiseReference
{
    public static double Unary(UnaryOp op, double alpha, double x) => op switch
    {
        UnaryOp.Relu => x > 0 ? x : 0,
        UnaryOp.Tanh => Math.Tanh(x),
        UnaryOp.Sigmoid => 1 / (1 + Math.Exp(-x)),
        UnaryOp.Scale => alpha * x,
        UnaryOp.AddScalar => x + alpha,
        UnaryOp.Exp => Math.Exp(x),
        UnaryOp.Log => Math.Log(x),
        UnaryOp.Square => x * x,
        UnaryOp.Abs => Math.Abs(x),
        UnaryOp.DropoutMask => x >= alpha ? 1 / (1 - alpha) : 0,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    /// <summary>f'(x), written from calculus (ReLU and |x| take 0 at the kink, as PyTorch does).</summary>
    public static double Derivative(UnaryOp op, double alpha, double x) => op switch
    {
        UnaryOp.Relu => x > 0 ? 1 : 0,
        UnaryOp.Tanh => 1 / (Math.Cosh(x) * Math.Cosh(x)),
        UnaryOp.Sigmoid => Math.Exp(-x) / ((1 + Math.Exp(-x)) * (1 + Math.Exp(-x))),
        UnaryOp.Scale => alpha,
        UnaryOp.AddScalar => 1,
        UnaryOp.Exp => Math.Exp(x),
        UnaryOp.Log => 1 / x,
        UnaryOp.Square => 2 * x,
        UnaryOp.Abs => Math.Sign(x),
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "no derivative"),
    };

    public static double[] Unary(UnaryOp op, double alpha, double[] x) => x.Select(v => Unary(op, alpha, v)).ToArray();

    public static double Binary(BinaryOp op, double a, double b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Subtract => a - b,
        BinaryOp.Multiply => a * b,
        BinaryOp.Divide => a / b,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    /// <summary>The broadcast of two shapes: right-aligned, each pair of sizes equal or one of them 1.</summary>
    public static int[] BroadcastShape(int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var y = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = Dim(a, i, rank), db = Dim(b, i, rank);
            if (da != db && da != 1 && db != 1) throw new ArgumentException("shapes do not broadcast");
            y[i] = Math.Max(da, db);
        }
        return y;
    }

    /// <summary>y[idx] = a[idx mapped into a] op b[idx mapped into b].</summary>
    public static double[] Binary(BinaryOp op, double[] a, int[] aShape, double[] b, int[] bShape, int[] yShape)
    {
        var y = new double[Size(yShape)];
        var index = new int[yShape.Length];
        for (int flat = 0; flat < y.Length; flat++)
        {
            Unflatten(flat, yShape, index);
            y[flat] = Binary(op, a[Project(index, aShape)], b[Project(index, bShape)]);
        }
        return y;
    }

    /// <summary>y[j] = sum of x[i] over every i whose projection onto yShape is j.</summary>
    public static double[] ReduceSum(double[] x, int[] xShape, int[] yShape)
    {
        var y = new double[Size(yShape)];
        var index = new int[xShape.Length];
        for (int flat = 0; flat < x.Length; flat++)
        {
            Unflatten(flat, xShape, index);
            y[Project(index, yShape)] += x[flat];
        }
        return y;
    }

    public static int Size(int[] shape) => shape.Aggregate(1, (p, d) => p * d);

    private static int Dim(int[] shape, int axis, int rank)
    {
        int own = axis - (rank - shape.Length);
        return own < 0 ? 1 : shape[own];
    }

    private static void Unflatten(int flat, int[] shape, int[] index)
    {
        for (int axis = shape.Length - 1; axis >= 0; axis--)
        {
            index[axis] = flat % shape[axis];
            flat /= shape[axis];
        }
    }

    /// <summary>Flat offset in <paramref name="shape"/> of a (longer or equal rank) index, size-1 axes pinned to 0.</summary>
    private static int Project(int[] index, int[] shape)
    {
        int offset = 0, skip = index.Length - shape.Length;
        for (int axis = 0; axis < shape.Length; axis++)
            offset = offset * shape[axis] + (shape[axis] == 1 ? 0 : index[axis + skip]);
        return offset;
    }
}
