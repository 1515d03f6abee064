namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    public void CopyBlocks(DeviceBuffer source, int sourceOffset, int sourceStride, DeviceBuffer destination, int destinationOffset, int destinationStride, int blockLength, int blockCount)
    {
        var src = Array(source);
        var dst = Array(destination);
        int blocksPerChunk = Math.Max(1, ElementChunk / Math.Max(blockLength, 1));
        _workers.For((blockCount + blocksPerChunk - 1) / blocksPerChunk, (src, dst, blockCount, blocksPerChunk, sourceOffset, sourceStride, destinationOffset, destinationStride, blockLength), static (s, chunk) =>
        {
            var (src, dst, blockCount, blocksPerChunk, sourceOffset, sourceStride, destinationOffset, destinationStride, blockLength) = s;
            int b1 = Math.Min(blockCount, (chunk + 1) * blocksPerChunk);
            for (int b = chunk * blocksPerChunk; b < b1; b++)
                src.AsSpan(sourceOffset + b * sourceStride, blockLength).CopyTo(dst.AsSpan(destinationOffset + b * destinationStride, blockLength));
        });
    }

    /// <summary>
    /// y[i0..ik] = x[the same indices in x's axis order]: walks y in order, with x's strides permuted; the
    /// innermost output axis is a strided gather.
    /// </summary>
    public void Permute(in PermuteGeometry g, DeviceBuffer x, DeviceBuffer y)
    {
        var xa = Array(x);
        var ya = Array(y);
        int rank = g.Input.Rank;
        var outShape = g.OutputShape;
        Span<int> xStride = stackalloc int[Shape.MaxRank];
        for (int a = rank - 1, s = 1; a >= 0; a--) { xStride[a] = s; s *= g.Input[a]; }
        AxisInts stride = default, dims = default;
        for (int i = 0; i < rank; i++)
        {
            stride[i] = xStride[g.Axes[i]];
            dims[i] = outShape[i];
        }
        int inner = rank == 0 ? 1 : dims[rank - 1], innerStride = rank == 0 ? 0 : stride[rank - 1];
        int rows = inner == 0 ? 0 : outShape.Size / inner;
        int rowsPerChunk = Math.Max(1, ElementChunk / Math.Max(inner, 1));
        _workers.For((rows + rowsPerChunk - 1) / rowsPerChunk, (xa, ya, stride, dims, rank, rows, rowsPerChunk, inner, innerStride), static (s, chunk) =>
        {
            var (xa, ya, stride, dims, rank, rows, rowsPerChunk, inner, innerStride) = s;
            int r1 = Math.Min(rows, (chunk + 1) * rowsPerChunk);
            for (int r = chunk * rowsPerChunk; r < r1; r++)
            {
                int offset = 0, rest = r;
                for (int a = rank - 2; a >= 0; a--)
                {
                    offset += rest % dims[a] * stride[a];
                    rest /= dims[a];
                }
                var dst = ya.AsSpan(r * inner, inner);
                for (int i = 0; i < inner; i++) dst[i] = xa[offset + i * innerStride];
            }
        });
    }
}
