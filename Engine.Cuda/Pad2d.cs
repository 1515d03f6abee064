namespace Engine.Cuda;

// kernels/pad2d.ptx: pad2d_forward, pad2d_backward.
public sealed partial class CudaBackend
{
    /// <summary>y (N x C x OH x OW) = x at src(oh), src(ow), or the constant; one thread per output element.</summary>
    public void Pad2d(in Pad2dGeometry g, DeviceBuffer x, DeviceBuffer y)
    {
        long n = (long)g.Batch * g.Channels * g.OutHeight * g.OutWidth;
        Need(x, g.InputShape.Size, "pad2d x");
        Need(y, n, "pad2d y");
        Launch1D(Kernel("pad2d", "pad2d_forward"), n, PadArgs(g, x, y).Float(g.Value));
    }

    /// <summary>dX (N x C x H x W) = sum of dY over the outputs read from each pixel; one thread per input pixel (gather).</summary>
    public void Pad2dBackward(in Pad2dGeometry g, DeviceBuffer dY, DeviceBuffer dX)
    {
        long n = (long)g.Batch * g.Channels * g.InHeight * g.InWidth;
        Need(dY, g.OutputShape.Size, "pad2d backward dY");
        Need(dX, n, "pad2d backward dX");
        Launch1D(Kernel("pad2d", "pad2d_backward"), n, PadArgs(g, dY, dX));
    }

    private KernelArgs PadArgs(in Pad2dGeometry g, DeviceBuffer from, DeviceBuffer to) =>
        new KernelArgs().Pointer(At(from)).Pointer(At(to)).Int(g.Batch * g.Channels).Int(g.InHeight).Int(g.InWidth)
            .Int(g.OutHeight).Int(g.OutWidth).Int(g.Padding.Top).Int(g.Padding.Left).Int((int)g.Mode);
}
