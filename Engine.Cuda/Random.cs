namespace Engine.Cuda;

// kernels/random.ptx: random_uniform.
public sealed partial class CudaBackend
{
    /// <summary>y[i] = Philox uniform number offset + i of the stream keyed by seed (bit-identical to <see cref="Philox"/>).</summary>
    public void RandomUniform(ulong seed, ulong offset, DeviceBuffer y, int count)
    {
        Need(y, count, "random uniform y");
        Launch1D(Kernel("random", "random_uniform"), count,
            new KernelArgs().Long((long)seed).Long((long)offset).Pointer(At(y)).Int(count));
    }
}
