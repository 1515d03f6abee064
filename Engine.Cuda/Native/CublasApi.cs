namespace Engine.Cuda.Native;

/// <summary>The cuBLAS calls the backend uses (cublas_v2.h); every one returns a cublasStatus_t (0 = success).</summary>
internal static unsafe partial class CublasApi
{
    /// <summary>Logical name, resolved by <see cref="NativeLibraries"/> to libcublas.so.12 / cublas64_12.dll etc.</summary>
    internal const string Library = "engine-cublas";
    internal const int OpN = 0, OpT = 1;

    [System.Runtime.InteropServices.LibraryImport(Library, EntryPoint = "cublasCreate_v2")] internal static partial int cublasCreate(out IntPtr handle);
    [System.Runtime.InteropServices.LibraryImport(Library, EntryPoint = "cublasDestroy_v2")] internal static partial int cublasDestroy(IntPtr handle);
    [System.Runtime.InteropServices.LibraryImport(Library, EntryPoint = "cublasSetStream_v2")] internal static partial int cublasSetStream(IntPtr handle, IntPtr stream);
    [System.Runtime.InteropServices.LibraryImport(Library, EntryPoint = "cublasSgemm_v2")]
    internal static partial int cublasSgemm(IntPtr handle, int transA, int transB, int m, int n, int k,
        float* alpha, ulong a, int lda, ulong b, int ldb, float* beta, ulong c, int ldc);
    [System.Runtime.InteropServices.LibraryImport(Library)]
    internal static partial int cublasSgemmStridedBatched(IntPtr handle, int transA, int transB, int m, int n, int k,
        float* alpha, ulong a, int lda, long strideA, ulong b, int ldb, long strideB, float* beta, ulong c, int ldc, long strideC, int batchCount);

    internal static void Check(int status, string call)
    {
        if (status == 0) return;
        string name = status switch
        {
            1 => "CUBLAS_STATUS_NOT_INITIALIZED",
            3 => "CUBLAS_STATUS_ALLOC_FAILED",
            7 => "CUBLAS_STATUS_INVALID_VALUE",
            8 => "CUBLAS_STATUS_ARCH_MISMATCH",
            11 => "CUBLAS_STATUS_MAPPING_ERROR",
            13 => "CUBLAS_STATUS_EXECUTION_FAILED",
            14 => "CUBLAS_STATUS_INTERNAL_ERROR",
            15 => "CUBLAS_STATUS_NOT_SUPPORTED",
            16 => "CUBLAS_STATUS_LICENSE_ERROR",
            _ => $"cublasStatus {status}",
        };
        throw new CudaException(name, $"{call} failed");
    }
}
