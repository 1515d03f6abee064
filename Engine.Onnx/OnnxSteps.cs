namespace Engine.Onnx;

/// <summary>
/// Prepared steps for the operators of typical CNN graphs. Each runs the same Engine ops, in the same order, as its
/// case in <see cref="OnnxOps"/>, so results are bitwise the same; whatever it does not cover (host operands where
/// the interpreter computes on the host, other ranks, error cases) it hands to the interpreter's code.
/// </summary>
internal static class OnnxSteps
{
    /// <summary>The prepared step for the node, or null to run it through the interpreter's code.</summary>
    public static OnnxStep? Prepare(GenericStep g)
    {
        var a = g.Attributes;
        return g.Node.OpType switch
        {
            "Conv" => ConvStep.Prepare(g),
            "MaxPool" => g.Node.Output.Count > 1 && g.Node.Output[1].Length > 0 ? null : PoolStep.Prepare(g, max: true),
            "AveragePool" => PoolStep.Prepare(g, max: false),
            "GlobalAveragePool" => GlobalPoolStep.Prepare(g, max: false),
            "GlobalMaxPool" => GlobalPoolStep.Prepare(g, max: true),
            "BatchNormalization" => BatchNormStep.Prepare(g),
            "Relu" => UnaryStep.Prepare(g, static x => Ops.Relu(x)),
            "LeakyRelu" => UnaryStep.Prepare(g, a.Float("alpha", 0.01f), static (x, alpha) => Ops.LeakyRelu(x, alpha)),
            "Sigmoid" => UnaryStep.Prepare(g, static x => Ops.Sigmoid(x)),
            "Tanh" => UnaryStep.Prepare(g, static x => Ops.Tanh(x)),
            "Elu" => UnaryStep.Prepare(g, a.Float("alpha", 1f), static (x, alpha) => Ops.Elu(x, alpha)),
            "HardSwish" => UnaryStep.Prepare(g, static x => Ops.Hardswish(x)),
            "Erf" => UnaryStep.Prepare(g, static x => Ops.Erf(x)),
            "Sqrt" => UnaryStep.Prepare(g, static x => Ops.Sqrt(x)),
            "Neg" => UnaryStep.Prepare(g, static x => Ops.Scale(x, -1f)),
            "Abs" => UnaryStep.Prepare(g, static x => Ops.Abs(x)),
            "Exp" => UnaryStep.Prepare(g, static x => Ops.Exp(x)),
            "Log" => UnaryStep.Prepare(g, static x => Ops.Log(x)),
            "Softplus" => UnaryStep.Prepare(g, static x => Ops.Softplus(x)),
            "Add" => BinaryStep.Prepare(g, BinaryOp.Add),
            "Sub" => BinaryStep.Prepare(g, BinaryOp.Subtract),
            "Mul" => BinaryStep.Prepare(g, BinaryOp.Multiply),
            "Div" => BinaryStep.Prepare(g, BinaryOp.Divide),
            "Gemm" => GemmStep.Prepare(g),
            "MatMul" => MatMulStep.Prepare(g),
            "Sum" => SumStep.Prepare(g),
            "Concat" => ConcatStep.Prepare(g),
            "Flatten" => FlattenStep.Prepare(g),
            "Reshape" => ReshapeStep.Prepare(g),
            "Transpose" => TransposeStep.Prepare(g),
            "Identity" => IdentityStep.Prepare(g),
            "Dropout" => DropoutStep.Prepare(g),
            "Softmax" => SoftmaxStep.Prepare(g, log: false),
            "LogSoftmax" => SoftmaxStep.Prepare(g, log: true),
            "Clip" => ClipStep.Prepare(g),
            _ => null,
        };
    }
}

/// <summary>y = f(x) (with a float attribute parsed once).</summary>
internal sealed class UnaryStep : PreparedStep
{
    private readonly Func<Tensor, float, Tensor> _op;
    private readonly float _attribute;

    private UnaryStep(GenericStep g, Func<Tensor, float, Tensor> op, float attribute) : base(g)
    {
        _op = op;
        _attribute = attribute;
    }

    public static OnnxStep? Prepare(GenericStep g, Func<Tensor, Tensor> op) =>
        Named(g, 1) ? new UnaryStep(g, (x, _) => op(x), 0f) : null;

    public static OnnxStep? Prepare(GenericStep g, float attribute, Func<Tensor, float, Tensor> op) =>
        Named(g, 1) ? new UnaryStep(g, op, attribute) : null;

    protected override void Execute(OnnxFrame frame) => SetOutput(frame, _op(frame.Tensor(Inputs[0]), _attribute));
}

/// <summary>Broadcasting a op b on the backend (two host operands are computed on the host by the interpreter's code).</summary>
internal sealed class BinaryStep(GenericStep g, BinaryOp op) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g, BinaryOp op) => Named(g, 2) && g.Inputs.Length == 2 ? new BinaryStep(g, op) : null;

    protected override void Execute(OnnxFrame frame)
    {
        if (frame.IsHost(Inputs[0]) && frame.IsHost(Inputs[1])) { Fallback(frame); return; }
        SetOutput(frame, Ops.Binary(op, frame.Tensor(Inputs[0]), frame.Tensor(Inputs[1])));
    }
}

/// <summary>Y = alpha * op(A) * op(B) + beta * C, as <c>OnnxOps.Gemm</c>.</summary>
internal sealed class GemmStep(GenericStep g, bool transA, bool transB, float alpha, float beta) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g)
    {
        var a = g.Attributes;
        return Named(g, 2) ? new GemmStep(g, a.Int("transA", 0) != 0, a.Int("transB", 0) != 0, a.Float("alpha", 1f), a.Float("beta", 1f)) : null;
    }

    protected override void Execute(OnnxFrame frame)
    {
        var a = frame.Tensor(Inputs[0]);
        var b = frame.Tensor(Inputs[1]);
        if (transA) a = Ops.Permute(a, 1, 0);
        var y = transB ? Ops.Linear(a, b, null, Where) : Ops.MatMul(a, b);
        if (alpha != 1f) y = Ops.Scale(y, alpha);
        if (Has(2) && beta != 0f)
        {
            var c = frame.Tensor(Inputs[2]);
            y = Ops.Add(y, beta != 1f ? Ops.Scale(c, beta) : c);
        }
        SetOutput(frame, y);
    }
}

internal sealed class MatMulStep(GenericStep g) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) => Named(g, 2) ? new MatMulStep(g) : null;

    protected override void Execute(OnnxFrame frame) =>
        SetOutput(frame, OnnxOps.MatMul(frame.Tensor(Inputs[0]), frame.Tensor(Inputs[1])));
}

internal sealed class SumStep(GenericStep g) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) => Named(g, g.Inputs.Length) && g.Inputs.Length > 0 ? new SumStep(g) : null;

    protected override void Execute(OnnxFrame frame)
    {
        var y = frame.Tensor(Inputs[0]);
        for (int i = 1; i < Inputs.Length; i++) y = Ops.Add(y, frame.Tensor(Inputs[i]));
        SetOutput(frame, y);
    }
}

/// <summary>Concatenation of the named inputs on the backend (empty ones dropped unless alone), through the frame's scratch list.</summary>
internal sealed class ConcatStep(GenericStep g, long axis) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) => g.Inputs.Any(s => s >= 0) ? new ConcatStep(g, g.Attributes.Int("axis", 0)) : null;

    protected override void Execute(OnnxFrame frame)
    {
        int present = 0, first = -1;
        bool allHost = true;
        foreach (int slot in Inputs)
        {
            if (slot < 0) continue;
            present++;
            if (first < 0) first = slot;
            allHost &= frame.Host[slot] is not null;
        }
        int rank = frame.Device[first]?.Rank ?? frame.Host[first]!.Rank;
        long a = axis < 0 ? axis + rank : axis;
        if (allHost || a < 0 || a >= rank) { Fallback(frame); return; }
        var scratch = frame.Scratch;
        int count = 0;
        foreach (int slot in Inputs)
        {
            if (slot < 0) continue;
            var t = frame.Tensor(slot);
            if (t.Length > 0 || present == 1) scratch[count++] = t;
        }
        try { SetOutput(frame, Ops.Concat(scratch.AsSpan(0, count), (int)a)); }
        finally { Array.Clear(scratch, 0, count); }
    }
}
