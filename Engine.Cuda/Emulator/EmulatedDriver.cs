namespace Engine.Cuda.Emulator;

/// <summary>
/// The PTX emulator and the emulated cuBLAS behind <see cref="ICudaDriver"/>: no GPU, no native code. Calls are
/// serialized (one lock), as work on one CUDA stream would be.
/// </summary>
public sealed class EmulatedDriver : ICudaDriver
{
    private readonly DeviceMemory _memory = new();
    private readonly PtxEmulator _emulator;
    private readonly object _gate = new();

    public EmulatedDriver() => _emulator = new PtxEmulator(_memory);

    public string Name => "PTX emulator";

    /// <summary>Perturb approximate instructions within their documented error (on by default).</summary>
    public bool PerturbApproximations { get => _emulator.PerturbApproximations; set => _emulator.PerturbApproximations = value; }

    /// <summary>Instructions one launch may execute before it is reported as an endless loop.</summary>
    public long InstructionBudget { get => _emulator.InstructionBudget; set => _emulator.InstructionBudget = value; }

    /// <summary>PTX instructions executed so far (all threads of all launches).</summary>
    public long InstructionsExecuted => _emulator.InstructionsExecuted;

    public long BytesInUse => _memory.BytesInUse;

    /// <summary>Launches and instructions executed per kernel (module:entry), for finding what dominates a run.</summary>
    public IReadOnlyDictionary<string, (int Launches, long Instructions)> Profile => _profile;

    private readonly Dictionary<string, (int Launches, long Instructions)> _profile = [];

    public ulong Allocate(long bytes) => Locked(() => Wrap(() => _memory.Allocate(bytes), "CUDA_ERROR_OUT_OF_MEMORY"));

    public void Free(ulong pointer) => Locked(() => Wrap(() => { _memory.Free(pointer); return 0UL; }, "CUDA_ERROR_INVALID_VALUE"));

    public void CopyToDevice(ReadOnlySpan<byte> source, ulong destination)
    {
        lock (_gate) source.CopyTo(Span(destination, source.Length));
    }

    public void CopyToHost(ulong source, Span<byte> destination)
    {
        lock (_gate) Span(source, destination.Length).CopyTo(destination);
    }

    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes)
    {
        lock (_gate) Span(source, bytes).CopyTo(Span(destination, bytes));
    }

    public void Fill32(ulong destination, uint value, long count)
    {
        lock (_gate) System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(Span(destination, count * 4)).Fill(value);
    }

    public CudaModule LoadModule(string name, string ptx)
    {
        PtxModule module;
        try { module = PtxParser.Parse(name, ptx); }
        catch (PtxException e) { throw new CudaException("CUDA_ERROR_INVALID_PTX", e.Message); }
        return new CudaModule(name, entry => Wrap(() => module[entry], "CUDA_ERROR_NOT_FOUND"));
    }

    public void Launch(CudaFunction function, Dim3 grid, Dim3 block, int dynamicSharedBytes, KernelArgs args)
    {
        var kernel = (PtxKernel)function.Handle;
        var packed = Pack(kernel, args);
        lock (_gate) LaunchLocked(function, kernel, grid, block, dynamicSharedBytes, packed);
    }

    private void LaunchLocked(CudaFunction function, PtxKernel kernel, Dim3 grid, Dim3 block, int dynamicSharedBytes, byte[] packed)
    {
        long before = _emulator.InstructionsExecuted;
        try { _emulator.Launch(kernel, grid, block, dynamicSharedBytes, packed); }
        catch (PtxException e) { throw new CudaException("CUDA_ERROR_LAUNCH_FAILED", e.Message); }
        finally
        {
            var (launches, instructions) = _profile.GetValueOrDefault(function.Name);
            _profile[function.Name] = (launches + 1, instructions + _emulator.InstructionsExecuted - before);
        }
    }

    /// <summary>Packs the arguments at their .param offsets, each checked against its declared size.</summary>
    internal static byte[] Pack(PtxKernel kernel, KernelArgs args)
    {
        var values = args.Values;
        if (values.Count != kernel.Params.Length)
            throw new CudaException("CUDA_ERROR_INVALID_VALUE",
                $"{kernel.Name} takes {kernel.Params.Length} parameters ({string.Join(", ", kernel.Params.Select(p => $".{p.Type} {p.Name}"))}), got {values.Count}");
        var packed = new byte[kernel.ParamBytes];
        for (int i = 0; i < values.Count; i++)
        {
            var p = kernel.Params[i];
            if (values[i].Size != p.Size)
                throw new CudaException("CUDA_ERROR_INVALID_VALUE", $"{kernel.Name} parameter {i} '.{p.Type} {p.Name}' is {p.Size} bytes, got a {values[i].Size}-byte argument");
            if (p.Size == 8) BitConverter.TryWriteBytes(packed.AsSpan(p.Offset, 8), values[i].Bits);
            else BitConverter.TryWriteBytes(packed.AsSpan(p.Offset, 4), (uint)values[i].Bits);
        }
        return packed;
    }

    public void Sgemm(in SgemmArgs args)
    {
        lock (_gate) EmulatedBlas.Sgemm(_memory, args);
    }

    public void Synchronize() { }

    public void Dispose() { }

    private Span<byte> Span(ulong address, long bytes)
    {
        try { return _memory.Span(address, bytes); }
        catch (PtxException e) { throw new CudaException("CUDA_ERROR_INVALID_VALUE", e.Message); }
    }

    private T Locked<T>(Func<T> body)
    {
        lock (_gate) return body();
    }

    private static T Wrap<T>(Func<T> body, string errorName)
    {
        try { return body(); }
        catch (PtxException e) { throw new CudaException(errorName, e.Message); }
    }
}
