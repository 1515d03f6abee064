namespace Engine.Cuda;

// kernels/pool2d.ptx: max_pool_forward, max_pool_backward, avg_pool_forward, avg_pool_backward.
// Forwards run a thread per output, backwards a thread per input pixel that gathers the outputs whose window
// holds it (no atomics, the CPU's order of accumulation).
public sealed partial class CudaBackend
{
    private const string PoolModule = "pool2d";

    public void MaxPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer y, DeviceBuffer indices)
    {
        CheckPool(g, x, y, "max pool");
        Need(indices, Outputs(g), "max pool indices");
        Launch1D(Kernel(PoolModule, "max_pool_forward"), Outputs(g),
            PoolArgs(g, new KernelArgs().Pointer(At(x)).Pointer(At(y)).Pointer(At(indices))));
    }

    public void MaxPool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer indices, DeviceBuffer dX)
    {
        CheckPool(g, dX, dY, "max pool backward");
        Need(indices, Outputs(g), "max pool backward indices");
        Launch1D(Kernel(PoolModule, "max_pool_backward"), Inputs(g),
            PoolArgs(g, new KernelArgs().Pointer(At(dY)).Pointer(At(indices)).Pointer(At(dX))));
    }

    public void AvgPool2d(in Pool2dGeometry g, DeviceBuffer x, DeviceBuffer y)
    {
        CheckPool(g, x, y, "avg pool");
        Launch1D(Kernel(PoolModule, "avg_pool_forward"), Outputs(g), PoolArgs(g, new KernelArgs().Pointer(At(x)).Pointer(At(y))));
    }

    public void AvgPool2dBackward(in Pool2dGeometry g, DeviceBuffer dY, DeviceBuffer dX)
    {
        CheckPool(g, dX, dY, "avg pool backward");
        Launch1D(Kernel(PoolModule, "avg_pool_backward"), Inputs(g), PoolArgs(g, new KernelArgs().Pointer(At(dY)).Pointer(At(dX))));
    }

    private static long Outputs(in Pool2dGeometry g) => (long)g.Batch * g.Channels * g.OutHeight * g.OutWidth;
    private static long Inputs(in Pool2dGeometry g) => (long)g.Batch * g.Channels * g.InHeight * g.InWidth;

    private static void CheckPool(in Pool2dGeometry g, DeviceBuffer input, DeviceBuffer output, string what)
    {
        Need(input, Inputs(g), $"{what} input {g.InputShape}");
        Need(output, Outputs(g), $"{what} output {g.OutputShape}");
    }

    /// <summary>The 18 geometry words every pool2d entry takes after its tensors (see the file's header).</summary>
    private static KernelArgs PoolArgs(in Pool2dGeometry g, KernelArgs args) => args
        .Int(g.Batch * g.Channels).Int(g.InHeight).Int(g.InWidth).Int(g.OutHeight).Int(g.OutWidth)
        .Int(g.Kernel.Height).Int(g.Kernel.Width).Int(g.Stride.Height).Int(g.Stride.Width)
        .Int(g.Padding.Top).Int(g.Padding.Left).Int(g.Padding.Bottom).Int(g.Padding.Right)
        .Int(g.Dilation.Height).Int(g.Dilation.Width).Int(g.IsAdaptive ? 1 : 0).Int(g.CountIncludePad ? 1 : 0).Int(g.DivisorOverride);
}
