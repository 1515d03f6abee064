namespace Engine.Cuda;

/// <summary>
/// The seam between <see cref="CudaBackend"/> and a device: the native CUDA driver + cuBLAS on a GPU, or the PTX
/// emulator on the CPU. Device pointers are opaque 64-bit addresses; sizes are in bytes unless named otherwise.
/// Every call either succeeds or throws <see cref="CudaException"/> naming the failure.
/// </summary>
public interface ICudaDriver : IDisposable
{
    string Name { get; }
    ulong Allocate(long bytes);
    void Free(ulong pointer);
    void CopyToDevice(ReadOnlySpan<byte> source, ulong destination);
    void CopyToHost(ulong source, Span<byte> destination);
    void CopyDeviceToDevice(ulong source, ulong destination, long bytes);
    /// <summary>Sets <paramref name="count"/> 32-bit words at <paramref name="destination"/> to <paramref name="value"/>.</summary>
    void Fill32(ulong destination, uint value, long count);
    /// <summary>Loads PTX text (JIT-compiled by the driver); errors carry the JIT log.</summary>
    CudaModule LoadModule(string name, string ptx);
    void Launch(CudaFunction function, Dim3 grid, Dim3 block, int dynamicSharedBytes, KernelArgs args);
    /// <summary>cuBLAS SGEMM, column-major, with cuBLAS's argument semantics (see <see cref="SgemmArgs"/>).</summary>
    void Sgemm(in SgemmArgs args);
    void Synchronize();
}

/// <summary>A loaded module; <see cref="Function"/> looks an entry up once (launchers keep the handle).</summary>
public sealed class CudaModule(string name, Func<string, object> lookup)
{
    public string Name { get; } = name;
    public CudaFunction Function(string entry) => new(Name + ":" + entry, lookup(entry));
}

/// <summary>A kernel entry; <see cref="Handle"/> belongs to the driver that made it.</summary>
public sealed class CudaFunction(string name, object handle)
{
    public string Name { get; } = name;
    internal object Handle { get; } = handle;
    public override string ToString() => Name;
}

/// <summary>
/// Column-major C = alpha * op(A) * op(B) + beta * C with op(A) m x k, op(B) k x n, C m x n (cuBLAS semantics:
/// A is lda x (transA ? m : k), lda &gt;= (transA ? k : m), and so on). With <see cref="BatchCount"/> &gt; 1 it is
/// cublasSgemmStridedBatched, batch i at A + i*StrideA elements (likewise B, C). When beta is 0, C is not read.
/// </summary>
public readonly record struct SgemmArgs(
    bool TransA, bool TransB, int M, int N, int K, float Alpha,
    ulong A, int Lda, ulong B, int Ldb, float Beta, ulong C, int Ldc,
    int BatchCount = 1, long StrideA = 0, long StrideB = 0, long StrideC = 0)
{
    /// <summary>cuBLAS's CUBLAS_STATUS_INVALID_VALUE checks, with a message naming the argument.</summary>
    public void Validate()
    {
        string? bad = null;
        if (M < 0 || N < 0 || K < 0) bad = $"negative size m={M}, n={N}, k={K}";
        else if (Lda < Math.Max(1, TransA ? K : M)) bad = $"lda={Lda} < {Math.Max(1, TransA ? K : M)}";
        else if (Ldb < Math.Max(1, TransB ? N : K)) bad = $"ldb={Ldb} < {Math.Max(1, TransB ? N : K)}";
        else if (Ldc < Math.Max(1, M)) bad = $"ldc={Ldc} < {Math.Max(1, M)}";
        else if (BatchCount < 1) bad = $"batchCount={BatchCount}";
        if (bad is not null) throw new CudaException("CUBLAS_STATUS_INVALID_VALUE", $"sgemm: {bad} in {this}");
    }
}

/// <summary>Kernel arguments in parameter order, each with its size (checked against the entry's .param list).</summary>
public sealed class KernelArgs
{
    private readonly List<(ulong Bits, int Size)> _args = [];
    public IReadOnlyList<(ulong Bits, int Size)> Values => _args;

    public KernelArgs Pointer(ulong address) { _args.Add((address, 8)); return this; }
    public KernelArgs Int(int value) { _args.Add(((uint)value, 4)); return this; }
    public KernelArgs Float(float value) { _args.Add((BitConverter.SingleToUInt32Bits(value), 4)); return this; }
    public KernelArgs Long(long value) { _args.Add(((ulong)value, 8)); return this; }
}

/// <summary>A failed CUDA driver, cuBLAS or emulator call; <see cref="ErrorName"/> is the CUDA status name.</summary>
public sealed class CudaException(string errorName, string message) : Exception($"{errorName}: {message}")
{
    public string ErrorName { get; } = errorName;
}
