using System.Numerics;
using System.Runtime.CompilerServices;

namespace Engine.Cuda.Emulator;

/// <summary>
/// PTX floating-point semantics that differ from C#'s: setp is false on NaN (ne included), min/max return the
/// non-NaN operand, float-to-int conversions saturate with NaN -> 0, .ftz flushes subnormal inputs and results
/// to sign-preserving zero. The approximate instructions may be perturbed, deterministically, by up to their
/// documented error (ex2 2 ulp, lg2 2^-22 absolute, rcp 1 ulp, rsqrt 1 ulp &lt;= 2^-22.9 relative), so
/// tolerances derived from those bounds are exercised rather than assumed.
/// </summary>
internal static class FloatSemantics
{
    /// <summary>Absolute error bound of lg2.approx.f32 (PTX ISA).</summary>
    internal const float Lg2AbsoluteError = 1f / (1 << 22);
    /// <summary>ulp bounds of ex2.approx.f32 and rcp.approx.f32 / rsqrt.approx.f32.</summary>
    internal const int Ex2Ulps = 2, RcpUlps = 1, RsqrtUlps = 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float In(ulong slot, bool ftz)
    {
        float f = BitConverter.UInt32BitsToSingle((uint)slot);
        return ftz ? Flush(f) : f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Out(float f, bool ftz) => BitConverter.SingleToUInt32Bits(ftz ? Flush(f) : f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Flush(float f) => float.IsSubnormal(f) ? (float.IsNegative(f) ? -0f : 0f) : f;

    internal static bool Compare(Cmp cmp, float a, float b)
    {
        bool unordered = float.IsNaN(a) || float.IsNaN(b);
        return cmp switch
        {
            Cmp.Eq => !unordered && a == b,
            Cmp.Ne => !unordered && a != b,
            Cmp.Lt => !unordered && a < b,
            Cmp.Le => !unordered && a <= b,
            Cmp.Gt => !unordered && a > b,
            Cmp.Ge => !unordered && a >= b,
            Cmp.Equ => unordered || a == b,
            Cmp.Neu => unordered || a != b,
            Cmp.Ltu => unordered || a < b,
            Cmp.Leu => unordered || a <= b,
            Cmp.Gtu => unordered || a > b,
            Cmp.Geu => unordered || a >= b,
            Cmp.Num => !unordered,
            _ => unordered,
        };
    }

    internal static bool Compare<T>(Cmp cmp, T a, T b) where T : IComparisonOperators<T, T, bool> => cmp switch
    {
        Cmp.Eq => a == b,
        Cmp.Ne => a != b,
        Cmp.Lt => a < b,
        Cmp.Le => a <= b,
        Cmp.Gt => a > b,
        _ => a >= b,
    };

    internal static float RoundIntegral(float f, Rounding mode) => mode switch
    {
        Rounding.Rn => MathF.Round(f, MidpointRounding.ToEven),
        Rounding.Rz => MathF.Truncate(f),
        Rounding.Rm => MathF.Floor(f),
        _ => MathF.Ceiling(f),
    };

    /// <summary>Saturating conversion of an integral float: NaN -> 0, out of range -> the nearest bound.</summary>
    internal static int ToInt32(float integral)
    {
        if (float.IsNaN(integral)) return 0;
        if (integral >= 2147483648f) return int.MaxValue;
        if (integral < -2147483648f) return int.MinValue;
        return (int)integral;
    }

    internal static uint ToUInt32(float integral)
    {
        if (float.IsNaN(integral) || integral <= 0f) return 0;
        if (integral >= 4294967296f) return uint.MaxValue;
        return (uint)integral;
    }

    internal static float Ex2Approx(float x, bool perturb) => Nudge(float.Exp2(x), x, perturb ? Ex2Ulps : 0);

    internal static float Lg2Approx(float x, bool perturb)
    {
        float y = float.Log2(x);
        if (!perturb || !float.IsFinite(y)) return y;
        // An offset in {-1, -1/2, 0, 1/2, 1} x 2^-22, chosen by the input's bits.
        int k = (int)(Hash(x) % 5) - 2;
        return y + k * (Lg2AbsoluteError / 2);
    }

    internal static float RcpApprox(float x, bool perturb) => Nudge(1f / x, x, perturb ? RcpUlps : 0);

    internal static float RsqrtApprox(float x, bool perturb) => Nudge(1f / MathF.Sqrt(x), x, perturb ? RsqrtUlps : 0);

    /// <summary>Moves a finite non-zero result by up to <paramref name="ulps"/> ulps, picked by the input's bits.</summary>
    private static float Nudge(float y, float x, int ulps)
    {
        if (ulps == 0 || !float.IsFinite(y) || y == 0f) return y;
        int k = (int)(Hash(x) % (uint)(2 * ulps + 1)) - ulps;
        for (; k > 0; k--) y = MathF.BitIncrement(y);
        for (; k < 0; k++) y = MathF.BitDecrement(y);
        return y;
    }

    private static uint Hash(float x) => (BitConverter.SingleToUInt32Bits(x) * 2654435761u) >> 7;
}
