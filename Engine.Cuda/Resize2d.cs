namespace Engine.Cuda;

// kernels/resize2d.ptx: resize_forward (thread per output), resize_backward (thread per input pixel, a gather in
// the CPU's order of accumulation, so both agree bit for bit).
public sealed partial class CudaBackend
{
    private const string ResizeModule = "resize2d";

    public void Resize2d(in Resize2dGeometry g, DeviceBuffer x, DeviceBuffer y)
    {
        CheckResize(g);
        Need(x, g.InputShape.Size, "resize x");
        Need(y, g.OutputShape.Size, "resize y");
        Launch1D(Kernel(ResizeModule, "resize_forward"), g.OutputShape.Size, ResizeArgs(g, x, y));
    }

    public void Resize2dBackward(in Resize2dGeometry g, DeviceBuffer dY, DeviceBuffer dX)
    {
        CheckResize(g);
        Need(dY, g.OutputShape.Size, "resize backward dY");
        Need(dX, g.InputShape.Size, "resize backward dX");
        Launch1D(Kernel(ResizeModule, "resize_backward"), g.InputShape.Size, ResizeArgs(g, dY, dX));
    }

    /// <summary>The nearest source o*in/out is computed in 32 bits on the device: the products must fit.</summary>
    private static void CheckResize(in Resize2dGeometry g)
    {
        if ((long)g.OutHeight * g.InHeight > uint.MaxValue || (long)g.OutWidth * g.InWidth > uint.MaxValue)
            throw new ArgumentException($"resize: expected out*in below 2^32 per axis, got {g.InHeight}x{g.InWidth} -> {g.OutHeight}x{g.OutWidth}");
    }

    private KernelArgs ResizeArgs(in Resize2dGeometry g, DeviceBuffer from, DeviceBuffer to) =>
        new KernelArgs().Pointer(At(from)).Pointer(At(to)).Int(g.Batch * g.Channels).Int(g.InHeight).Int(g.InWidth)
            .Int(g.OutHeight).Int(g.OutWidth).Int(g.Mode == ResizeMode.Bilinear ? 1 : 0).Int(g.AlignCorners ? 1 : 0);
}
