namespace Engine.Cuda;

// kernels/pow.ptx: power (UnaryOp.Pow forward and backward; one entry, 1-D, one thread per element).
public sealed partial class CudaBackend
{
    private const string PowModule = "pow";

    /// <summary>y = x^alpha with MathF.Pow's special cases (negative bases with integer exponents, zeros, infinities, NaN).</summary>
    private void PowForward(float alpha, DeviceBuffer x, DeviceBuffer y, int count) =>
        Launch1D(Kernel(PowModule, "power"), count,
            new KernelArgs().Pointer(At(x)).Pointer(0).Pointer(At(y)).Int(count).Float(alpha).Float(1f));

    /// <summary>dX = dY * (alpha * x^(alpha - 1)), UnaryMath.Derivative's expression (alpha - 1 rounded here, as there).</summary>
    private void PowBackward(float alpha, DeviceBuffer x, DeviceBuffer dY, DeviceBuffer dX, int count)
    {
        Need(x, count, "Pow backward x");
        Launch1D(Kernel(PowModule, "power"), count,
            new KernelArgs().Pointer(At(x)).Pointer(At(dY)).Pointer(At(dX)).Int(count).Float(alpha - 1f).Float(alpha));
    }
}
