namespace Engine.Cpu;

/// <summary>
/// CPU storage: a managed float array from the backend's pool (possibly longer than <see cref="DeviceBuffer.Length"/>).
/// Every accessor that can write (<see cref="Array"/>, <see cref="Span"/>) bumps <see cref="Version"/>, so a copy
/// derived from the contents (the packed convolution weights, <see cref="Packed"/> and <see cref="Flipped"/>, and the
/// gathered live taps, <see cref="Live"/>) is valid only while the version
/// it was made at is still current. Readers that never write use <see cref="ReadArray"/>, which leaves it alone.
/// </summary>
public sealed class CpuBuffer : DeviceBuffer
{
    private readonly float[] _array;
    private long _version;

    internal CpuBuffer(CpuBackend backend, float[] array, int length) : base(backend, length) => _array = array;

    /// <summary>Hands this released buffer out again, with one reference (the backend's pool reuses buffer objects).</summary>
    internal CpuBuffer Reuse()
    {
        Revive();
        return this;
    }

    /// <summary>The storage, for reading or writing: counts as a write (bumps <see cref="Version"/>).</summary>
    internal float[] Array
    {
        get
        {
            Interlocked.Increment(ref _version);
            return _array;
        }
    }

    /// <summary>The storage for a reader that never writes through it (does not bump <see cref="Version"/>).</summary>
    internal float[] ReadArray => _array;

    /// <summary>Changes whenever the contents may have changed (any writable access).</summary>
    internal long Version => Interlocked.Read(ref _version);

    /// <summary>Weights packed for the GEMM at some <see cref="Version"/> (see <see cref="PackedWeights"/>), or null.</summary>
    internal PackedWeights? Packed { get; set; }

    /// <summary>The data gradient's flipped weights packed at some <see cref="Version"/> (see <see cref="PackedWeights"/>), or null.</summary>
    internal PackedWeights? Flipped { get; set; }

    /// <summary>The F(2x2, 3x3) transformed weights made at some <see cref="Version"/> (see <see cref="WinogradTileWeights"/>), or null.</summary>
    internal WinogradTileWeights? WinogradTiles { get; set; }

    /// <summary>F(2, 5)'s transformed weights made at some <see cref="Version"/> (see CpuBackend.WinogradRowWeights), or null.</summary>
    internal CpuBackend.WinogradRowWeights? WinogradRows { get; set; }

    /// <summary>F(4, 5)'s transformed weights made at some <see cref="Version"/> (see CpuBackend.WinogradRowWeights), or null.</summary>
    internal CpuBackend.WinogradRowWeights? WinogradRows4 { get; set; }

    /// <summary>The data gradient's F(2x2, 3x3) transformed weights (flipped, transposed) made at some <see cref="Version"/>, or null.</summary>
    internal WinogradTileWeights? WinogradTilesFlipped { get; set; }

    /// <summary>The live taps of these weights gathered at some <see cref="Version"/> (see <see cref="LiveWeights"/>), or null.</summary>
    internal LiveWeights? Live { get; set; }

    /// <summary>The contents, writable: counts as a write (bumps <see cref="Version"/>).</summary>
    public Span<float> Span => Array.AsSpan(0, Length);
}
