using System.Runtime.CompilerServices;

namespace Engine.Cpu;

/// <summary>
/// A persistent pool of worker threads. <see cref="For{TState}"/> runs chunk indices 0..count-1, each exactly once,
/// on the caller and the workers. Callers split work into chunks that depend only on the problem (never on the
/// thread count) and write disjoint outputs, so results are bitwise identical for any number of threads.
/// <para>A call allocates nothing: the body is a static lambda (cached by the compiler) and its captured values
/// travel in a state struct that stays on the caller's stack, which blocks until every thread that joined the call
/// has left it; the job records are reused.</para>
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    /// <summary>
    /// One call of For: the body, a pointer to the caller's state and the typed trampoline that joins them. Reused
    /// once the caller saw <see cref="Pending"/> and <see cref="Active"/> both reach zero (no thread can touch it then).
    /// </summary>
    private sealed class Job
    {
        public object? Body;
        public void* State;
        public delegate*<object, void*, int, void> Invoke;
        public int Count;
        public int Next;
        public int Pending;
        /// <summary>Workers that took this job and have not yet left it (changed under the pool's gate).</summary>
        public int Active;
        public Exception? Error;
    }

    private readonly Thread[] _workers;
    // GC bytes each worker thread had allocated when it last left a job (what the allocation tests read).
    private readonly long[] _workerAllocated;
    private readonly object _gate = new();
    private readonly Stack<Job> _spareJobs = new();
    private Job? _job;
    private long _published;
    private bool _disposed;

    /// <summary>
    /// How long an idle worker (and a caller waiting for the workers) keeps polling before it blocks on the gate.
    /// A small training step is ~50 kernel calls a few microseconds to a millisecond apart; a blocked worker takes
    /// tens of microseconds (a futex wake under KVM) to join the next one, by which time the caller has done most of
    /// its chunks. Polling is skipped when there are more threads than cores (they would take the cores from the
    /// threads doing the work).
    /// </summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 2000;

    private readonly bool _spin;

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentException($"expected at least one thread, got {threads}");
        Threads = threads;
        _workers = new Thread[threads - 1];
        _workerAllocated = new long[threads - 1];
        _spin = threads <= Environment.ProcessorCount;
        for (int i = 0; i < _workers.Length; i++)
        {
            int worker = i;
            _workers[i] = new Thread(() => WorkerLoop(worker)) { IsBackground = true, Name = $"engine-cpu-{i + 1}" };
            _workers[i].Start();
        }
    }

    public int Threads { get; }

    /// <summary>GC bytes the worker threads (the caller excluded) have allocated, as of the last job each ran.</summary>
    internal long WorkerAllocatedBytes
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _workerAllocated.Length; i++) sum += Volatile.Read(ref _workerAllocated[i]);
            return sum;
        }
    }

    /// <summary>Runs body(i) for i in [0, count); returns when all are done. Not re-entrant. Allocates only if
    /// <paramref name="body"/> is a capturing lambda: prefer <see cref="For{TState}"/> with a static lambda.</summary>
    public void For(int count, Action<int> body) => For(count, body, static (b, i) => b(i));

    /// <summary>
    /// Runs body(state, i) for i in [0, count); returns when all are done. Not re-entrant. With a static lambda and
    /// a struct state (a tuple of what the lambda would have captured), the call allocates nothing.
    /// </summary>
    public void For<TState>(int count, TState state, Action<TState, int> body)
    {
        if (count <= 0) return;
        if (Threads == 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body(state, i);
            return;
        }
        // state is a by-value parameter: it lives in this frame (never on the heap, so the GC does not move it), and
        // this frame outlives every use of the pointer (Run below waits for all threads that joined).
        Run(count, body, Unsafe.AsPointer(ref state), &Invoke<TState>);
    }

    private static void Invoke<TState>(object body, void* state, int i) =>
        Unsafe.As<Action<TState, int>>(body)(Unsafe.AsRef<TState>(state), i);

    private void Run(int count, object body, void* state, delegate*<object, void*, int, void> invoke)
    {
        Job job;
        lock (_gate)
        {
            job = _spareJobs.Count > 0 ? _spareJobs.Pop() : new Job();
            job.Body = body;
            job.State = state;
            job.Invoke = invoke;
            job.Count = count;
            job.Next = 0;
            job.Pending = count;
            job.Error = null;
            _job = job;
            _published++;
            Monitor.PulseAll(_gate);
        }
        Work(job);
        if (_spin) SpinUntil(job, static j => Volatile.Read(ref j.Pending) == 0 && Volatile.Read(ref j.Active) == 0);
        Exception? error;
        lock (_gate)
        {
            while (job.Pending > 0 || job.Active > 0) Monitor.Wait(_gate);
            if (ReferenceEquals(_job, job)) _job = null;
            error = job.Error;
            job.Body = null;
            job.State = null;
            job.Error = null;
            _spareJobs.Push(job);
        }
        if (error is not null) throw new AggregateException("a CPU kernel failed", error);
    }

    /// <summary>
    /// Runs chunks of <paramref name="job"/> until none is left: runs of consecutive indices taken by one atomic add, a
    /// run an 1/(2*Threads) share of what was left (at least 1, so the last ones go one at a time and the threads
    /// finish together), and the thread's count of finished chunks taken off Pending once at the end. Every atomic
    /// moves the job's cache line between cores; against one increment and one decrement per chunk, LeNet's second
    /// layer (64 or 256 chunks of ~2.5 us) measured 1-5% faster at two threads (six alternated pairs in one process).
    /// </summary>
    private void Work(Job job)
    {
        int done = 0, count = job.Count, share = 2 * Threads;
        while (true)
        {
            int run = Math.Max(1, (count - Volatile.Read(ref job.Next)) / share);
            int first = Interlocked.Add(ref job.Next, run) - run;
            if (first >= count) break;
            for (int i = first; i < Math.Min(count, first + run); i++, done++)
            {
                try { job.Invoke(job.Body!, job.State, i); }
                catch (Exception e) { Interlocked.CompareExchange(ref job.Error, e, null); }
            }
        }
        if (done > 0 && Interlocked.Add(ref job.Pending, -done) == 0)
            lock (_gate) Monitor.PulseAll(_gate);
    }

    private void WorkerLoop(int worker)
    {
        long seen = 0;
        while (true)
        {
            Job job;
            if (_spin) SpinUntil((pool: this, seen), static s => Volatile.Read(ref s.pool._published) != s.seen || Volatile.Read(ref s.pool._disposed));
            lock (_gate)
            {
                while (!_disposed && (_job is null || _published == seen)) Monitor.Wait(_gate);
                if (_disposed) return;
                job = _job!;
                seen = _published;
                job.Active++;
            }
            Work(job);
            Volatile.Write(ref _workerAllocated[worker], GC.GetAllocatedBytesForCurrentThread());
            lock (_gate)
            {
                if (--job.Active == 0) Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Polls <paramref name="done"/> for at most <see cref="SpinTicks"/> (yielding as SpinWait does); the caller then blocks as before.</summary>
    private static void SpinUntil<T>(T state, Func<T, bool> done)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var spinner = new SpinWait();
        while (!done(state))
        {
            if (System.Diagnostics.Stopwatch.GetTimestamp() - start > SpinTicks) return;
            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            Monitor.PulseAll(_gate);
        }
    }
}
