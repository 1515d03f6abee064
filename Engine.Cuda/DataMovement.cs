namespace Engine.Cuda;

// kernels/datamovement.ptx: copy_blocks, permute. One thread per destination element.
public sealed partial class CudaBackend
{
    private const string DataMovementModule = "datamovement";

    /// <summary>Block b (blockLength floats) of source at sourceOffset + b*sourceStride goes to destinationOffset + b*destinationStride.</summary>
    public void CopyBlocks(DeviceBuffer source, int sourceOffset, int sourceStride, DeviceBuffer destination, int destinationOffset, int destinationStride, int blockLength, int blockCount)
    {
        if (blockLength <= 0 || blockCount <= 0) return;
        Need(source, sourceOffset + (long)(blockCount - 1) * sourceStride + blockLength, "copy-blocks source");
        Need(destination, destinationOffset + (long)(blockCount - 1) * destinationStride + blockLength, "copy-blocks destination");
        long n = (long)blockLength * blockCount;
        Launch1D(Kernel(DataMovementModule, "copy_blocks"), n,
            new KernelArgs().Pointer(At(source, sourceOffset)).Pointer(At(destination, destinationOffset))
                .Int(checked((int)n)).Int(blockLength).Int(sourceStride).Int(destinationStride));
    }

    /// <summary>y (x's axes reordered by g.Axes) = x; the table holds y's dims and, per y axis, the stride of its x axis.</summary>
    public void Permute(in PermuteGeometry g, DeviceBuffer x, DeviceBuffer y)
    {
        var outShape = g.OutputShape;
        int total = outShape.Size, rank = g.Input.Rank;
        Need(x, total, "permute x");
        Need(y, total, "permute y");
        if (total == 0) return;
        Span<int> xStrides = stackalloc int[Shape.MaxRank];
        for (int a = rank - 1, s = 1; a >= 0; a--) { xStrides[a] = s; s *= g.Input[a]; }
        Span<int> table = stackalloc int[2 * TableRank];
        table[..TableRank].Fill(1);
        table[TableRank..].Clear();
        int pad = TableRank - rank;
        for (int i = 0; i < rank; i++)
        {
            table[pad + i] = outShape[i];
            table[TableRank + pad + i] = xStrides[g.Axes[i]];
        }
        var geometry = Table(table);
        try
        {
            Launch1D(Kernel(DataMovementModule, "permute"), total,
                new KernelArgs().Pointer(At(x)).Pointer(At(y)).Int(total).Pointer(At(geometry)));
        }
        finally { Release(geometry); }
    }
}
