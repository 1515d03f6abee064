namespace Engine.Cpu;

/// <summary>CPU storage: a managed float array from the backend's pool (possibly longer than <see cref="DeviceBuffer.Length"/>).</summary>
public sealed class CpuBuffer : DeviceBuffer
{
    internal CpuBuffer(CpuBackend backend, float[] array, int length) : base(backend, length) => Array = array;

    internal float[] Array { get; }

    /// <summary>Hands this released buffer out again, with one reference (the backend's pool reuses buffer objects).</summary>
    internal CpuBuffer Reuse()
    {
        Revive();
        return this;
    }

    public Span<float> Span => Array.AsSpan(0, Length);
}
