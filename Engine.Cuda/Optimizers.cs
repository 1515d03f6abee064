namespace Engine.Cuda;

// kernels/optimizers.ptx: sgd_step, adam_step. Scalars derived from the settings are computed here with the
// same float expressions as the CPU backend, so both backends update parameters to the same bits.
public sealed partial class CudaBackend
{
    private const int SgdHasMomentum = 1, SgdFirstStep = 2, SgdNesterov = 4;

    public void SgdStep(in SgdSettings s, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer? momentum, int count)
    {
        Need(param, count, "sgd param");
        Need(grad, count, "sgd grad");
        if (momentum is not null) Need(momentum, count, "sgd momentum");
        int flags = (momentum is null ? 0 : SgdHasMomentum) | (s.FirstStep ? SgdFirstStep : 0) | (s.Nesterov ? SgdNesterov : 0);
        Launch1D(Kernel("optimizers", "sgd_step"), count, new KernelArgs()
            .Pointer(At(param)).Pointer(At(grad)).Pointer(AtOrNull(momentum)).Int(count)
            .Float(s.LearningRate).Float(s.Momentum).Float(1f - s.Dampening).Float(s.WeightDecay).Int(flags));
    }

    public void AdamStep(in AdamSettings s, DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, int count)
    {
        Need(param, count, "adam param");
        Need(grad, count, "adam grad");
        Need(m, count, "adam m");
        Need(v, count, "adam v");
        float c1 = 1f - MathF.Pow(s.Beta1, s.Step), c2 = 1f - MathF.Pow(s.Beta2, s.Step);
        float stepSize = s.LearningRate / c1, rootC2 = MathF.Sqrt(c2);
        float decay = s.Decoupled ? 1f - s.LearningRate * s.WeightDecay : 1f;
        Launch1D(Kernel("optimizers", "adam_step"), count, new KernelArgs()
            .Pointer(At(param)).Pointer(At(grad)).Pointer(At(m)).Pointer(At(v)).Int(count)
            .Float(s.Beta1).Float(1f - s.Beta1).Float(s.Beta2).Float(1f - s.Beta2)
            .Float(stepSize).Float(rootC2).Float(s.Epsilon).Float(s.WeightDecay).Float(decay).Int(s.Decoupled ? 1 : 0));
    }
}
