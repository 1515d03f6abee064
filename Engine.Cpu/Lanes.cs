using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

/// <summary>
/// A vector of floats of one width, so a loop is written once for both widths: generic over
/// <c>TLanes : struct, ILanes&lt;TLanes&gt;</c>, it is compiled per width (a value-type argument gets its own code) with
/// these members inlined, so each instantiation is the loop written with <see cref="Vector512"/> or
/// <see cref="Vector256"/> directly. Every member is the operation of that class of the same name, so each lane rounds
/// alike at both widths; only <see cref="Sum"/> (the fold of the lanes) depends on the width.
/// </summary>
internal interface ILanes<TSelf> where TSelf : struct, ILanes<TSelf>
{
    /// <summary>Floats per vector: 16 or 8.</summary>
    static abstract int Count { get; }

    /// <summary>Whether this is the 512-bit width, whose entry points report to <see cref="Wide512Meter"/>.</summary>
    static abstract bool Is512 { get; }

    static abstract TSelf Create(float value);

    static abstract unsafe TSelf Load(float* source);

    unsafe void Store(float* destination);

    /// <summary>a * b + addend, rounded once per lane.</summary>
    static abstract TSelf FusedMultiplyAdd(TSelf a, TSelf b, TSelf addend);

    /// <summary>The sum of the lanes, in the order of <c>Vector512.Sum</c> or <c>Vector256.Sum</c>.</summary>
    float Sum();

    static abstract TSelf operator +(TSelf left, TSelf right);

    static abstract TSelf operator -(TSelf left, TSelf right);

    static abstract TSelf operator *(TSelf left, TSelf right);
}

/// <summary>16 floats (AVX-512): <see cref="Vector512{T}"/>.</summary>
internal readonly struct Lanes512 : ILanes<Lanes512>
{
    private readonly Vector512<float> _value;

    private Lanes512(Vector512<float> value) => _value = value;

    public static int Count => Vector512<float>.Count;

    public static bool Is512 => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 Create(float value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Lanes512 Load(float* source) => new(Vector512.Load(source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Store(float* destination) => _value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 FusedMultiplyAdd(Lanes512 a, Lanes512 b, Lanes512 addend) => new(Vector512.FusedMultiplyAdd(a._value, b._value, addend._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Sum() => Vector512.Sum(_value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 operator +(Lanes512 left, Lanes512 right) => new(left._value + right._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 operator -(Lanes512 left, Lanes512 right) => new(left._value - right._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 operator *(Lanes512 left, Lanes512 right) => new(left._value * right._value);
}

/// <summary>8 floats (AVX2, or AVX-512 machines with <see cref="GemmKernels.ForceVector256"/>): <see cref="Vector256{T}"/>.</summary>
internal readonly struct Lanes256 : ILanes<Lanes256>
{
    private readonly Vector256<float> _value;

    private Lanes256(Vector256<float> value) => _value = value;

    public static int Count => Vector256<float>.Count;

    public static bool Is512 => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 Create(float value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Lanes256 Load(float* source) => new(Vector256.Load(source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Store(float* destination) => _value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 FusedMultiplyAdd(Lanes256 a, Lanes256 b, Lanes256 addend) => new(Vector256.FusedMultiplyAdd(a._value, b._value, addend._value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Sum() => Vector256.Sum(_value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 operator +(Lanes256 left, Lanes256 right) => new(left._value + right._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 operator -(Lanes256 left, Lanes256 right) => new(left._value - right._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 operator *(Lanes256 left, Lanes256 right) => new(left._value * right._value);
}
