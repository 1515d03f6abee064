namespace Engine.Cuda;

// kernels/softmax.ptx: softmax_forward, softmax_backward, nll_forward, nll_backward.
public sealed partial class CudaBackend
{
    private const string SoftmaxModule = "softmax";

    /// <summary>One thread per (outer, inner) line along the axis: y = softmax(x) or log-softmax(x).</summary>
    public void Softmax(in SoftmaxGeometry g, bool log, DeviceBuffer x, DeviceBuffer y)
    {
        if (g.Size == 0) return;
        Need(x, g.Size, "softmax x");
        Need(y, g.Size, "softmax y");
        Launch1D(Kernel(SoftmaxModule, "softmax_forward"), (long)g.Outer * g.Inner,
            new KernelArgs().Pointer(At(x)).Pointer(At(y)).Int(g.Outer).Int(g.Axis).Int(g.Inner).Int(log ? 1 : 0));
    }

    public void SoftmaxBackward(in SoftmaxGeometry g, bool log, DeviceBuffer y, DeviceBuffer dY, DeviceBuffer dX)
    {
        if (g.Size == 0) return;
        Need(dX, g.Size, "softmax backward dX");
        Launch1D(Kernel(SoftmaxModule, "softmax_backward"), (long)g.Outer * g.Inner,
            new KernelArgs().Pointer(At(y)).Pointer(At(dY)).Pointer(At(dX)).Int(g.Outer).Int(g.Axis).Int(g.Inner).Int(log ? 1 : 0));
    }

    /// <summary>loss[n] = -logProb[n, target[n]], one thread per sample.</summary>
    public void NllLoss(int batch, int classes, DeviceBuffer logProb, DeviceBuffer targets, DeviceBuffer loss)
    {
        Need(logProb, (long)batch * classes, "nll logProb");
        Need(targets, batch, "nll targets");
        Need(loss, batch, "nll loss");
        Launch1D(Kernel(SoftmaxModule, "nll_forward"), batch,
            new KernelArgs().Pointer(At(logProb)).Pointer(At(targets)).Pointer(At(loss)).Int(batch).Int(classes));
    }

    /// <summary>dLogProb (N x classes) = -dLoss[n] at the target, 0 elsewhere, one thread per element.</summary>
    public void NllLossBackward(int batch, int classes, DeviceBuffer targets, DeviceBuffer dLoss, DeviceBuffer dLogProb)
    {
        Need(dLogProb, (long)batch * classes, "nll backward dLogProb");
        Launch1D(Kernel(SoftmaxModule, "nll_backward"), (long)batch * classes,
            new KernelArgs().Pointer(At(targets)).Pointer(At(dLoss)).Pointer(At(dLogProb)).Int(batch).Int(classes));
    }
}
