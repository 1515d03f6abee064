using System.Runtime.CompilerServices;

namespace Engine.Cpu;

/// <summary>
/// A pinned float array with a 64-byte aligned start. Kept in [ThreadStatic] slots (one thread's, reused across calls
/// and grown, never shrunk, by <see cref="AtLeast"/>), or owned by a weight buffer's packed copy
/// (<see cref="PackedWeights"/>: one per buffer, not per thread, and not scratch).
/// </summary>
internal sealed unsafe class AlignedScratch
{
    private const int AlignFloats = 16;
    private readonly float[] _array;

    public AlignedScratch(long length)
    {
        if (length + AlignFloats > Array.MaxLength)
            throw new ArgumentException($"GEMM scratch: expected at most {Array.MaxLength - AlignFloats} floats, got {length}");
        Length = length;
        _array = GC.AllocateUninitializedArray<float>((int)length + AlignFloats, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref _array[0]);
        Pointer = (float*)((start + 63) & ~(nint)63);
    }

    public long Length { get; }
    public float* Pointer { get; }

    /// <summary>The operation in which <see cref="ScratchMeter"/> last counted this slot (its thread's).</summary>
    internal long MeteredOp { get; set; } = -1;

    public long Bytes => Length * sizeof(float);

    /// <summary>The start of <paramref name="slot"/>'s floats, replacing it first if it holds fewer than <paramref name="length"/>.</summary>
    public static float* AtLeast(ref AlignedScratch? slot, long length)
    {
        if (slot is null || slot.Length < length)
        {
            var old = slot;
            slot = new AlignedScratch(length);
            if (ScratchMeter.Enabled) ScratchMeter.Replace(old, slot);
        }
        else if (ScratchMeter.Enabled) ScratchMeter.Touch(slot);
        return slot.Pointer;
    }
}

/// <summary>
/// Test-only accounting of the scratch each thread holds while running one operation: the bytes of every
/// [ThreadStatic] <see cref="AlignedScratch"/> slot the thread used in the operation (at the slot's held length, which
/// may be more than this operation asked for: slots never shrink), plus the pooled arrays the operation rents on it
/// (<see cref="Hold"/>, <see cref="Release"/>), at their peak. An operation starts at <see cref="BeginOp"/>; afterwards
/// <see cref="Peaks"/> lists each thread that took part with its peak. Off (<see cref="Enabled"/> false), the only
/// cost is one static flag read per slot request.
/// </summary>
internal static class ScratchMeter
{
    /// <summary>One thread's count in its current operation.</summary>
    private sealed class Meter(string name)
    {
        public readonly string Name = name;
        public long Op = -1, Bytes, Peak;
    }

    private static readonly List<Meter> s_meters = [];
    private static long s_op;

    [ThreadStatic] private static Meter? t_meter;

    /// <summary>Whether slot requests and rents are counted (set by tests around the operations they measure).</summary>
    internal static bool Enabled { get; set; }

    /// <summary>Starts a new operation: every thread's count restarts from zero at its next slot request or rent.</summary>
    internal static void BeginOp() => Interlocked.Increment(ref s_op);

    /// <summary>Each thread that requested scratch since <see cref="BeginOp"/>, with its peak in bytes.</summary>
    internal static IReadOnlyList<(string Thread, long Bytes)> Peaks()
    {
        long op = Volatile.Read(ref s_op);
        lock (s_meters) return s_meters.Where(m => m.Op == op).Select(m => (m.Name, m.Peak)).ToList();
    }

    /// <summary>A slot used again: counted once per operation.</summary>
    internal static void Touch(AlignedScratch slot)
    {
        var meter = Current(out long op);
        if (slot.MeteredOp == op) return;
        slot.MeteredOp = op;
        Add(meter, slot.Bytes);
    }

    /// <summary>A slot grown: the old array is no longer held, the new one is.</summary>
    internal static void Replace(AlignedScratch? old, AlignedScratch slot)
    {
        var meter = Current(out long op);
        if (old is not null && old.MeteredOp == op) meter.Bytes -= old.Bytes;
        slot.MeteredOp = op;
        Add(meter, slot.Bytes);
    }

    /// <summary>A pooled array of <paramref name="bytes"/> rented for the current operation.</summary>
    internal static void Hold(long bytes) => Add(Current(out _), bytes);

    /// <summary>A pooled array of <paramref name="bytes"/> given back.</summary>
    internal static void Release(long bytes) => Current(out _).Bytes -= bytes;

    private static void Add(Meter meter, long bytes)
    {
        meter.Bytes += bytes;
        meter.Peak = Math.Max(meter.Peak, meter.Bytes);
    }

    private static Meter Current(out long op)
    {
        op = Volatile.Read(ref s_op);
        var meter = t_meter;
        if (meter is null)
        {
            meter = t_meter = new Meter(Thread.CurrentThread.Name ?? $"thread {Environment.CurrentManagedThreadId}");
            lock (s_meters) s_meters.Add(meter);
        }
        if (meter.Op != op) (meter.Op, meter.Bytes, meter.Peak) = (op, 0, 0);
        return meter;
    }
}
