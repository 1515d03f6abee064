namespace Engine.Cuda;

// kernels/elementwise.ptx: unary_forward, unary_backward (ops Relu .. DropoutMask), binary, reduce_sum,
// reduce_sum_all; kernels/activations.ptx: activation_forward, activation_backward (LeakyRelu and later but Pow);
// kernels/pow.ptx: power (Pow.cs).
public sealed partial class CudaBackend
{
    private const string ElementwiseModule = "elementwise";
    private const string ActivationModule = "activations";

    /// <summary>The ops of activations.ptx: every op from LeakyRelu on, Pow excepted (pow.ptx).</summary>
    private static bool IsActivation(UnaryOp op) => op >= UnaryOp.LeakyRelu;
    private const int TableRank = 6;

    public void Unary(UnaryOp op, float alpha, DeviceBuffer x, DeviceBuffer y, int count)
    {
        // The dropout mask's keep scale is computed here exactly as the CPU backend computes it.
        Need(x, count, $"{op} x");
        Need(y, count, $"{op} y");
        if (op == UnaryOp.Pow)
        {
            PowForward(alpha, x, y, count);
            return;
        }
        if (IsActivation(op))
        {
            Launch1D(Kernel(ActivationModule, "activation_forward"), count,
                new KernelArgs().Pointer(At(x)).Pointer(At(y)).Int(count).Int((int)op).Float(alpha));
            return;
        }
        float beta = op == UnaryOp.DropoutMask ? 1f / (1f - alpha) : 0f;
        Launch1D(Kernel(ElementwiseModule, "unary_forward"), count,
            new KernelArgs().Pointer(At(x)).Pointer(At(y)).Int(count).Int((int)op).Float(alpha).Float(beta));
    }

    public void UnaryBackward(UnaryOp op, float alpha, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dY, DeviceBuffer dX, int count)
    {
        if (op == UnaryOp.DropoutMask) throw new NotSupportedException($"unary op {op} has no backward");
        Need(dY, count, $"{op} backward dY");
        Need(dX, count, $"{op} backward dX");
        if (op == UnaryOp.Pow)
        {
            PowBackward(alpha, x, dY, dX, count);
            return;
        }
        Launch1D(Kernel(IsActivation(op) ? ActivationModule : ElementwiseModule, IsActivation(op) ? "activation_backward" : "unary_backward"), count,
            new KernelArgs().Pointer(At(x)).Pointer(At(y)).Pointer(At(dY)).Pointer(At(dX)).Int(count).Int((int)op).Float(alpha));
    }

    /// <summary>y = a op b; equal shapes skip the index table, broadcasts pass y dims and a/b strides (0 on broadcast axes).</summary>
    public void Binary(BinaryOp op, DeviceBuffer a, Shape aShape, DeviceBuffer b, Shape bShape, DeviceBuffer y, Shape yShape)
    {
        int total = yShape.Size;
        Need(a, aShape.Size, $"{op} a");
        Need(b, bShape.Size, $"{op} b");
        Need(y, total, $"{op} y");
        var kernel = Kernel(ElementwiseModule, "binary");
        if (aShape == yShape && bShape == yShape)
        {
            Launch1D(kernel, total, new KernelArgs().Pointer(At(a)).Pointer(At(b)).Pointer(At(y)).Int(total).Int((int)op).Pointer(0));
            return;
        }
        Span<int> table = stackalloc int[3 * TableRank];
        int pad = TableRank - yShape.Rank;
        for (int axis = 0; axis < TableRank; axis++) table[axis] = axis < pad ? 1 : yShape[axis - pad];
        BroadcastStrides(aShape, yShape, table.Slice(TableRank + pad, yShape.Rank));
        BroadcastStrides(bShape, yShape, table.Slice(2 * TableRank + pad, yShape.Rank));
        var geometry = Table(table);
        try
        {
            Launch1D(kernel, total, new KernelArgs().Pointer(At(a)).Pointer(At(b)).Pointer(At(y)).Int(total).Int((int)op).Pointer(At(geometry)));
        }
        finally { Release(geometry); }
    }

    /// <summary>
    /// y = x summed over the axes y broadcasts along. Each output adds its inputs in increasing index of x from 0
    /// (the CPU's order, so bits agree); a full reduction uses the CPU's fixed 8-partial-sum order in one thread.
    /// </summary>
    public void ReduceSum(DeviceBuffer x, Shape xShape, DeviceBuffer y, Shape yShape)
    {
        int ySize = yShape.Size, xSize = xShape.Size;
        Need(x, xSize, "reduce-sum x");
        Need(y, ySize, "reduce-sum y");
        if (ySize == 1)
        {
            _driver.Launch(Kernel(ElementwiseModule, "reduce_sum_all"), 1, 1, 0, new KernelArgs().Pointer(At(x)).Pointer(At(y)).Int(xSize));
            return;
        }
        Span<int> yStrides = stackalloc int[Shape.MaxRank];
        BroadcastStrides(yShape, xShape, yStrides[..xShape.Rank]);
        Span<int> table = stackalloc int[4 * TableRank];
        table[..TableRank].Fill(1);
        table[(2 * TableRank)..(3 * TableRank)].Fill(1);
        // Kept axes (stride in y non-zero) and reduced axes, each right-aligned in its 6 slots, x strides beside.
        int kept = TableRank, reduced = TableRank, xStride = 1, reducedCount = 1;
        for (int axis = xShape.Rank - 1; axis >= 0; axis--)
        {
            bool isKept = yStrides[axis] != 0 || xShape[axis] == 1;
            if (isKept)
            {
                kept--;
                table[kept] = xShape[axis];
                table[TableRank + kept] = xStride;
            }
            else
            {
                reduced--;
                table[2 * TableRank + reduced] = xShape[axis];
                table[3 * TableRank + reduced] = xStride;
                reducedCount *= xShape[axis];
            }
            xStride *= xShape[axis];
        }
        var geometry = Table(table);
        try
        {
            Launch1D(Kernel(ElementwiseModule, "reduce_sum"), ySize,
                new KernelArgs().Pointer(At(x)).Pointer(At(y)).Int(ySize).Int(reducedCount).Pointer(At(geometry)));
        }
        finally { Release(geometry); }
    }

    /// <summary>Row-major strides of <paramref name="shape"/> seen from <paramref name="target"/> (0 on broadcast axes), right-aligned.</summary>
    private static void BroadcastStrides(Shape shape, Shape target, Span<int> strides)
    {
        int offset = target.Rank - shape.Rank, stride = 1;
        for (int axis = target.Rank - 1; axis >= 0; axis--)
        {
            int own = axis - offset;
            int size = own >= 0 ? shape[own] : 1;
            strides[axis] = size == 1 ? 0 : stride;
            stride *= size;
        }
    }
}
