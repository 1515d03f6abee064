using System.Runtime.CompilerServices;

namespace Engine.Cpu;

/// <summary>
/// The pure managed CPU backend: pooled managed buffers, a persistent worker pool, SIMD kernels.
/// The primitives live beside their op's stem (Conv2d.cs, Pool2d.cs, ...) as parts of this partial class.
/// Results are bitwise identical for any thread count (see <see cref="WorkerPool"/>).
/// </summary>
public sealed partial class CpuBackend : IBackend, IDisposable
{
    private readonly Dictionary<int, Stack<CpuBuffer>> _pool = [];
    private readonly object _poolGate = new();
    private readonly WorkerPool _workers;

    /// <summary>Released buffers kept for reuse by default, at most: 1 GiB of floats (more are left to the GC).</summary>
    public const long DefaultMaxPooledBytes = 1L << 30;

    private readonly long _maxPooledBytes;
    private long _pooledBytes;

    /// <param name="threads">worker threads (0: one per core).</param>
    /// <param name="maxPooledBytes">
    /// how many bytes of released buffers the pool keeps for reuse; a release beyond it drops the buffer to the GC,
    /// so a long-lived backend that sees many different sizes does not hold every one of them forever.
    /// </param>
    public CpuBackend(int threads = 0, long maxPooledBytes = DefaultMaxPooledBytes)
    {
        if (threads < 0) throw new ArgumentException($"expected a thread count of at least 1 (or 0 for all cores), got {threads}");
        if (maxPooledBytes < 0) throw new ArgumentException($"expected a non-negative pool size in bytes, got {maxPooledBytes}");
        _maxPooledBytes = maxPooledBytes;
        _workers = new WorkerPool(threads == 0 ? Environment.ProcessorCount : threads);
    }

    /// <summary>Bytes of released buffers the pool holds now (at most the constructor's maxPooledBytes).</summary>
    public long PooledBytes
    {
        get
        {
            lock (_poolGate) return _pooledBytes;
        }
    }

    public string Name => $"cpu ({Threads} threads)";
    public int Threads => _workers.Threads;

    /// <summary>Elements per chunk of elementwise work (fixed, so results never depend on the thread count).</summary>
    internal const int ElementChunk = 1 << 15;

    internal WorkerPool Workers => _workers;

    /// <summary>GC bytes allocated so far by this backend's worker threads (not the callers').</summary>
    internal long WorkerAllocatedBytes => _workers.WorkerAllocatedBytes;

    // ---- memory ----

    public DeviceBuffer Allocate(int length)
    {
        if (length < 0) throw new ArgumentException($"expected a non-negative length, got {length}");
        CpuBuffer? buffer = null;
        lock (_poolGate)
        {
            if (_pool.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                buffer = stack.Pop();
                _pooledBytes -= (long)buffer.Array.Length * sizeof(float);
            }
        }
        if (buffer is not null) return buffer.Reuse();
        Interlocked.Increment(ref _poolMisses);
        return new CpuBuffer(this, GC.AllocateUninitializedArray<float>(length), length);
    }

    private long _poolMisses;

    /// <summary>Buffers allocated fresh because the pool held none of their length (steady-state training makes none).</summary>
    internal long PoolMisses => Interlocked.Read(ref _poolMisses);

    /// <summary>Takes back a buffer whose last reference was released; the buffer object itself (with its array) is
    /// what the pool keeps and hands out again, so a steady state allocates no buffer objects either.</summary>
    public void Release(DeviceBuffer buffer)
    {
        var cpu = Cpu(buffer);
        cpu.Packed = null;
        cpu.Flipped = null;
        // the kept live taps go back to the pool with the weights
        if (cpu.Live is { } live)
        {
            cpu.Live = null;
            Release(live.Buffer);
        }
        long bytes = (long)cpu.ReadArray.Length * sizeof(float);
        lock (_poolGate)
        {
            if (_pooledBytes + bytes > _maxPooledBytes) return;
            if (!_pool.TryGetValue(cpu.Length, out var stack)) _pool[cpu.Length] = stack = new Stack<CpuBuffer>();
            stack.Push(cpu);
            _pooledBytes += bytes;
        }
    }

    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination) => source.CopyTo(Span(destination));

    public void Download(DeviceBuffer source, Span<float> destination) => Span(source)[..destination.Length].CopyTo(destination);

    public void Copy(DeviceBuffer source, int sourceOffset, DeviceBuffer destination, int destinationOffset, int count) =>
        Span(source).Slice(sourceOffset, count).CopyTo(Span(destination).Slice(destinationOffset, count));

    public void Fill(DeviceBuffer destination, float value, int count) => Span(destination)[..count].Fill(value);

    // ---- helpers ----

    internal static CpuBuffer Cpu(DeviceBuffer buffer) =>
        buffer as CpuBuffer ?? throw new ArgumentException($"expected a CPU buffer, got one from backend '{buffer.Backend.Name}'");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Span<float> Span(DeviceBuffer buffer) => Cpu(buffer).Span;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float[] Array(DeviceBuffer buffer) => Cpu(buffer).Array;

    /// <summary>Runs body(state, start, length) over [0, count) in fixed chunks of <see cref="ElementChunk"/>;
    /// allocation-free with a static lambda (see <see cref="WorkerPool.For{TState}"/>).</summary>
    internal void ForRange<TState>(int count, TState state, Action<TState, int, int> body)
    {
        int chunks = (count + ElementChunk - 1) / ElementChunk;
        if (chunks <= 1)
        {
            if (count > 0) body(state, 0, count);
            return;
        }
        _workers.For(chunks, (state, body, count), static (s, c) =>
        {
            int start = c * ElementChunk;
            s.body(s.state, start, Math.Min(ElementChunk, s.count - start));
        });
    }

    /// <summary>Stops the worker threads and lets the GC have the pooled buffers.</summary>
    public void Dispose()
    {
        _workers.Dispose();
        lock (_poolGate)
        {
            _pool.Clear();
            _pooledBytes = 0;
        }
    }
}
