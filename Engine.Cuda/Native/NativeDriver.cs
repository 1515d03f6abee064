using System.Text;
using static Engine.Cuda.Native.CudaDriverApi;

namespace Engine.Cuda.Native;

/// <summary>
/// <see cref="ICudaDriver"/> on a real GPU: one context on device 0, the default stream, cuBLAS for SGEMM.
/// <see cref="Create"/> fails with "no CUDA driver found" or "no CUDA device" (never a crash) where there is none.
/// </summary>
public sealed unsafe class NativeDriver : ICudaDriver
{
    private const int LogBytes = 16 * 1024;
    private readonly IntPtr _context, _cublas;
    private readonly List<IntPtr> _modules = [];
    private bool _disposed;

    private NativeDriver(IntPtr context, IntPtr cublas, string device)
    {
        _context = context;
        _cublas = cublas;
        Name = device;
    }

    public string Name { get; }

    public static NativeDriver Create()
    {
        NativeLibraries.LoadDriver();
        int status = cuInit(0);
        if (status == CudaErrorNoDevice) throw new CudaException("CUDA_ERROR_NO_DEVICE", "no CUDA device (the driver is installed but found no GPU)");
        Check(status, "cuInit");
        Check(cuDeviceGetCount(out int count), "cuDeviceGetCount");
        if (count == 0) throw new CudaException("CUDA_ERROR_NO_DEVICE", "no CUDA device");
        Check(cuDeviceGet(out int device, 0), "cuDeviceGet");
        byte* name = stackalloc byte[256];
        Check(cuDeviceGetName(name, 256, device), "cuDeviceGetName");
        Check(cuCtxCreate(out IntPtr context, 0, device), "cuCtxCreate");
        try
        {
            NativeLibraries.LoadCublas();
            CublasApi.Check(CublasApi.cublasCreate(out IntPtr cublas), "cublasCreate");
            CublasApi.Check(CublasApi.cublasSetStream(cublas, IntPtr.Zero), "cublasSetStream");
            return new NativeDriver(context, cublas, new string((sbyte*)name));
        }
        catch
        {
            cuCtxDestroy(context);
            throw;
        }
    }

    /// <summary>Makes the context current on the calling thread (tests and the trainer may call from any thread).</summary>
    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Check(cuCtxSetCurrent(_context), "cuCtxSetCurrent");
    }

    public ulong Allocate(long bytes)
    {
        Enter();
        Check(cuMemAlloc(out ulong pointer, (nuint)bytes), $"cuMemAlloc({bytes} bytes)");
        return pointer;
    }

    public void Free(ulong pointer)
    {
        Enter();
        Check(cuMemFree(pointer), "cuMemFree");
    }

    public void CopyToDevice(ReadOnlySpan<byte> source, ulong destination)
    {
        Enter();
        fixed (byte* s = source) Check(cuMemcpyHtoD(destination, s, (nuint)source.Length), "cuMemcpyHtoD");
    }

    public void CopyToHost(ulong source, Span<byte> destination)
    {
        Enter();
        fixed (byte* d = destination) Check(cuMemcpyDtoH(d, source, (nuint)destination.Length), "cuMemcpyDtoH");
    }

    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes)
    {
        Enter();
        Check(cuMemcpyDtoD(destination, source, (nuint)bytes), "cuMemcpyDtoD");
    }

    public void Fill32(ulong destination, uint value, long count)
    {
        Enter();
        Check(cuMemsetD32(destination, value, (nuint)count), "cuMemsetD32");
    }

    /// <summary>JIT-compiles PTX; a failure carries the JIT's error log.</summary>
    public CudaModule LoadModule(string name, string ptx)
    {
        Enter();
        byte[] image = Encoding.UTF8.GetBytes(ptx + "\0");
        byte[] errorLog = new byte[LogBytes], infoLog = new byte[LogBytes];
        int* options = stackalloc int[4] { JitErrorLogBuffer, JitErrorLogBufferSizeBytes, JitInfoLogBuffer, JitInfoLogBufferSizeBytes };
        void** values = stackalloc void*[4];
        IntPtr module;
        int status;
        fixed (byte* img = image, err = errorLog, info = infoLog)
        {
            values[0] = err;
            values[1] = (void*)LogBytes;
            values[2] = info;
            values[3] = (void*)LogBytes;
            status = cuModuleLoadDataEx(out module, img, 4, options, values);
        }
        if (status != 0)
        {
            string log = Encoding.UTF8.GetString(errorLog).TrimEnd('\0');
            try { Check(status, $"cuModuleLoadDataEx({name})"); }
            catch (CudaException e) { throw new CudaException(e.ErrorName, $"loading kernels/{name}.ptx failed; JIT log:\n{log}"); }
        }
        lock (_modules) _modules.Add(module);
        return new CudaModule(name, entry =>
        {
            Enter();
            byte[] entryName = Encoding.UTF8.GetBytes(entry + "\0");
            IntPtr function;
            fixed (byte* n = entryName) Check(cuModuleGetFunction(out function, module, n), $"cuModuleGetFunction({name}:{entry})");
            return function;
        });
    }

    public void Launch(CudaFunction function, Dim3 grid, Dim3 block, int dynamicSharedBytes, KernelArgs args)
    {
        Enter();
        var list = args.Values;
        ulong* values = stackalloc ulong[Math.Max(list.Count, 1)];
        void** pointers = stackalloc void*[Math.Max(list.Count, 1)];
        for (int i = 0; i < list.Count; i++)
        {
            values[i] = list[i].Bits;
            pointers[i] = &values[i];
        }
        Check(cuLaunchKernel((IntPtr)function.Handle, (uint)grid.X, (uint)grid.Y, (uint)grid.Z, (uint)block.X, (uint)block.Y, (uint)block.Z,
            (uint)dynamicSharedBytes, IntPtr.Zero, pointers, null), $"cuLaunchKernel({function})");
    }

    public void Sgemm(in SgemmArgs g)
    {
        g.Validate();
        Enter();
        float alpha = g.Alpha, beta = g.Beta;
        int ta = g.TransA ? CublasApi.OpT : CublasApi.OpN, tb = g.TransB ? CublasApi.OpT : CublasApi.OpN;
        if (g.BatchCount == 1)
            CublasApi.Check(CublasApi.cublasSgemm(_cublas, ta, tb, g.M, g.N, g.K, &alpha, g.A, g.Lda, g.B, g.Ldb, &beta, g.C, g.Ldc), "cublasSgemm");
        else
            CublasApi.Check(CublasApi.cublasSgemmStridedBatched(_cublas, ta, tb, g.M, g.N, g.K, &alpha, g.A, g.Lda, g.StrideA,
                g.B, g.Ldb, g.StrideB, &beta, g.C, g.Ldc, g.StrideC, g.BatchCount), "cublasSgemmStridedBatched");
    }

    public void Synchronize()
    {
        Enter();
        Check(cuCtxSynchronize(), "cuCtxSynchronize");
    }

    public void Dispose()
    {
        if (_disposed) return;
        cuCtxSetCurrent(_context);
        lock (_modules) foreach (var module in _modules) cuModuleUnload(module);
        CublasApi.cublasDestroy(_cublas);
        cuCtxDestroy(_context);
        _disposed = true;
    }
}
