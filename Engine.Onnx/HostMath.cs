using DataType = Engine.Onnx.Proto.TensorProto.Types.DataType;

namespace Engine.Onnx;

/// <summary>Host evaluation of shape arithmetic: NumPy broadcasting, gathers and slices over <see cref="HostTensor"/>.</summary>
internal static class HostMath
{
    /// <summary>The NumPy broadcast of several shapes (right-aligned; sizes equal or 1).</summary>
    public static int[] BroadcastDims(string where, params int[][] shapes)
    {
        int rank = shapes.Max(s => s.Length);
        var dims = new int[rank];
        Array.Fill(dims, 1);
        foreach (var s in shapes)
            for (int i = 0; i < s.Length; i++)
            {
                int axis = rank - s.Length + i, d = s[i];
                if (d == dims[axis] || d == 1) continue;
                if (dims[axis] != 1)
                    throw new InvalidDataException($"ONNX: {where}: shapes {string.Join(" and ", shapes.Select(x => $"({string.Join(',', x)})"))} do not broadcast");
                dims[axis] = d;
            }
        return dims;
    }

    /// <summary>Flat source index into a tensor of <paramref name="dims"/> broadcast to <paramref name="outDims"/>, for each output element.</summary>
    public static int[] BroadcastIndex(int[] dims, int[] outDims)
    {
        int size = outDims.Aggregate(1, (a, b) => a * b);
        var map = new int[size];
        int offset = outDims.Length - dims.Length;
        var strides = new int[outDims.Length];
        int stride = 1;
        for (int i = dims.Length - 1; i >= 0; i--)
        {
            strides[i + offset] = dims[i] == 1 ? 0 : stride;
            stride *= dims[i];
        }
        var coord = new int[outDims.Length];
        for (int flat = 0; flat < size; flat++)
        {
            int src = 0;
            for (int a = 0; a < coord.Length; a++) src += coord[a] * strides[a];
            map[flat] = src;
            for (int a = coord.Length - 1; a >= 0; a--)
            {
                if (++coord[a] < outDims[a]) break;
                coord[a] = 0;
            }
        }
        return map;
    }

    /// <summary>y = f(inputs...) elementwise with broadcasting.</summary>
    public static HostTensor Map(string where, IReadOnlyList<HostTensor> inputs, DataType type, Func<double[], double> f)
    {
        var outDims = BroadcastDims(where, inputs.Select(x => x.Dims).ToArray());
        var maps = inputs.Select(x => BroadcastIndex(x.Dims, outDims)).ToArray();
        int size = maps[0].Length;
        var data = new double[size];
        var args = new double[inputs.Count];
        for (int i = 0; i < size; i++)
        {
            for (int k = 0; k < args.Length; k++) args[k] = inputs[k].Data[maps[k][i]];
            data[i] = f(args);
        }
        return new HostTensor(outDims, data, type);
    }

    /// <summary>Rounds a result to the integer semantics of <paramref name="type"/> (C-style truncation).</summary>
    public static double ToType(double v, DataType type) => type switch
    {
        DataType.Float or DataType.Float16 or DataType.Bfloat16 => (float)v,
        DataType.Double => v,
        DataType.Bool => v != 0 ? 1 : 0,
        _ => double.IsNaN(v) ? 0 : Math.Truncate(v),
    };

    /// <summary>Takes elements <paramref name="indices"/> (negative counted from the end) along <paramref name="axis"/>.</summary>
    public static HostTensor Gather(string where, HostTensor x, int axis, HostTensor indices)
    {
        int size = x.Dims[axis];
        int outer = x.Dims.Take(axis).Aggregate(1, (a, b) => a * b), inner = x.Dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b);
        var idx = indices.AsLongs().Select(i =>
        {
            long j = i < 0 ? i + size : i;
            if (j < 0 || j >= size) throw new InvalidDataException($"ONNX: {where}: index {i} is outside axis {axis} of size {size}");
            return (int)j;
        }).ToArray();
        var dims = x.Dims.Take(axis).Concat(indices.Dims).Concat(x.Dims.Skip(axis + 1)).ToArray();
        var data = new double[outer * idx.Length * inner];
        int o = 0;
        for (int a = 0; a < outer; a++)
            foreach (var j in idx)
            {
                Array.Copy(x.Data, (a * size + j) * inner, data, o, inner);
                o += inner;
            }
        return new HostTensor(dims, data, x.Type);
    }

    /// <summary>Moves axes: output axis i is input axis perm[i].</summary>
    public static HostTensor Transpose(HostTensor x, int[] perm)
    {
        var outDims = perm.Select(p => x.Dims[p]).ToArray();
        var inStrides = new int[x.Rank];
        int stride = 1;
        for (int i = x.Rank - 1; i >= 0; i--) { inStrides[i] = stride; stride *= x.Dims[i]; }
        var data = new double[x.Data.Length];
        var coord = new int[x.Rank];
        for (int flat = 0; flat < data.Length; flat++)
        {
            int src = 0;
            for (int a = 0; a < coord.Length; a++) src += coord[a] * inStrides[perm[a]];
            data[flat] = x.Data[src];
            for (int a = coord.Length - 1; a >= 0; a--)
            {
                if (++coord[a] < outDims[a]) break;
                coord[a] = 0;
            }
        }
        return new HostTensor(outDims, data, x.Type);
    }

    /// <summary>Joins host tensors along an axis.</summary>
    public static HostTensor Concat(IReadOnlyList<HostTensor> xs, int axis)
    {
        var dims = (int[])xs[0].Dims.Clone();
        dims[axis] = xs.Sum(x => x.Dims[axis]);
        int outer = dims.Take(axis).Aggregate(1, (a, b) => a * b), inner = dims.Skip(axis + 1).Aggregate(1, (a, b) => a * b);
        var data = new double[dims.Aggregate(1, (a, b) => a * b)];
        int o = 0;
        for (int a = 0; a < outer; a++)
            foreach (var x in xs)
            {
                int block = x.Dims[axis] * inner;
                Array.Copy(x.Data, a * block, data, o, block);
                o += block;
            }
        return new HostTensor(dims, data, xs[0].Type);
    }
}
