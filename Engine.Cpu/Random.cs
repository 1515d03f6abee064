namespace Engine.Cpu;

public sealed partial class CpuBackend
{
    public void RandomUniform(ulong seed, ulong offset, DeviceBuffer y, int count)
    {
        var ya = Array(y);
        ForRange(count, (seed, offset, ya), static (s, start, length) => { var (seed, offset, ya) = s; Philox.Uniform(seed, offset + (ulong)start, ya.AsSpan(start, length)); });
    }
}
