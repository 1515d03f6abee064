namespace Engine.Cpu;

/// <summary>CPU storage: a managed float array from the backend's pool (possibly longer than <see cref="DeviceBuffer.Length"/>).</summary>
public sealed class CpuBuffer : DeviceBuffer
{
    internal CpuBuffer(CpuBackend backend, float[] array, int length) : base(backend, length) => Array = array;

    internal float[] Array { get; }

    public Span<float> Span => Array.AsSpan(0, Length);
}
