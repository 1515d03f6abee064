using System.Reflection;
using System.Runtime.InteropServices;
using Engine.Cuda.Emulator;
using Engine.Cuda.Native;

namespace Engine.Cuda;

/// <summary>
/// The CUDA backend: hand-written PTX kernels (kernels/*.ptx, embedded) and cuBLAS behind an <see cref="ICudaDriver"/>,
/// so the same code runs on a GPU (<see cref="NativeDriver"/>) or on the PTX emulator (<see cref="EmulatedDriver"/>).
/// Device memory comes from a caching allocator (blocks rounded to 256 bytes, kept by size). Every launch is on the
/// default stream, so host copies and kernels are ordered without explicit synchronisation.
/// The primitives live beside their op's stem (Conv2d.cs, Pool2d.cs, ...) as parts of this partial class.
/// </summary>
public sealed partial class CudaBackend : IBackend, IDisposable
{
    /// <summary>Threads per block of the 1-D element kernels.</summary>
    internal const int BlockSize = 256;
    private const long Granule = 256;

    private readonly ICudaDriver _driver;
    private readonly Dictionary<long, Stack<ulong>> _cache = [];
    private readonly Dictionary<string, CudaModule> _modules = [];
    private readonly Dictionary<string, CudaFunction> _functions = [];
    private readonly object _gate = new();

    public CudaBackend(ICudaDriver driver) => _driver = driver;

    /// <summary>"cuda" (the native driver: fails with "no CUDA driver found" without one) or "cuda-emulated".</summary>
    public static CudaBackend Create(string kind) => kind switch
    {
        "cuda" => new CudaBackend(NativeDriver.Create()),
        "cuda-emulated" => new CudaBackend(new EmulatedDriver()),
        _ => throw new ArgumentException($"expected backend 'cuda' or 'cuda-emulated', got '{kind}'"),
    };

    public string Name => $"cuda ({_driver.Name})";
    public ICudaDriver Driver => _driver;

    // ---- memory ----

    public DeviceBuffer Allocate(int length)
    {
        if (length < 0) throw new ArgumentException($"expected a non-negative length, got {length}");
        long capacity = Math.Max(Granule, ((long)length * sizeof(float) + Granule - 1) / Granule * Granule);
        ulong pointer = 0;
        lock (_gate)
        {
            if (_cache.TryGetValue(capacity, out var stack) && stack.Count > 0) pointer = stack.Pop();
        }
        if (pointer == 0) pointer = _driver.Allocate(capacity);
        return new CudaBuffer(this, pointer, length, capacity);
    }

    public void Release(DeviceBuffer buffer)
    {
        var b = Cuda(buffer);
        lock (_gate)
        {
            if (!_cache.TryGetValue(b.Capacity, out var stack)) _cache[b.Capacity] = stack = new Stack<ulong>();
            stack.Push(b.Pointer);
        }
    }

    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination)
    {
        CheckLength(destination, source.Length, "upload");
        _driver.CopyToDevice(MemoryMarshal.AsBytes(source), Cuda(destination).Pointer);
    }

    public void Download(DeviceBuffer source, Span<float> destination)
    {
        CheckLength(source, destination.Length, "download");
        _driver.CopyToHost(Cuda(source).Pointer, MemoryMarshal.AsBytes(destination));
    }

    public void Copy(DeviceBuffer source, int sourceOffset, DeviceBuffer destination, int destinationOffset, int count)
    {
        CheckLength(source, sourceOffset + count, "copy source");
        CheckLength(destination, destinationOffset + count, "copy destination");
        if (count > 0) _driver.CopyDeviceToDevice(At(source, sourceOffset), At(destination, destinationOffset), count * 4L);
    }

    public void Fill(DeviceBuffer destination, float value, int count)
    {
        CheckLength(destination, count, "fill");
        if (count > 0) _driver.Fill32(Cuda(destination).Pointer, BitConverter.SingleToUInt32Bits(value), count);
    }

    // ---- helpers for the launchers ----

    internal static int CeilDiv(long a, int b) => checked((int)((a + b - 1) / b));

    internal CudaBuffer Cuda(DeviceBuffer buffer) =>
        buffer is CudaBuffer b && ReferenceEquals(b.Backend, this)
            ? b
            : throw new ArgumentException($"expected a buffer of backend '{Name}', got one from '{buffer.Backend.Name}'");

    /// <summary>Device address of element <paramref name="offset"/> of a buffer.</summary>
    internal ulong At(DeviceBuffer buffer, long offset = 0) => Cuda(buffer).Pointer + (ulong)(offset * sizeof(float));

    internal ulong AtOrNull(DeviceBuffer? buffer) => buffer is null ? 0 : At(buffer);

    /// <summary>The launchers' size check: a kernel must never run past a buffer (the GPU would not say so).</summary>
    internal static void Need(DeviceBuffer buffer, long count, string what)
    {
        if (count > buffer.Length)
            throw new ArgumentException($"{what}: expected a buffer of at least {count} floats, got {buffer.Length}");
    }

    private static void CheckLength(DeviceBuffer buffer, long needed, string what)
    {
        if (needed > buffer.Length) throw new ArgumentException($"{what}: expected a buffer of at least {needed} floats, got {buffer.Length}");
    }

    /// <summary>An entry of kernels/&lt;module&gt;.ptx, loaded (JIT-compiled) on first use.</summary>
    internal CudaFunction Kernel(string module, string entry)
    {
        string key = module + ":" + entry;
        lock (_gate)
        {
            if (_functions.TryGetValue(key, out var f)) return f;
            if (!_modules.TryGetValue(module, out var m)) _modules[module] = m = _driver.LoadModule(module, KernelSource(module));
            return _functions[key] = m.Function(entry);
        }
    }

    /// <summary>The text of an embedded kernels/*.ptx file.</summary>
    internal static string KernelSource(string module)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(module + ".ptx")
            ?? throw new InvalidOperationException($"kernel file '{module}.ptx' is not embedded in Engine.Cuda");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>One thread per element i &lt; n: block <see cref="BlockSize"/>, grid CeilDiv(n, BlockSize).</summary>
    internal void Launch1D(CudaFunction function, long n, KernelArgs args)
    {
        if (n <= 0) return;
        if (n > int.MaxValue) throw new ArgumentException($"{function}: {n} elements exceed the 1-D launch limit");
        _driver.Launch(function, CeilDiv(n, BlockSize), BlockSize, 0, args);
    }

    /// <summary>Uploads a small int table (kernel geometry) to a scratch buffer the caller releases.</summary>
    internal DeviceBuffer Table(ReadOnlySpan<int> values)
    {
        var buffer = Allocate(values.Length);
        _driver.CopyToDevice(MemoryMarshal.AsBytes(values), Cuda(buffer).Pointer);
        return buffer;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var stack in _cache.Values)
                while (stack.Count > 0) _driver.Free(stack.Pop());
            _cache.Clear();
        }
        _driver.Dispose();
    }
}

/// <summary>Device storage: a pointer into the driver's memory with room for <see cref="Capacity"/> bytes.</summary>
public sealed class CudaBuffer : DeviceBuffer
{
    internal CudaBuffer(CudaBackend backend, ulong pointer, int length, long capacity) : base(backend, length)
    {
        Pointer = pointer;
        Capacity = capacity;
    }

    public ulong Pointer { get; }
    internal long Capacity { get; }
}
