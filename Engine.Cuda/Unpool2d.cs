namespace Engine.Cuda;

// kernels/unpool2d.ptx: max_unpool_forward, max_unpool_backward; kernels/fractionalpool2d.ptx:
// fractional_max_pool_forward (its backward is max_pool_backward's gather by index).
public sealed partial class CudaBackend
{
    /// <summary>y (g's input planes) = 0 except the pooled x at its index, last write winning (a per-pixel search).</summary>
    public void MaxUnpool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer indices, DeviceBuffer y)
    {
        Need(x, Outputs(g), "max unpool x");
        Need(indices, Outputs(g), "max unpool indices");
        Need(y, Inputs(g), "max unpool y");
        Launch1D(Kernel("unpool2d", "max_unpool_forward"), Inputs(g), UnpoolArgs(g, x, indices, y));
    }

    /// <summary>dX[o] = dY[plane, indices[o]] (a gather per pooled position).</summary>
    public void MaxUnpool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer indices, DeviceBuffer dX)
    {
        Need(dY, Inputs(g), "max unpool backward dY");
        Need(indices, Outputs(g), "max unpool backward indices");
        Need(dX, Outputs(g), "max unpool backward dX");
        Launch1D(Kernel("unpool2d", "max_unpool_backward"), Outputs(g), UnpoolArgs(g, dY, indices, dX));
    }

    public void FractionalMaxPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer rowStarts, DeviceBuffer colStarts, DeviceBuffer y, DeviceBuffer indices)
    {
        int planes = g.Batch * g.Channels;
        CheckPool(g, x, y, "fractional max pool");
        Need(indices, Outputs(g), "fractional max pool indices");
        Need(rowStarts, (long)planes * g.OutHeight, "fractional max pool row starts");
        Need(colStarts, (long)planes * g.OutWidth, "fractional max pool column starts");
        Launch1D(Kernel("fractionalpool2d", "fractional_max_pool_forward"), Outputs(g),
            new KernelArgs().Pointer(At(x)).Pointer(At(rowStarts)).Pointer(At(colStarts)).Pointer(At(y)).Pointer(At(indices))
                .Int(planes).Int(g.InHeight).Int(g.InWidth).Int(g.OutHeight).Int(g.OutWidth).Int(g.Kernel.Height).Int(g.Kernel.Width));
    }

    private KernelArgs UnpoolArgs(in Pool2dGeometry g, DeviceBuffer a, DeviceBuffer indices, DeviceBuffer b) =>
        new KernelArgs().Pointer(At(a)).Pointer(At(indices)).Pointer(At(b))
            .Int(g.Batch * g.Channels).Int(g.InHeight * g.InWidth).Int(g.OutHeight * g.OutWidth);
}
