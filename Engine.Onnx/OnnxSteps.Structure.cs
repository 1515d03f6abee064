namespace Engine.Onnx;

/// <summary>Flatten of a backend tensor to (product of axes before axis, product of the rest).</summary>
internal sealed class FlattenStep(GenericStep g, long axis) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) => Named(g, 1) ? new FlattenStep(g, g.Attributes.Int("axis", 1)) : null;

    protected override void Execute(OnnxFrame frame)
    {
        var x = frame.Device[Inputs[0]];
        if (x is null) { Fallback(frame); return; }
        int a = (int)(axis < 0 ? axis + x.Rank : axis);
        if (a < 0 || a > x.Rank) { Fallback(frame); return; }
        int outer = 1, inner = 1;
        for (int i = 0; i < a; i++) outer *= x.Shape[i];
        for (int i = a; i < x.Rank; i++) inner *= x.Shape[i];
        SetOutput(frame, Ops.Reshape(x, new Shape(outer, inner)));
    }
}

/// <summary>Reshape of a backend tensor to a host shape: 0 copies the input's size (unless allowzero), one -1 is inferred.</summary>
internal sealed class ReshapeStep(GenericStep g, bool allowZero) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) => Named(g, 2) ? new ReshapeStep(g, g.Attributes.Int("allowzero", 0) != 0) : null;

    protected override void Execute(OnnxFrame frame)
    {
        var x = frame.Device[Inputs[0]];
        var spec = frame.Host[Inputs[1]];
        if (x is null || spec is null || spec.Data.Length > Shape.MaxRank) { Fallback(frame); return; }
        Span<int> dims = stackalloc int[spec.Data.Length];
        dims.Clear();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < dims.Length; i++)
        {
            long s = (long)spec.Data[i];
            if (s == 0 && !allowZero && i >= x.Rank) { Fallback(frame); return; }
            long d = s == 0 && !allowZero ? x.Shape[i] : s;
            if (d == -1) { infer = i; continue; }
            dims[i] = (int)d;
            known *= d;
        }
        int size = 1;
        for (int i = 0; i < x.Rank; i++) size *= x.Shape[i];
        if (infer >= 0) dims[infer] = known == 0 ? 0 : (int)(size / known);
        long product = 1;
        foreach (int d in dims) product *= d;
        if (product != size) { Fallback(frame); return; }
        SetOutput(frame, Ops.Reshape(x, new Shape(dims)));
    }
}

/// <summary>Axis permutation of a backend tensor ('perm', else reversed axes).</summary>
internal sealed class TransposeStep(GenericStep g, int[]? perm) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) =>
        Named(g, 1) ? new TransposeStep(g, g.Attributes.Ints("perm")?.Select(p => (int)p).ToArray()) : null;

    protected override void Execute(OnnxFrame frame)
    {
        var x = frame.Device[Inputs[0]];
        if (x is null) { Fallback(frame); return; }
        if (perm is not null) { SetOutput(frame, Ops.Permute(x, perm)); return; }
        Span<int> reversed = stackalloc int[x.Rank];
        for (int i = 0; i < reversed.Length; i++) reversed[i] = x.Rank - 1 - i;
        SetOutput(frame, Ops.Permute(x, reversed));
    }
}

internal sealed class IdentityStep(GenericStep g) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) => Named(g, 1) ? new IdentityStep(g) : null;

    protected override void Execute(OnnxFrame frame)
    {
        if (Outputs.Length == 0 || Outputs[0] < 0) return;
        if (frame.Device[Inputs[0]] is { } t) frame.SetDevice(Outputs[0], t);
        else frame.SetHost(Outputs[0], frame.Host[Inputs[0]]!);
    }
}

/// <summary>Dropout without ratio or training-mode inputs and without its mask output: the input itself outside training.</summary>
internal sealed class DropoutStep(GenericStep g) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) =>
        Named(g, 1) && g.Inputs.Length == 1 && (g.Outputs.Length < 2 || g.Outputs[1] < 0) ? new DropoutStep(g) : null;

    protected override void Execute(OnnxFrame frame)
    {
        if (frame.Training) { Fallback(frame); return; }
        SetOutput(frame, frame.Tensor(Inputs[0]));
    }
}

/// <summary>Softmax over an axis (opset 13+), or over the rows of the 2-D view before opset 13.</summary>
internal sealed class SoftmaxStep(GenericStep g, bool log, long axis) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g, bool log) =>
        Named(g, 1) ? new SoftmaxStep(g, log, g.Attributes.Int("axis", g.Opset >= 13 ? -1 : 1)) : null;

    protected override void Execute(OnnxFrame frame)
    {
        var x = frame.Tensor(Inputs[0]);
        int rank = Generic.Opset >= 13 ? x.Rank : Math.Max(x.Rank, 1);
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) { Fallback(frame); return; }
        int at = (int)a;
        if (Generic.Opset >= 13)
        {
            SetOutput(frame, log ? Ops.LogSoftmax(x, at) : Ops.Softmax(x, at));
            return;
        }
        var rows = Ops.Reshape(x, new Shape(x.Shape.Product(0, at), x.Shape.Product(at, x.Rank)));
        var y = log ? Ops.LogSoftmax(rows, 1) : Ops.Softmax(rows, 1);
        SetOutput(frame, Ops.Reshape(y, x.Shape));
    }
}

/// <summary>Clip to [min, max]: attributes before opset 11, host inputs from 11.</summary>
internal sealed class ClipStep(GenericStep g, float lo, float hi) : PreparedStep(g)
{
    public static OnnxStep? Prepare(GenericStep g) => Named(g, 1)
        ? new ClipStep(g, g.Attributes.Float("min", float.NegativeInfinity), g.Attributes.Float("max", float.PositiveInfinity))
        : null;

    protected override void Execute(OnnxFrame frame)
    {
        float low = lo, high = hi;
        if (Generic.Opset >= 11)
        {
            if (Has(1) && frame.Host[Inputs[1]] is not { Data.Length: > 0 } || Has(2) && frame.Host[Inputs[2]] is not { Data.Length: > 0 })
            {
                Fallback(frame);
                return;
            }
            low = Has(1) ? (float)frame.Host[Inputs[1]]!.Data[0] : float.NegativeInfinity;
            high = Has(2) ? (float)frame.Host[Inputs[2]]!.Data[0] : float.PositiveInfinity;
        }
        SetOutput(frame, OnnxOps.Clamp(frame.Tensor(Inputs[0]), low, high));
    }
}
