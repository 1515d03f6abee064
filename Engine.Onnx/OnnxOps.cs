using DataType = Engine.Onnx.Proto.TensorProto.Types.DataType;

namespace Engine.Onnx;

/// <summary>
/// ONNX operators as compositions of Engine ops (so autograd and every backend apply). Host inputs (shape
/// arithmetic) are computed on the host; a host value meeting a backend op is uploaded.
/// </summary>
internal static partial class OnnxOps
{
    public static readonly HashSet<string> Supported =
    [
        "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "LRN",
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Clip", "HardSigmoid", "HardSwish", "Erf", "Softmax", "LogSoftmax",
        "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "ReduceMean", "Sum", "Concat", "Flatten", "Reshape",
        "Transpose", "Squeeze", "Unsqueeze", "Pad", "Resize", "Upsample", "Dropout", "Identity", "Constant",
        "Shape", "Gather", "Slice", "Cast", "ConstantOfShape", "Equal", "Where", "If",
        // Beyond the required list: cheap compositions that PyTorch exports use.
        "Neg", "Abs", "Exp", "Log", "Reciprocal", "Softplus", "Softsign", "PRelu", "Split", "ReduceSum", "Max", "Min", "Size",
    ];

    /// <summary>Operators evaluated on the host when all their inputs are known there (folded at load).</summary>
    public static readonly HashSet<string> Foldable =
    [
        "Constant", "Shape", "Gather", "Slice", "Cast", "ConstantOfShape", "Equal", "Where", "Concat", "Unsqueeze",
        "Squeeze", "Reshape", "Flatten", "Transpose", "Identity", "Add", "Sub", "Mul", "Div",
    ];

    public static OnnxValue[] Run(OnnxNode n) => n.Op switch
    {
        "Conv" => [Conv(n)],
        "ConvTranspose" => [ConvTranspose(n)],
        "MaxPool" => n.Proto.Output.Count > 1 && n.Proto.Output[1].Length > 0 ? MaxPoolWithIndices(n) : [Pool(n, max: true)],
        "AveragePool" => [Pool(n, max: false)],
        "GlobalAveragePool" => [GlobalPool(n, max: false)],
        "GlobalMaxPool" => [GlobalPool(n, max: true)],
        "BatchNormalization" => [Dev(Ops.BatchNorm(n.Tensor(0), n.Tensor(3), n.Tensor(4), n.Tensor(1), n.Tensor(2), false, eps: n.Float("epsilon", 1e-5f), where: n.Where))],
        "LRN" => [Lrn(n)],
        "Relu" => [Dev(Ops.Relu(n.Tensor(0)))],
        "LeakyRelu" => [Dev(Ops.LeakyRelu(n.Tensor(0), n.Float("alpha", 0.01f)))],
        "Sigmoid" => [Dev(Ops.Sigmoid(n.Tensor(0)))],
        "Tanh" => [Dev(Ops.Tanh(n.Tensor(0)))],
        "Elu" => [Dev(Ops.Elu(n.Tensor(0), n.Float("alpha", 1f)))],
        "Selu" => [Dev(Ops.Scale(Ops.Elu(n.Tensor(0), n.Float("alpha", 1.67326319217681884765625f)), n.Float("gamma", 1.05070102214813232421875f)))],
        "Clip" => [Clip(n)],
        "HardSigmoid" => [Dev(Clamp(Ops.AddScalar(Ops.Scale(n.Tensor(0), n.Float("alpha", 0.2f)), n.Float("beta", 0.5f)), 0f, 1f))],
        "HardSwish" => [Dev(Ops.Hardswish(n.Tensor(0)))],
        "Erf" => [Dev(Ops.Erf(n.Tensor(0)))],
        "Softmax" => [Softmax(n, log: false)],
        "LogSoftmax" => [Softmax(n, log: true)],
        "Gemm" => [Gemm(n)],
        "MatMul" => [Dev(MatMul(n.Tensor(0), n.Tensor(1)))],
        "Add" => [Binary(n, BinaryOp.Add)],
        "Sub" => [Binary(n, BinaryOp.Subtract)],
        "Mul" => [Binary(n, BinaryOp.Multiply)],
        "Div" => [Binary(n, BinaryOp.Divide)],
        "Pow" => [Pow(n)],
        "Sqrt" => [Dev(Ops.Sqrt(n.Tensor(0)))],
        "ReduceMean" => [Reduce(n, mean: true)],
        "ReduceSum" => [Reduce(n, mean: false)],
        "Neg" => [Dev(Ops.Scale(n.Tensor(0), -1f))],
        "Abs" => [Dev(Ops.Abs(n.Tensor(0)))],
        "Exp" => [Dev(Ops.Exp(n.Tensor(0)))],
        "Log" => [Dev(Ops.Log(n.Tensor(0)))],
        "Reciprocal" => [Dev(Ops.Divide(Tensor.Scalar(n.Backend, 1f), n.Tensor(0)))],
        "Softplus" => [Dev(Ops.Softplus(n.Tensor(0)))],
        "Softsign" => [Dev(Ops.Divide(n.Tensor(0), Ops.AddScalar(Ops.Abs(n.Tensor(0)), 1f)))],
        "PRelu" => [PRelu(n)],
        "Max" => [Extremum(n, max: true)],
        "Min" => [Extremum(n, max: false)],
        "Size" => [OnnxValue.Of(HostTensor.Scalar(n.Input(0).Dims.Aggregate(1L, (p, d) => p * d), DataType.Int64))],
        "Split" => Split(n),
        "Sum" => [Sum(n)],
        "Concat" => [Concat(n)],
        "Flatten" => [Flatten(n)],
        "Reshape" => [Reshape(n)],
        "Transpose" => [Transpose(n)],
        "Squeeze" => [Squeeze(n)],
        "Unsqueeze" => [Unsqueeze(n)],
        "Pad" => [Pad(n)],
        "Resize" or "Upsample" => [Resize(n)],
        "Dropout" => Dropout(n),
        "Identity" => [n.Input(0)],
        "Constant" => [OnnxValue.Of(ConstantValue(n))],
        "Shape" => [Shape(n)],
        "Gather" => [Gather(n)],
        "Slice" => [Slice(n)],
        "Cast" => [Cast(n)],
        "ConstantOfShape" => [ConstantOfShape(n)],
        "Equal" => [OnnxValue.Of(HostMath.Map(n.Where, [n.Host(0), n.Host(1)], DataType.Bool, a => a[0] == a[1] ? 1 : 0))],
        "Where" => [Where(n)],
        "If" => If(n),
        _ => throw n.Unsupported("this operator"),
    };

    private static OnnxValue Dev(Tensor t) => OnnxValue.Of(t);

    private static OnnxValue Binary(OnnxNode n, BinaryOp op)
    {
        if (n.AllHost)
        {
            var a = n.Host(0);
            var b = n.Host(1);
            var type = a.Type;
            Func<double[], double> f = op switch
            {
                BinaryOp.Add => v => v[0] + v[1],
                BinaryOp.Subtract => v => v[0] - v[1],
                BinaryOp.Multiply => v => v[0] * v[1],
                _ => v => v[0] / v[1],
            };
            return OnnxValue.Of(HostMath.Map(n.Where, [a, b], type, v => HostMath.ToType(f(v), type)));
        }
        return Dev(Ops.Binary(op, n.Tensor(0), n.Tensor(1)));
    }

    private static OnnxValue Pow(OnnxNode n)
    {
        var x = n.Tensor(0);
        var e = n.Input(1);
        if (e.Host is { } h && h.Data.Length > 0 && h.Data.All(v => v == h.Data[0]) && h.Data.Length <= x.Length)
        {
            var y = Ops.Pow(x, (float)h.Data[0]);
            return Dev(h.Rank > x.Rank ? Ops.Reshape(y, new Shape(HostMath.BroadcastDims(n.Where, x.Shape.ToArray(), h.Dims))) : y);
        }
        // x^e = exp(e * log x), for positive x.
        return Dev(Ops.Exp(Ops.Multiply(n.Tensor(1), Ops.Log(x))));
    }

    /// <summary>min(max(x, lo), hi) as relu(x - lo) + lo, then hi - relu(hi - y); infinite bounds are skipped.</summary>
    internal static Tensor Clamp(Tensor x, float lo, float hi)
    {
        if (float.IsFinite(lo) && lo > float.MinValue) x = Ops.AddScalar(Ops.Relu(Ops.AddScalar(x, -lo)), lo);
        if (float.IsFinite(hi) && hi < float.MaxValue) x = Ops.AddScalar(Ops.Scale(Ops.Relu(Ops.AddScalar(Ops.Scale(x, -1f), hi)), -1f), hi);
        return x;
    }

    private static OnnxValue Clip(OnnxNode n)
    {
        float lo, hi;
        if (n.Opset < 11)
        {
            lo = n.Float("min", float.NegativeInfinity);
            hi = n.Float("max", float.PositiveInfinity);
        }
        else
        {
            lo = n.HasInput(1) ? (float)n.Host(1).Data[0] : float.NegativeInfinity;
            hi = n.HasInput(2) ? (float)n.Host(2).Data[0] : float.PositiveInfinity;
        }
        return Dev(Clamp(n.Tensor(0), lo, hi));
    }

    /// <summary>Before opset 13 softmax treats the input as 2-D (N = product of the axes before axis) and normalizes each row.</summary>
    private static OnnxValue Softmax(OnnxNode n, bool log)
    {
        var x = n.Tensor(0);
        if (n.Opset >= 13)
        {
            int axis = n.Axis(n.Int("axis", -1), x.Rank);
            return Dev(log ? Ops.LogSoftmax(x, axis) : Ops.Softmax(x, axis));
        }
        int a = n.Axis(n.Int("axis", 1), Math.Max(x.Rank, 1));
        var rows = Ops.Reshape(x, new Shape(x.Shape.Product(0, a), x.Shape.Product(a, x.Rank)));
        var y = log ? Ops.LogSoftmax(rows, 1) : Ops.Softmax(rows, 1);
        return Dev(Ops.Reshape(y, x.Shape));
    }

    /// <summary>Y = alpha * op(A) * op(B) + beta * C, C broadcast to (M, N).</summary>
    private static OnnxValue Gemm(OnnxNode n)
    {
        var a = n.Tensor(0);
        var b = n.Tensor(1);
        if (n.Int("transA", 0) != 0) a = Ops.Permute(a, 1, 0);
        var y = n.Int("transB", 0) != 0 ? Ops.Linear(a, b, null, n.Where) : Ops.MatMul(a, b);
        float alpha = n.Float("alpha", 1f), beta = n.Float("beta", 1f);
        if (alpha != 1f) y = Ops.Scale(y, alpha);
        if (n.HasInput(2) && beta != 0f)
        {
            var c = n.Tensor(2);
            y = Ops.Add(y, beta != 1f ? Ops.Scale(c, beta) : c);
        }
        return Dev(y);
    }

    /// <summary>NumPy matmul: 1-D operands are promoted and the added axis removed; batch axes broadcast.</summary>
    internal static Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.Rank == 1) return Squeezed(MatMul(Ops.Reshape(a, new Shape(1, a.Length)), b), -2);
        if (b.Rank == 1) return Squeezed(MatMul(a, Ops.Reshape(b, new Shape(b.Length, 1))), -1);
        if (a.Rank == 2 && b.Rank == 2) return Ops.MatMul(a, b);
        int m = a.Shape[a.Rank - 2], k = a.Shape[a.Rank - 1], cols = b.Shape[b.Rank - 1];
        if (b.Rank == 2)
        {
            // (..., M, K) * (K, N): fold the batch axes into the rows.
            var rows = Ops.MatMul(Ops.Reshape(a, new Shape(a.Length / k, k)), b);
            return Ops.Reshape(rows, a.Shape.With(a.Rank - 1, cols));
        }
        var batch = HostMath.BroadcastDims("MatMul", a.Shape.ToArray()[..^2], b.Shape.ToArray()[..^2]);
        int count = batch.Aggregate(1, (p, d) => p * d);
        var a3 = Ops.Reshape(Ops.BroadcastTo(a, new Shape([.. batch, m, k])), new Shape(count, m, k));
        var b3 = Ops.Reshape(Ops.BroadcastTo(b, new Shape([.. batch, k, cols])), new Shape(count, k, cols));
        var products = new Tensor[count];
        for (int i = 0; i < count; i++)
            products[i] = Ops.MatMul(Ops.Reshape(Ops.Narrow(a3, 0, i, 1), new Shape(m, k)), Ops.Reshape(Ops.Narrow(b3, 0, i, 1), new Shape(k, cols)));
        return Ops.Reshape(Ops.Concat(products, 0), new Shape([.. batch, m, cols]));
    }

    private static Tensor Squeezed(Tensor x, int axis)
    {
        var dims = x.Shape.ToArray().ToList();
        dims.RemoveAt(axis + x.Rank);
        return Ops.Reshape(x, new Shape(dims.ToArray()));
    }

    /// <summary>Sum (or mean) over the given axes (all when none), keeping them as size 1 unless keepdims is 0.</summary>
    private static OnnxValue Reduce(OnnxNode n, bool mean)
    {
        var x = n.Tensor(0);
        var axes = n.Ints("axes") ?? (n.HasInput(1) ? n.Host(1).AsLongs() : null);
        if ((axes is null || axes.Length == 0) && n.Int("noop_with_empty_axes", 0) != 0) return Dev(x);
        var keep = x.Shape.ToArray();
        var reduced = new bool[x.Rank];
        if (axes is null || axes.Length == 0) Array.Fill(reduced, true);
        else foreach (var axis in axes) reduced[n.Axis(axis, x.Rank)] = true;
        int count = 1;
        for (int i = 0; i < keep.Length; i++)
            if (reduced[i]) { count *= keep[i]; keep[i] = 1; }
        var y = Ops.SumTo(x, new Shape(keep));
        if (mean) y = Ops.Scale(y, 1f / count);
        if (n.Int("keepdims", 1) != 0) return Dev(y);
        return Dev(Ops.Reshape(y, new Shape(keep.Where((_, i) => !reduced[i]).ToArray())));
    }

    /// <summary>y = relu(x) - slope * relu(-x), the slope broadcast to x.</summary>
    private static OnnxValue PRelu(OnnxNode n)
    {
        var x = n.Tensor(0);
        var slope = n.Tensor(1);
        // Before opset 7 a 1-D slope of C values is per channel (axis 1), not NumPy-broadcast from the last axis.
        if (n.Opset < 7 && slope.Rank == 1 && slope.Length > 1 && x.Rank > 2 && slope.Length == x.Shape[1])
            slope = Ops.Reshape(slope, new Shape([slope.Length, .. Enumerable.Repeat(1, x.Rank - 2)]));
        return Dev(Ops.Subtract(Ops.Relu(x), Ops.Multiply(slope, Ops.Relu(Ops.Scale(x, -1f)))));
    }

    /// <summary>Elementwise max as a + relu(b - a), min as a - relu(a - b), with broadcasting.</summary>
    private static OnnxValue Extremum(OnnxNode n, bool max)
    {
        var y = n.Tensor(0);
        for (int i = 1; i < n.InputCount; i++)
        {
            var b = n.Tensor(i);
            y = max ? Ops.Add(y, Ops.Relu(Ops.Subtract(b, y))) : Ops.Subtract(y, Ops.Relu(Ops.Subtract(y, b)));
        }
        return Dev(y);
    }

    /// <summary>Splits along axis into the given sizes ('split' attribute before opset 13, input after), else equal parts.</summary>
    private static OnnxValue[] Split(OnnxNode n)
    {
        var x = n.Input(0);
        int axis = n.Axis(n.Int("axis", 0), x.Rank), size = x.Dims[axis], parts = n.Proto.Output.Count;
        var sizes = n.Opset < 13 ? n.Ints("split") : n.HasInput(1) ? n.Host(1).AsLongs() : null;
        if (sizes is null || sizes.Length == 0)
        {
            if (size % parts != 0) throw new InvalidDataException($"ONNX: {n.Where}: axis {axis} of size {size} does not split into {parts} equal parts");
            sizes = Enumerable.Repeat((long)(size / parts), parts).ToArray();
        }
        if (sizes.Sum() != size) throw new InvalidDataException($"ONNX: {n.Where}: split sizes ({string.Join(',', sizes)}) do not add up to {size}");
        var outputs = new OnnxValue[sizes.Length];
        int start = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            int length = (int)sizes[i];
            outputs[i] = x.Host is { } h
                ? OnnxValue.Of(HostMath.Gather(n.Where, h, axis, HostTensor.Vector(Enumerable.Range(start, length).Select(v => (long)v).ToArray())))
                : Dev(Ops.Narrow(x.Device!, axis, start, length));
            start += length;
        }
        return outputs;
    }

    private static OnnxValue Sum(OnnxNode n)
    {
        var y = n.Tensor(0);
        for (int i = 1; i < n.InputCount; i++) y = Ops.Add(y, n.Tensor(i));
        return Dev(y);
    }

    private static OnnxValue[] Dropout(OnnxNode n)
    {
        var x = n.Tensor(0);
        float ratio = n.HasInput(1) ? (float)n.Host(1).Data[0] : n.Float("ratio", 0.5f);
        bool training = n.Training && (!n.HasInput(2) || n.Host(2).Data[0] != 0);
        var y = training ? Ops.Dropout(x, ratio, true) : x;
        var mask = new HostTensor(x.Shape.ToArray(), Enumerable.Repeat(1.0, x.Length).ToArray(), DataType.Bool);
        return [Dev(y), OnnxValue.Of(mask)];
    }
}
