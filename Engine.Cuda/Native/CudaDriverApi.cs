using System.Runtime.InteropServices;

namespace Engine.Cuda.Native;

/// <summary>The CUDA driver API calls the backend uses (cuda.h); every one returns a CUresult (0 = success).</summary>
internal static unsafe partial class CudaDriverApi
{
    /// <summary>Logical name, resolved by <see cref="NativeLibraries"/> to libcuda.so.1 / nvcuda.dll.</summary>
    internal const string Library = "engine-cuda-driver";

    internal const int CudaErrorNoDevice = 100;
    // CUjit_option values for cuModuleLoadDataEx's logs.
    internal const int JitInfoLogBuffer = 3, JitInfoLogBufferSizeBytes = 4, JitErrorLogBuffer = 5, JitErrorLogBufferSizeBytes = 6;

    [LibraryImport(Library)] internal static partial int cuInit(uint flags);
    [LibraryImport(Library)] internal static partial int cuDriverGetVersion(out int version);
    [LibraryImport(Library)] internal static partial int cuDeviceGetCount(out int count);
    [LibraryImport(Library)] internal static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Library)] internal static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Library, EntryPoint = "cuCtxCreate_v2")] internal static partial int cuCtxCreate(out IntPtr context, uint flags, int device);
    [LibraryImport(Library, EntryPoint = "cuCtxDestroy_v2")] internal static partial int cuCtxDestroy(IntPtr context);
    [LibraryImport(Library)] internal static partial int cuCtxSetCurrent(IntPtr context);
    [LibraryImport(Library)] internal static partial int cuCtxSynchronize();
    [LibraryImport(Library, EntryPoint = "cuMemAlloc_v2")] internal static partial int cuMemAlloc(out ulong pointer, nuint bytes);
    [LibraryImport(Library, EntryPoint = "cuMemFree_v2")] internal static partial int cuMemFree(ulong pointer);
    [LibraryImport(Library, EntryPoint = "cuMemcpyHtoD_v2")] internal static partial int cuMemcpyHtoD(ulong destination, void* source, nuint bytes);
    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoH_v2")] internal static partial int cuMemcpyDtoH(void* destination, ulong source, nuint bytes);
    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoD_v2")] internal static partial int cuMemcpyDtoD(ulong destination, ulong source, nuint bytes);
    [LibraryImport(Library, EntryPoint = "cuMemsetD32_v2")] internal static partial int cuMemsetD32(ulong destination, uint value, nuint count);
    [LibraryImport(Library)] internal static partial int cuModuleLoadDataEx(out IntPtr module, byte* image, uint optionCount, int* options, void** optionValues);
    [LibraryImport(Library)] internal static partial int cuModuleGetFunction(out IntPtr function, IntPtr module, byte* name);
    [LibraryImport(Library)] internal static partial int cuModuleUnload(IntPtr module);
    [LibraryImport(Library)]
    internal static partial int cuLaunchKernel(IntPtr function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, IntPtr stream, void** parameters, void** extra);
    [LibraryImport(Library)] internal static partial int cuGetErrorName(int error, out IntPtr name);

    /// <summary>Throws a <see cref="CudaException"/> carrying the CUDA error name unless <paramref name="status"/> is success.</summary>
    internal static void Check(int status, string call)
    {
        if (status == 0) return;
        string name = cuGetErrorName(status, out IntPtr text) == 0 && text != IntPtr.Zero
            ? Marshal.PtrToStringUTF8(text) ?? $"CUresult {status}"
            : $"CUresult {status}";
        throw new CudaException(name, $"{call} failed");
    }
}
