using System.Reflection;
using System.Runtime.InteropServices;

namespace Engine.Cuda.Native;

/// <summary>
/// Resolves the logical library names of <see cref="CudaDriverApi"/> and <see cref="CublasApi"/> to the installed
/// CUDA driver and cuBLAS (CUDA 11, 12, 13; Linux and Windows) with <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>.
/// Nothing is loaded until the native driver is created, so the CPU-only path never touches a native library.
/// </summary>
internal static class NativeLibraries
{
    internal static readonly string[] DriverNames = ["libcuda.so.1", "libcuda.so", "nvcuda.dll"];
    internal static readonly string[] CublasNames =
    [
        "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so",
        "cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll",
    ];

    private static readonly object Gate = new();
    private static bool _resolverSet;
    private static IntPtr _driver, _cublas;

    /// <summary>Loads the driver library, or throws "no CUDA driver found" naming every name tried.</summary>
    public static void LoadDriver()
    {
        lock (Gate)
        {
            InstallResolver();
            if (_driver == IntPtr.Zero && !TryLoadAny(DriverNames, out _driver))
                throw new CudaException("CUDA_ERROR_NO_DRIVER", $"no CUDA driver found (tried {string.Join(", ", DriverNames)})");
        }
    }

    /// <summary>Loads cuBLAS, or throws naming every name tried.</summary>
    public static void LoadCublas()
    {
        lock (Gate)
        {
            InstallResolver();
            if (_cublas == IntPtr.Zero && !TryLoadAny(CublasNames, out _cublas))
                throw new CudaException("CUBLAS_NOT_FOUND", $"a CUDA driver is present but no cuBLAS library was found (tried {string.Join(", ", CublasNames)})");
        }
    }

    private static bool TryLoadAny(string[] names, out IntPtr handle)
    {
        foreach (string name in names)
            if (NativeLibrary.TryLoad(name, out handle)) return true;
        handle = IntPtr.Zero;
        return false;
    }

    private static void InstallResolver()
    {
        if (_resolverSet) return;
        NativeLibrary.SetDllImportResolver(Assembly.GetExecutingAssembly(), Resolve);
        _resolverSet = true;
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name switch
    {
        CudaDriverApi.Library => _driver,
        CublasApi.Library => _cublas,
        _ => IntPtr.Zero,
    };
}
