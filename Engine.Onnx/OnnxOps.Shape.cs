using DataType = Engine.Onnx.Proto.TensorProto.Types.DataType;

namespace Engine.Onnx;

/// <summary>Structure and shape arithmetic: each works on host values (folded) and on backend tensors (differentiable).</summary>
internal static partial class OnnxOps
{
    private static OnnxValue Reshaped(OnnxValue v, int[] dims) => v.Host is { } h
        ? OnnxValue.Of(new HostTensor(dims, h.Data, h.Type))
        : Dev(Ops.Reshape(v.Device!, new Shape(dims)));

    private static OnnxValue Concat(OnnxNode n)
    {
        var inputs = Enumerable.Range(0, n.InputCount).Where(n.HasInput).ToList();
        int axis = n.Axis(n.Int("axis", 0), n.Input(inputs[0]).Rank);
        if (n.AllHost) return OnnxValue.Of(HostMath.Concat(inputs.Select(n.Host).ToList(), axis));
        return Dev(Ops.Concat(inputs.Select(n.Tensor).Where(t => t.Length > 0 || inputs.Count == 1).ToList(), axis));
    }

    private static OnnxValue Flatten(OnnxNode n)
    {
        var x = n.Input(0);
        long axis = n.Int("axis", 1);
        int a = (int)(axis < 0 ? axis + x.Rank : axis);
        if (a < 0 || a > x.Rank) throw new InvalidDataException($"ONNX: {n.Where}: axis {axis} is outside rank {x.Rank}");
        var dims = x.Dims;
        int outer = dims.Take(a).Aggregate(1, (p, d) => p * d), inner = dims.Skip(a).Aggregate(1, (p, d) => p * d);
        return Reshaped(x, [outer, inner]);
    }

    /// <summary>Target dims: 0 copies the input's size (unless allowzero), one -1 is inferred.</summary>
    private static OnnxValue Reshape(OnnxNode n)
    {
        var x = n.Input(0);
        var spec = n.Host(1).AsLongs();
        bool allowZero = n.Int("allowzero", 0) != 0;
        var dims = new int[spec.Length];
        int infer = -1;
        long known = 1;
        for (int i = 0; i < spec.Length; i++)
        {
            long d = spec[i] == 0 && !allowZero ? x.Dims[i] : spec[i];
            if (d == -1) { infer = i; continue; }
            dims[i] = (int)d;
            known *= d;
        }
        int size = x.Dims.Aggregate(1, (p, d) => p * d);
        if (infer >= 0) dims[infer] = known == 0 ? 0 : (int)(size / known);
        if (dims.Aggregate(1L, (p, d) => p * d) != size)
            throw new InvalidDataException($"ONNX: {n.Where}: cannot reshape ({string.Join(',', x.Dims)}) to ({string.Join(',', spec)})");
        return Reshaped(x, dims);
    }

    private static OnnxValue Transpose(OnnxNode n)
    {
        var x = n.Input(0);
        var perm = n.Ints("perm")?.Select(p => (int)p).ToArray() ?? Enumerable.Range(0, x.Rank).Reverse().ToArray();
        return x.Host is { } h ? OnnxValue.Of(HostMath.Transpose(h, perm)) : Dev(Ops.Permute(x.Device!, perm));
    }

    private static long[]? AxesOf(OnnxNode n) => n.Opset >= 13 ? (n.HasInput(1) ? n.Host(1).AsLongs() : null) : n.Ints("axes");

    private static OnnxValue Squeeze(OnnxNode n)
    {
        var x = n.Input(0);
        var axes = AxesOf(n);
        var drop = new bool[x.Rank];
        if (axes is null || axes.Length == 0) for (int i = 0; i < drop.Length; i++) drop[i] = x.Dims[i] == 1;
        else foreach (var a in axes) drop[n.Axis(a, x.Rank)] = true;
        return Reshaped(x, x.Dims.Where((_, i) => !drop[i]).ToArray());
    }

    private static OnnxValue Unsqueeze(OnnxNode n)
    {
        var x = n.Input(0);
        var axes = AxesOf(n) ?? throw new InvalidDataException($"ONNX: {n.Where}: expected axes");
        int rank = x.Rank + axes.Length;
        var inserted = new bool[rank];
        foreach (var a in axes) inserted[n.Axis(a, rank)] = true;
        var dims = new int[rank];
        for (int i = 0, j = 0; i < rank; i++) dims[i] = inserted[i] ? 1 : x.Dims[j++];
        return Reshaped(x, dims);
    }

    private static OnnxValue Shape(OnnxNode n)
    {
        var dims = n.Input(0).Dims;
        int rank = dims.Length;
        long start = n.Int("start", 0), end = n.Int("end", rank);
        int s = (int)Math.Clamp(start < 0 ? start + rank : start, 0, rank), e = (int)Math.Clamp(end < 0 ? end + rank : end, 0, rank);
        return OnnxValue.Of(HostTensor.Vector(dims[s..Math.Max(s, e)].Select(d => (long)d).ToArray()));
    }

    private static OnnxValue Gather(OnnxNode n)
    {
        var x = n.Input(0);
        int axis = n.Axis(n.Int("axis", 0), x.Rank);
        var indices = n.Host(1);
        if (x.Host is { } h) return OnnxValue.Of(HostMath.Gather(n.Where, h, axis, indices));
        int size = x.Dims[axis];
        var picked = IndexSelect(x.Device!, axis, indices.AsLongs().Select(i => (int)(i < 0 ? i + size : i)).ToArray(), n.Where);
        var dims = x.Dims.Take(axis).Concat(indices.Dims).Concat(x.Dims.Skip(axis + 1)).ToArray();
        return Dev(Ops.Reshape(picked, new Shape(dims)));
    }

    /// <summary>
    /// x's slices <paramref name="indices"/> along <paramref name="axis"/>, in order: one Narrow per run of
    /// consecutive indices, joined by Concat (so the gradient scatters back).
    /// </summary>
    internal static Tensor IndexSelect(Tensor x, int axis, int[] indices, string where)
    {
        int size = x.Shape[axis];
        foreach (var i in indices)
            if (i < 0 || i >= size) throw new InvalidDataException($"ONNX: {where}: index {i} is outside axis {axis} of size {size}");
        if (indices.Length == 0) return Tensor.Zeros(x.Backend, x.Shape.With(axis, 0));
        var parts = new List<Tensor>();
        for (int start = 0; start < indices.Length;)
        {
            int end = start + 1;
            while (end < indices.Length && indices[end] == indices[end - 1] + 1) end++;
            parts.Add(Ops.Narrow(x, axis, indices[start], end - start));
            start = end;
        }
        return parts.Count == 1 ? parts[0] : Ops.Concat(parts, axis);
    }

    private static OnnxValue Slice(OnnxNode n)
    {
        var x = n.Input(0);
        long[] starts, ends;
        long[]? axes, steps = null;
        if (n.Opset < 10)
        {
            starts = n.Ints("starts")!;
            ends = n.Ints("ends")!;
            axes = n.Ints("axes");
        }
        else
        {
            starts = n.Host(1).AsLongs();
            ends = n.Host(2).AsLongs();
            axes = n.HasInput(3) ? n.Host(3).AsLongs() : null;
            steps = n.HasInput(4) ? n.Host(4).AsLongs() : null;
        }
        var value = x;
        for (int k = 0; k < starts.Length; k++)
        {
            int axis = n.Axis(axes?[k] ?? k, x.Rank), size = x.Dims[axis];
            long step = steps?[k] ?? 1;
            if (step == 0) throw new InvalidDataException($"ONNX: {n.Where}: step 0 on axis {axis}");
            long s = starts[k] < 0 ? starts[k] + size : starts[k], e = ends[k] < 0 ? ends[k] + size : ends[k];
            var picked = new List<int>();
            if (step > 0)
            {
                s = Math.Clamp(s, 0, size);
                e = Math.Clamp(e, 0, size);
                for (long i = s; i < e; i += step) picked.Add((int)i);
            }
            else
            {
                s = Math.Clamp(s, 0, size - 1);
                e = Math.Clamp(e, -1, size - 1);
                for (long i = s; i > e; i += step) picked.Add((int)i);
            }
            value = value.Host is { } h
                ? OnnxValue.Of(HostMath.Gather(n.Where, h, axis, HostTensor.Vector(picked.Select(i => (long)i).ToArray())))
                : Dev(IndexSelect(value.Device!, axis, picked.ToArray(), n.Where));
        }
        return value;
    }

    private static OnnxValue Cast(OnnxNode n)
    {
        var to = (DataType)n.Int("to", (long)DataType.Float);
        var x = n.Input(0);
        bool toFloat = to is DataType.Float or DataType.Double or DataType.Float16 or DataType.Bfloat16;
        if (x.Device is { } t && toFloat) return Dev(t);
        var h = n.Host(0);
        return OnnxValue.Of(new HostTensor(h.Dims, h.Data.Select(v => HostMath.ToType(v, to)).ToArray(), to));
    }

    private static OnnxValue ConstantOfShape(OnnxNode n)
    {
        var dims = n.Host(0).AsInts();
        var proto = n.TensorAttribute("value");
        var fill = proto is null ? HostTensor.Scalar(0, DataType.Float) : OnnxTensors.Decode(proto);
        var data = new double[dims.Aggregate(1, (p, d) => p * d)];
        Array.Fill(data, fill.Data[0]);
        return OnnxValue.Of(new HostTensor(dims, data, fill.Type));
    }

    /// <summary>cond ? x : y; with backend operands, x * c + y * (1 - c) for the 0/1 condition c.</summary>
    private static OnnxValue Where(OnnxNode n)
    {
        var cond = n.Host(0);
        if (n.AllHost)
        {
            var x = n.Host(1);
            return OnnxValue.Of(HostMath.Map(n.Where, [cond, x, n.Host(2)], x.Type, a => a[0] != 0 ? a[1] : a[2]));
        }
        var c = cond.ToTensor(n.Backend);
        var notC = new HostTensor(cond.Dims, cond.Data.Select(v => v != 0 ? 0.0 : 1.0).ToArray(), DataType.Float).ToTensor(n.Backend);
        return Dev(Ops.Add(Ops.Multiply(n.Tensor(1), c), Ops.Multiply(n.Tensor(2), notC)));
    }

    /// <summary>Runs the branch the (host) condition selects, in the enclosing scope.</summary>
    private static OnnxValue[] If(OnnxNode n)
    {
        var cond = n.Host(0);
        if (cond.Data.Length != 1) throw new InvalidDataException($"ONNX: {n.Where}: expected a one-element condition, got {cond}");
        var branch = n.Graph(cond.Data[0] != 0 ? "then_branch" : "else_branch");
        n.Model.RunGraph(branch, n.Values, n.MaybeBackend);
        return branch.Output.Select(o => n.Values.TryGetValue(o.Name, out var v) ? v
            : throw new InvalidDataException($"ONNX: {n.Where}: branch output '{o.Name}' is never produced")).ToArray();
    }

    private static HostTensor ConstantValue(OnnxNode n)
    {
        if (n.TensorAttribute("value") is { } t) return OnnxTensors.Decode(t);
        if (n.Has("value_float")) return HostTensor.Scalar(n.Float("value_float", 0f), DataType.Float);
        if (n.Has("value_int")) return HostTensor.Scalar(n.Int("value_int", 0), DataType.Int64);
        if (n.Floats("value_floats") is { } fs) return new HostTensor([fs.Length], fs.Select(f => (double)f).ToArray(), DataType.Float);
        if (n.Ints("value_ints") is { } ints) return HostTensor.Vector(ints);
        throw n.Unsupported("a Constant without a tensor, float or int value");
    }
}
