using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    public void Unary(UnaryOp op, float alpha, DeviceBuffer x, DeviceBuffer y, int count)
    {
        var xa = Array(x);
        var ya = Array(y);
        ForRange(count, (op, alpha, xa, ya), static (s, start, length) =>
        {
            var (op, alpha, xa, ya) = s;
            var xs = new ReadOnlySpan<float>(xa, start, length);
            var ys = new Span<float>(ya, start, length);
            switch (op)
            {
                case UnaryOp.Relu:
                    if (GemmKernels.Use512) ReluForward512(xs, ys);
                    else TensorPrimitives.Max(xs, 0f, ys);
                    break;
                case UnaryOp.Tanh: TensorPrimitives.Tanh(xs, ys); break;
                case UnaryOp.Sigmoid: TensorPrimitives.Sigmoid(xs, ys); break;
                case UnaryOp.Scale: TensorPrimitives.Multiply(xs, alpha, ys); break;
                case UnaryOp.AddScalar: TensorPrimitives.Add(xs, alpha, ys); break;
                case UnaryOp.Exp: TensorPrimitives.Exp(xs, ys); break;
                case UnaryOp.Log: TensorPrimitives.Log(xs, ys); break;
                case UnaryOp.Square: TensorPrimitives.Multiply(xs, xs, ys); break;
                case UnaryOp.Abs: TensorPrimitives.Abs(xs, ys); break;
                case UnaryOp.DropoutMask:
                    float keep = 1f / (1f - alpha);
                    for (int i = 0; i < xs.Length; i++) ys[i] = xs[i] >= alpha ? keep : 0f;
                    break;
                case UnaryOp.Sqrt: TensorPrimitives.Sqrt(xs, ys); break;
                default:
                    for (int i = 0; i < xs.Length; i++) ys[i] = UnaryMath.Forward(op, alpha, xs[i]);
                    break;
            }
        });
    }

    /// <summary>
    /// y = x where x &gt; 0 or x is NaN, else +0: the bits of <c>TensorPrimitives.Max(x, 0)</c> (the 256-bit path) and
    /// of the CUDA kernel, 16 lanes at a time (twice as fast as TensorPrimitives' 256-bit loop on LeNet's first layer).
    /// </summary>
    private static void ReluForward512(ReadOnlySpan<float> x, Span<float> y)
    {
        Wide512Meter.Enter();
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        int i = 0;
        for (; i + 16 <= x.Length; i += 16)
        {
            var v = Vector512.LoadUnsafe(ref xs, (nuint)i);
            (v & (Vector512.GreaterThan(v, Vector512<float>.Zero) | ~Vector512.Equals(v, v))).StoreUnsafe(ref ys, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] = x[i] > 0f || float.IsNaN(x[i]) ? x[i] : 0f;
    }

    /// <summary>dX = dY * f'(x), with f' written from x or from the forward output y, whichever is cheaper.</summary>
    public void UnaryBackward(UnaryOp op, float alpha, DeviceBuffer x, DeviceBuffer y, DeviceBuffer dY, DeviceBuffer dX, int count)
    {
        var xa = Array(x);
        var ya = Array(y);
        var dya = Array(dY);
        var dxa = Array(dX);
        ForRange(count, (op, alpha, xa, ya, dya, dxa), static (s, start, length) =>
        {
            var (op, alpha, xa, ya, dya, dxa) = s;
            var xs = new ReadOnlySpan<float>(xa, start, length);
            var ys = new ReadOnlySpan<float>(ya, start, length);
            var dys = new ReadOnlySpan<float>(dya, start, length);
            var dxs = new Span<float>(dxa, start, length);
            switch (op)
            {
                case UnaryOp.Relu: ReluBackward(xs, dys, dxs); break;
                case UnaryOp.Tanh: // 1 - y^2
                    for (int i = 0; i < length; i++) dxs[i] = dys[i] * (1f - ys[i] * ys[i]);
                    break;
                case UnaryOp.Sigmoid: // y (1 - y)
                    for (int i = 0; i < length; i++) dxs[i] = dys[i] * ys[i] * (1f - ys[i]);
                    break;
                case UnaryOp.Scale: TensorPrimitives.Multiply(dys, alpha, dxs); break;
                case UnaryOp.AddScalar: dys.CopyTo(dxs); break;
                case UnaryOp.Exp: TensorPrimitives.Multiply(dys, ys, dxs); break;
                case UnaryOp.Log: TensorPrimitives.Divide(dys, xs, dxs); break;
                case UnaryOp.Square:
                    for (int i = 0; i < length; i++) dxs[i] = 2f * xs[i] * dys[i];
                    break;
                case UnaryOp.Abs:
                    for (int i = 0; i < length; i++) dxs[i] = xs[i] > 0f ? dys[i] : xs[i] < 0f ? -dys[i] : 0f;
                    break;
                case UnaryOp.DropoutMask: throw new NotSupportedException("DropoutMask has no backward");
                default:
                    for (int i = 0; i < length; i++) dxs[i] = dys[i] * UnaryMath.Derivative(op, alpha, xs[i], ys[i]);
                    break;
            }
        });
    }

    /// <summary>dX = x &gt; 0 ? dY : 0, eight lanes at a time (a NaN x gives 0, as in the scalar form).</summary>
    private static void ReluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dY, Span<float> dX)
    {
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float dys = ref MemoryMarshal.GetReference(dY);
        ref float dxs = ref MemoryMarshal.GetReference(dX);
        int i = 0;
        for (; i + 8 <= x.Length; i += 8)
        {
            var positive = Vector256.GreaterThan(Vector256.LoadUnsafe(ref xs, (nuint)i), Vector256<float>.Zero);
            (positive & Vector256.LoadUnsafe(ref dys, (nuint)i)).StoreUnsafe(ref dxs, (nuint)i);
        }
        for (; i < x.Length; i++) dX[i] = x[i] > 0f ? dY[i] : 0f;
    }

    /// <summary>
    /// y = a op b, broadcasting right-aligned. Shapes are collapsed to rows of the last output axis; each row is one
    /// vector call (span-span, span-scalar or scalar-span). y may alias a or b when it has the same shape.
    /// </summary>
    public void Binary(BinaryOp op, DeviceBuffer a, Shape aShape, DeviceBuffer b, Shape bShape, DeviceBuffer y, Shape yShape)
    {
        var aa = Array(a);
        var ba = Array(b);
        var ya = Array(y);
        int total = yShape.Size;
        if (aShape == yShape && bShape == yShape)
        {
            ForRange(total, (op, aa, ba, ya), static (s, start, length) =>
                BinaryRow(s.op, s.aa.AsSpan(start, length), 1, s.ba.AsSpan(start, length), 1, s.ya.AsSpan(start, length)));
            return;
        }
        Span<int> aStride = stackalloc int[Shape.MaxRank], bStride = stackalloc int[Shape.MaxRank];
        BroadcastStrides(aShape, yShape, aStride);
        BroadcastStrides(bShape, yShape, bStride);
        Span<int> mergedDims = stackalloc int[Shape.MaxRank];
        int rank = MergeAxes(yShape, aStride, bStride, mergedDims);
        int inner = rank == 0 ? 1 : mergedDims[rank - 1];
        int rows = inner == 0 ? 0 : total / inner;
        int aInner = rank == 0 ? 0 : aStride[rank - 1], bInner = rank == 0 ? 0 : bStride[rank - 1];
        AxisInts aS = default, bS = default, dims = default;
        aStride[..rank].CopyTo(aS);
        bStride[..rank].CopyTo(bS);
        mergedDims[..rank].CopyTo(dims);
        int rowsPerChunk = Math.Max(1, ElementChunk / Math.Max(inner, 1));
        _workers.For((rows + rowsPerChunk - 1) / rowsPerChunk, (op, aa, ba, ya, aS, bS, dims, rank, rows, rowsPerChunk, aInner, bInner, inner), static (s, chunk) =>
        {
            var (op, aa, ba, ya, aS, bS, dims, rank, rows, rowsPerChunk, aInner, bInner, inner) = s;
            int r0 = chunk * rowsPerChunk, r1 = Math.Min(rows, r0 + rowsPerChunk);
            for (int r = r0; r < r1; r++)
            {
                int ao = 0, bo = 0, rest = r;
                for (int axis = rank - 2; axis >= 0; axis--)
                {
                    int i = rest % dims[axis];
                    rest /= dims[axis];
                    ao += i * aS[axis];
                    bo += i * bS[axis];
                }
                var yRow = ya.AsSpan(r * inner, inner);
                var aRow = aInner == 0 ? aa.AsSpan(ao, 1) : aa.AsSpan(ao, inner);
                var bRow = bInner == 0 ? ba.AsSpan(bo, 1) : ba.AsSpan(bo, inner);
                BinaryRow(op, aRow, aInner, bRow, bInner, yRow);
            }
        });
    }

    /// <summary>
    /// Drops the size-1 axes of y and merges neighbouring axes that both operands walk contiguously (or both
    /// broadcast), so a per-channel operand over (N,C,H,W) becomes rows of H*W: dims and strides are rewritten in
    /// place, the merged rank returned. Only the row length changes, not any element's arithmetic.
    /// </summary>
    private static int MergeAxes(Shape yShape, Span<int> aStride, Span<int> bStride, Span<int> dims)
    {
        int rank = 0;
        for (int axis = 0; axis < yShape.Rank; axis++)
        {
            if (yShape[axis] == 1) continue;
            if (rank > 0 && aStride[rank - 1] == aStride[axis] * yShape[axis] && bStride[rank - 1] == bStride[axis] * yShape[axis])
            {
                // the axis before walks exactly one full pass of this one: fold the two into one
                dims[rank - 1] *= yShape[axis];
                aStride[rank - 1] = aStride[axis];
                bStride[rank - 1] = bStride[axis];
                continue;
            }
            dims[rank] = yShape[axis];
            aStride[rank] = aStride[axis];
            bStride[rank] = bStride[axis];
            rank++;
        }
        return rank;
    }

    private static void BinaryRow(BinaryOp op, ReadOnlySpan<float> a, int aStep, ReadOnlySpan<float> b, int bStep, Span<float> y)
    {
        if (aStep != 0 && bStep != 0)
        {
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(a, b, y); break;
                case BinaryOp.Subtract: TensorPrimitives.Subtract(a, b, y); break;
                case BinaryOp.Multiply: TensorPrimitives.Multiply(a, b, y); break;
                default: TensorPrimitives.Divide(a, b, y); break;
            }
        }
        else if (bStep == 0 && aStep != 0)
        {
            float s = b[0];
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(a, s, y); break;
                case BinaryOp.Subtract: TensorPrimitives.Subtract(a, s, y); break;
                case BinaryOp.Multiply: TensorPrimitives.Multiply(a, s, y); break;
                default: TensorPrimitives.Divide(a, s, y); break;
            }
        }
        else if (aStep == 0 && bStep != 0)
        {
            float s = a[0];
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(b, s, y); break;
                case BinaryOp.Subtract: TensorPrimitives.Subtract(s, b, y); break;
                case BinaryOp.Multiply: TensorPrimitives.Multiply(b, s, y); break;
                default: TensorPrimitives.Divide(s, b, y); break;
            }
        }
        else
        {
            float v = op switch
            {
                BinaryOp.Add => a[0] + b[0],
                BinaryOp.Subtract => a[0] - b[0],
                BinaryOp.Multiply => a[0] * b[0],
                _ => a[0] / b[0],
            };
            y.Fill(v);
        }
    }

    /// <summary>Row-major strides of <paramref name="shape"/> as seen from <paramref name="target"/> (0 on broadcast axes).</summary>
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

    /// <summary>
    /// y = x summed over the axes y broadcasts along. Each output element is summed in increasing index order of
    /// x, so the result never depends on threads (and matches the CUDA backend bit for bit).
    /// </summary>
    public void ReduceSum(DeviceBuffer x, Shape xShape, DeviceBuffer y, Shape yShape)
    {
        var xa = Array(x);
        var ya = Array(y);
        int rank = xShape.Rank;
        Span<int> yStride = stackalloc int[Shape.MaxRank];
        BroadcastStrides(yShape, xShape, yStride);
        int ySize = yShape.Size, xSize = xShape.Size;
        if (ySize == 1)
        {
            ya[0] = SumOrdered(xa.AsSpan(0, xSize));
            return;
        }
        // Trailing axes all summed away: each run of them is added onto its output element in a scalar loop (no vector
        // call per element).
        int reducedInner = 1, reducedSplit = rank;
        for (int axis = rank - 1; axis >= 0 && yStride[axis] == 0; axis--)
        {
            reducedInner *= xShape[axis];
            reducedSplit = axis;
        }
        if (reducedInner > 1)
        {
            Span<int> outerDims = stackalloc int[reducedSplit];
            for (int axis = 0; axis < reducedSplit; axis++) outerDims[axis] = xShape[axis];
            ReduceTrailingRuns(xa, ya, ySize, xSize / reducedInner, reducedInner, outerDims, yStride[..reducedSplit]);
            return;
        }
        // Collapse x as [outer..., inner] where inner = trailing axes kept whole by y (contiguous in both).
        int keptInner = 1, split = rank;
        for (int axis = rank - 1; axis >= 0 && yStride[axis] == keptInner && xShape[axis] > 1; axis--)
        {
            keptInner *= xShape[axis];
            split = axis;
        }
        Span<int> yS = yStride[..rank], dims = stackalloc int[rank];
        for (int axis = 0; axis < rank; axis++) dims[axis] = xShape[axis];
        int rows = xSize / keptInner;
        ya.AsSpan(0, ySize).Clear();
        for (int r = 0; r < rows; r++)
        {
            int yo = 0, rest = r;
            for (int axis = split - 1; axis >= 0; axis--)
            {
                int i = rest % dims[axis];
                rest /= dims[axis];
                yo += i * yS[axis];
            }
            var yRow = ya.AsSpan(yo, keptInner);
            TensorPrimitives.Add(yRow, xa.AsSpan(r * keptInner, keptInner), yRow);
        }
    }

    /// <summary>Outputs per work item of <see cref="ReduceTrailingRuns"/> (any split gives the same bits).</summary>
    private const int ReduceOutputsPerChunk = 8;

    /// <summary>
    /// y[yo(r)] = sum over rows r (runs of <paramref name="inner"/> consecutive x) mapping to it, each output adding
    /// its rows one element at a time in increasing index order (the bits of the CUDA kernel). Work items own disjoint
    /// ranges of outputs; inside one, up to eight rows of distinct outputs are summed side by side so eight dependency
    /// chains overlap, which changes no output's order of additions.
    /// </summary>
    private void ReduceTrailingRuns(float[] xa, float[] ya, int ySize, int rows, int inner, ReadOnlySpan<int> outerDims, ReadOnlySpan<int> outerStrides)
    {
        // rowOutput[r] = the output row r adds into
        var rowOutput = System.Buffers.ArrayPool<int>.Shared.Rent(rows);
        for (int r = 0; r < rows; r++)
        {
            int yo = 0, rest = r;
            for (int axis = outerDims.Length - 1; axis >= 0; axis--)
            {
                yo += rest % outerDims[axis] * outerStrides[axis];
                rest /= outerDims[axis];
            }
            rowOutput[r] = yo;
        }
        _workers.For((ySize + ReduceOutputsPerChunk - 1) / ReduceOutputsPerChunk, (xa, ya, ySize, rows, inner, rowOutput), static (s, chunk) =>
        {
            var (xa, ya, ySize, rows, inner, rowOutput) = s;
            int lo = chunk * ReduceOutputsPerChunk, hi = Math.Min(ySize, lo + ReduceOutputsPerChunk);
            ya.AsSpan(lo, hi - lo).Clear();
            Span<int> batchRows = stackalloc int[ReduceOutputsPerChunk];
            Span<int> batchOutputs = stackalloc int[ReduceOutputsPerChunk];
            int pending = 0;
            for (int r = 0; r < rows; r++)
            {
                int yo = rowOutput[r];
                if (yo < lo || yo >= hi) continue;
                // an output already waiting must finish its earlier row first: its order of additions is fixed
                if (batchOutputs[..pending].Contains(yo))
                {
                    SumRuns(xa, ya, inner, batchRows[..pending], batchOutputs[..pending]);
                    pending = 0;
                }
                batchRows[pending] = r;
                batchOutputs[pending++] = yo;
                if (pending == ReduceOutputsPerChunk)
                {
                    SumRuns(xa, ya, inner, batchRows, batchOutputs);
                    pending = 0;
                }
            }
            SumRuns(xa, ya, inner, batchRows[..pending], batchOutputs[..pending]);
        });
        System.Buffers.ArrayPool<int>.Shared.Return(rowOutput);
    }

    /// <summary>y[outputs[k]] += x[rows[k]*inner ..] element by element in order, for distinct outputs, side by side.</summary>
    private static unsafe void SumRuns(float[] xa, float[] ya, int inner, ReadOnlySpan<int> rows, ReadOnlySpan<int> outputs)
    {
        int k = 0;
        fixed (float* x = xa)
        {
            for (; k + 4 <= rows.Length; k += 4)
            {
                float* x0 = x + (nint)rows[k] * inner, x1 = x + (nint)rows[k + 1] * inner;
                float* x2 = x + (nint)rows[k + 2] * inner, x3 = x + (nint)rows[k + 3] * inner;
                float s0 = ya[outputs[k]], s1 = ya[outputs[k + 1]], s2 = ya[outputs[k + 2]], s3 = ya[outputs[k + 3]];
                for (int i = 0; i < inner; i++)
                {
                    s0 += x0[i];
                    s1 += x1[i];
                    s2 += x2[i];
                    s3 += x3[i];
                }
                ya[outputs[k]] = s0;
                ya[outputs[k + 1]] = s1;
                ya[outputs[k + 2]] = s2;
                ya[outputs[k + 3]] = s3;
            }
            for (; k < rows.Length; k++)
            {
                float* x0 = x + (nint)rows[k] * inner;
                float s0 = ya[outputs[k]];
                for (int i = 0; i < inner; i++) s0 += x0[i];
                ya[outputs[k]] = s0;
            }
        }
    }

    /// <summary>Sum in a fixed order that depends only on the length (8 running partial sums, then combined).</summary>
    internal static float SumOrdered(ReadOnlySpan<float> values)
    {
        // lane j of one 8-wide vector is partial sum j
        var lanes = Vector256<float>.Zero;
        ref float start = ref MemoryMarshal.GetReference(values);
        int i = 0;
        for (; i + 8 <= values.Length; i += 8) lanes += Vector256.LoadUnsafe(ref start, (nuint)i);
        // the lanes read in registers (a copy through the stack cost a store and eight reloads per call)
        float sum = ((lanes.GetElement(0) + lanes.GetElement(1)) + (lanes.GetElement(2) + lanes.GetElement(3)))
            + ((lanes.GetElement(4) + lanes.GetElement(5)) + (lanes.GetElement(6) + lanes.GetElement(7)));
        for (; i < values.Length; i++) sum += Unsafe.Add(ref start, i);
        return sum;
    }
}
