using System.Runtime.InteropServices;
using Engine.Cuda;
using Engine.Cuda.Emulator;

namespace Engine.Tests.Cuda;

/// <summary>
/// Runs a snippet of PTX as the body of a one-CTA kernel k(out, in): before the body, %r0 = tid.x,
/// %rd4 = &amp;out[tid], %rd5 = &amp;in[tid] (4-byte words), registers %p&lt;8&gt; %r&lt;32&gt; %f&lt;32&gt; %rd&lt;16&gt; declared.
/// </summary>
internal static class EmulatorHarness
{
    public const string Header = ".version 7.0\n.target sm_60\n.address_size 64\n";

    public static string Kernel(string body, string extraDeclarations = "") => Header + $$"""
        .visible .entry k(.param .u64 out, .param .u64 in)
        {
            .reg .pred %p<8>;
            .reg .b32 %r<32>;
            .reg .f32 %f<32>;
            .reg .b64 %rd<16>;
            {{extraDeclarations}}
            ld.param.u64 %rd1, [out];
            ld.param.u64 %rd2, [in];
            cvta.to.global.u64 %rd1, %rd1;
            mov.u32 %r0, %tid.x;
            mul.wide.u32 %rd3, %r0, 4;
            add.s64 %rd4, %rd1, %rd3;
            add.s64 %rd5, %rd2, %rd3;
        {{body}}
            ret;
        }
        """;

    /// <summary>Runs the snippet with <paramref name="threads"/> threads; returns the out words.</summary>
    public static uint[] Run(string body, uint[] input, int outWords, int threads = 1, string extraDeclarations = "", Dim3? grid = null)
    {
        using var driver = new EmulatedDriver { PerturbApproximations = false };
        return Run(driver, Kernel(body, extraDeclarations), input, outWords, threads, grid ?? 1);
    }

    public static uint[] Run(EmulatedDriver driver, string ptx, uint[] input, int outWords, Dim3 block, Dim3 grid)
    {
        ulong output = driver.Allocate(outWords * 4L), inputs = driver.Allocate(Math.Max(input.Length, 1) * 4L);
        driver.CopyToDevice(MemoryMarshal.AsBytes(input.AsSpan()), inputs);
        driver.Fill32(output, 0xDEADBEEF, outWords);
        var kernel = driver.LoadModule("test", ptx).Function("k");
        driver.Launch(kernel, grid, block, 0, new KernelArgs().Pointer(output).Pointer(inputs));
        var result = new uint[outWords];
        driver.CopyToHost(output, MemoryMarshal.AsBytes(result.AsSpan()));
        return result;
    }

    public static uint Bits(float f) => BitConverter.SingleToUInt32Bits(f);
    public static float Float(uint bits) => BitConverter.UInt32BitsToSingle(bits);
}
