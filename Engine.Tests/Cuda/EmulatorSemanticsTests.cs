using Engine.Cuda;
using NUnit.Framework;
using static Engine.Tests.Cuda.EmulatorHarness;

namespace Engine.Tests.Cuda;

/// <summary>Instruction semantics of the PTX emulator against what the PTX ISA specifies, computed in C#.</summary>
[TestFixture]
public class EmulatorSemanticsTests
{
    private const string LoadTwoFloats = """
            ld.global.f32 %f1, [%rd2];
            ld.global.f32 %f2, [%rd2+4];
        """;

    private static readonly string[] Comparisons = ["eq", "ne", "lt", "le", "gt", "ge", "equ", "neu", "ltu", "geu", "num", "nan"];

    [TestCase(float.NaN, 1f)]
    [TestCase(1f, float.NaN)]
    [TestCase(float.NaN, float.NaN)]
    [TestCase(1f, 2f)]
    [TestCase(2f, 2f)]
    [TestCase(-0f, 0f)]
    public void SetpIsFalseOnNaNForOrderedComparisonsIncludingNe(float a, float b)
    {
        string body = LoadTwoFloats + string.Concat(Comparisons.Select((c, i) => $"""
                setp.{c}.f32 %p1, %f1, %f2;
                selp.u32 %r2, 1, 0, %p1;
                st.global.u32 [%rd1+{4 * i}], %r2;

            """));
        var result = Run(body, [Bits(a), Bits(b)], Comparisons.Length);
        bool unordered = float.IsNaN(a) || float.IsNaN(b);
        bool[] expected =
        [
            !unordered && a == b, !unordered && a != b, a < b, a <= b, a > b, a >= b,
            unordered || a == b, unordered || a != b, unordered || a < b, unordered || a >= b, !unordered, unordered,
        ];
        for (int i = 0; i < expected.Length; i++)
            Assert.That(result[i], Is.EqualTo(expected[i] ? 1u : 0u), $"setp.{Comparisons[i]}.f32 {a}, {b}");
    }

    [TestCase(float.NaN, 3f)]
    [TestCase(3f, float.NaN)]
    [TestCase(-0f, 0f)]
    [TestCase(1f, -5f)]
    public void MinMaxReturnTheNonNaNOperand(float a, float b)
    {
        string body = LoadTwoFloats + """
                min.f32 %f3, %f1, %f2;
                max.f32 %f4, %f1, %f2;
                st.global.f32 [%rd1], %f3;
                st.global.f32 [%rd1+4], %f4;
            """;
        var result = Run(body, [Bits(a), Bits(b)], 2);
        Assert.That(result[0], Is.EqualTo(Bits(float.MinNumber(a, b))), "min");
        Assert.That(result[1], Is.EqualTo(Bits(float.MaxNumber(a, b))), "max");
        Assert.That(float.IsNaN(Float(result[1])), Is.False);
    }

    [TestCase(1e10f, int.MaxValue)]
    [TestCase(-1e10f, int.MinValue)]
    [TestCase(float.NaN, 0)]
    [TestCase(float.PositiveInfinity, int.MaxValue)]
    [TestCase(-2.7f, -2)]
    [TestCase(2147483520f, 2147483520)]
    public void CvtFloatToIntSaturatesAndMapsNaNToZero(float x, int expected)
    {
        string body = """
                ld.global.f32 %f1, [%rd2];
                cvt.rzi.s32.f32 %r2, %f1;
                st.global.u32 [%rd1], %r2;
                cvt.rzi.u32.f32 %r3, %f1;
                st.global.u32 [%rd1+4], %r3;
            """;
        var result = Run(body, [Bits(x)], 2);
        Assert.That((int)result[0], Is.EqualTo(expected), $"cvt.rzi.s32.f32 {x}");
        uint unsigned = float.IsNaN(x) || x <= 0 ? 0u : x >= 4294967296f ? uint.MaxValue : (uint)MathF.Truncate(x);
        Assert.That(result[1], Is.EqualTo(unsigned), $"cvt.rzi.u32.f32 {x}");
    }

    [TestCase(2.5f, 2, 2, 3, 2)]
    [TestCase(-2.5f, -2, -3, -2, -2)]
    [TestCase(3.5f, 4, 3, 4, 3)]
    public void CvtRoundingModes(float x, int rni, int rmi, int rpi, int rzi)
    {
        string body = """
                ld.global.f32 %f1, [%rd2];
                cvt.rni.s32.f32 %r2, %f1;
                cvt.rmi.s32.f32 %r3, %f1;
                cvt.rpi.s32.f32 %r4, %f1;
                cvt.rzi.s32.f32 %r5, %f1;
                st.global.u32 [%rd1], %r2;
                st.global.u32 [%rd1+4], %r3;
                st.global.u32 [%rd1+8], %r4;
                st.global.u32 [%rd1+12], %r5;
            """;
        var result = Run(body, [Bits(x)], 4);
        Assert.That(result.Select(v => (int)v), Is.EqualTo(new[] { rni, rmi, rpi, rzi }));
    }

    [TestCase(0xF0000001u, 0u)]
    [TestCase(0xF0000001u, 4u)]
    [TestCase(0xF0000001u, 31u)]
    [TestCase(0xF0000001u, 32u)]
    [TestCase(0xF0000001u, 40u)]
    [TestCase(0x70000001u, 100u)]
    public void ShiftCountsClampAtTheRegisterWidth(uint value, uint count)
    {
        string body = """
                ld.global.u32 %r1, [%rd2];
                ld.global.u32 %r2, [%rd2+4];
                shl.b32 %r3, %r1, %r2;
                shr.u32 %r4, %r1, %r2;
                shr.s32 %r5, %r1, %r2;
                st.global.u32 [%rd1], %r3;
                st.global.u32 [%rd1+4], %r4;
                st.global.u32 [%rd1+8], %r5;
            """;
        var result = Run(body, [value, count], 3);
        uint shl = count >= 32 ? 0 : value << (int)count;
        uint shr = count >= 32 ? 0 : value >> (int)count;
        uint sar = (uint)((int)value >> (int)Math.Min(count, 31u));
        Assert.That(result, Is.EqualTo(new[] { shl, shr, sar }), $"shifts of 0x{value:x8} by {count}");
    }

    [Test]
    public void FmaRoundsOnceWhereMulThenAddRoundsTwice()
    {
        float a = 1f + MathF.Pow(2, -12), c = -(1f + MathF.Pow(2, -11));
        string body = """
                ld.global.f32 %f1, [%rd2];
                ld.global.f32 %f2, [%rd2+4];
                fma.rn.f32 %f3, %f1, %f1, %f2;
                mul.rn.f32 %f4, %f1, %f1;
                add.rn.f32 %f4, %f4, %f2;
                st.global.f32 [%rd1], %f3;
                st.global.f32 [%rd1+4], %f4;
            """;
        var result = Run(body, [Bits(a), Bits(c)], 2);
        Assert.That(Float(result[0]), Is.EqualTo(MathF.FusedMultiplyAdd(a, a, c)), "fma");
        Assert.That(Float(result[0]), Is.EqualTo(MathF.Pow(2, -24)), "the exact residual a*a + c");
        Assert.That(Float(result[1]), Is.EqualTo(a * a + c), "mul then add");
        Assert.That(result[0], Is.Not.EqualTo(result[1]));
    }

    [Test]
    public void FtzFlushesSubnormalInputsAndResults()
    {
        float tiny = float.Epsilon * 8;
        string body = """
                ld.global.f32 %f1, [%rd2];
                ld.global.f32 %f2, [%rd2+4];
                add.rn.ftz.f32 %f3, %f1, %f2;
                add.rn.f32 %f4, %f1, %f2;
                mul.rn.ftz.f32 %f5, %f2, 0f3F000000;
                st.global.f32 [%rd1], %f3;
                st.global.f32 [%rd1+4], %f4;
                st.global.f32 [%rd1+8], %f5;
            """;
        var result = Run(body, [Bits(tiny), Bits(0f)], 3);
        Assert.That(Float(result[0]), Is.EqualTo(0f), "ftz input flushed");
        Assert.That(Float(result[1]), Is.EqualTo(tiny), "without ftz the subnormal survives");
        Assert.That(Float(result[2]), Is.EqualTo(0f));
    }

    [Test]
    public void IntegerArithmeticMatchesCSharp()
    {
        uint a = 0x89ABCDEF, b = 0x12345;
        string body = """
                ld.global.u32 %r1, [%rd2];
                ld.global.u32 %r2, [%rd2+4];
                mul.hi.u32 %r3, %r1, %r2;
                mul.lo.u32 %r4, %r1, %r2;
                mul.wide.s32 %rd6, %r1, %r2;
                div.s32 %r5, %r1, %r2;
                rem.s32 %r6, %r1, %r2;
                mad.lo.s32 %r7, %r1, %r2, %r1;
                st.global.u32 [%rd1], %r3;
                st.global.u32 [%rd1+4], %r4;
                st.global.u64 [%rd1+8], %rd6;
                st.global.u32 [%rd1+16], %r5;
                st.global.u32 [%rd1+20], %r6;
                st.global.u32 [%rd1+24], %r7;
            """;
        var r = Run(body, [a, b], 7);
        long wide = (long)(int)a * (int)b;
        Assert.That(r, Is.EqualTo(new[]
        {
            (uint)(((ulong)a * b) >> 32), a * b, (uint)wide, (uint)(wide >> 32),
            (uint)((int)a / (int)b), (uint)((int)a % (int)b), a * b + a,
        }));
    }

    [Test]
    public void Ex2ApproximationStaysWithinTwoUlps()
    {
        var inputs = Enumerable.Range(0, 64).Select(i => Bits(-20f + i * 0.61f)).ToArray();
        string body = """
                ld.global.f32 %f1, [%rd5];
                ex2.approx.ftz.f32 %f2, %f1;
                st.global.f32 [%rd4], %f2;
            """;
        using var driver = new Engine.Cuda.Emulator.EmulatedDriver();
        var result = Run(driver, Kernel(body), inputs, 64, 64, 1);
        bool anyPerturbed = false;
        for (int i = 0; i < 64; i++)
        {
            float exact = float.Exp2(Float(inputs[i]));
            int ulps = Math.Abs(BitConverter.SingleToInt32Bits(Float(result[i])) - BitConverter.SingleToInt32Bits(exact));
            Assert.That(ulps, Is.LessThanOrEqualTo(2), $"ex2.approx({Float(inputs[i])})");
            anyPerturbed |= ulps != 0;
        }
        Assert.That(anyPerturbed, Is.True, "the emulator perturbs approximations within their bound");
    }
}
