namespace Engine.Cpu;

/// <summary>
/// A persistent pool of worker threads. <see cref="For"/> runs chunk indices 0..count-1, each exactly once, on the
/// caller and the workers. Callers split work into chunks that depend only on the problem (never on the thread
/// count) and write disjoint outputs, so results are bitwise identical for any number of threads.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    /// <summary>One call of <see cref="For"/>: a worker that wakes late finds its job's counter exhausted.</summary>
    private sealed class Job(Action<int> body, int count)
    {
        public readonly Action<int> Body = body;
        public readonly int Count = count;
        public int Next;
        public int Pending = count;
        public Exception? Error;
    }

    private readonly Thread[] _workers;
    private readonly object _gate = new();
    private Job? _job;
    private bool _disposed;

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentException($"expected at least one thread, got {threads}");
        Threads = threads;
        _workers = new Thread[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"engine-cpu-{i + 1}" };
            _workers[i].Start();
        }
    }

    public int Threads { get; }

    /// <summary>Runs body(i) for i in [0, count); returns when all are done. Not re-entrant.</summary>
    public void For(int count, Action<int> body)
    {
        if (count <= 0) return;
        if (Threads == 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        var job = new Job(body, count);
        lock (_gate)
        {
            _job = job;
            Monitor.PulseAll(_gate);
        }
        Run(job);
        lock (_gate)
        {
            while (job.Pending > 0) Monitor.Wait(_gate);
            if (ReferenceEquals(_job, job)) _job = null;
        }
        if (job.Error is not null) throw new AggregateException("a CPU kernel failed", job.Error);
    }

    private void Run(Job job)
    {
        while (true)
        {
            int i = Interlocked.Increment(ref job.Next) - 1;
            if (i >= job.Count) return;
            try { job.Body(i); }
            catch (Exception e) { Interlocked.CompareExchange(ref job.Error, e, null); }
            if (Interlocked.Decrement(ref job.Pending) == 0)
                lock (_gate) Monitor.PulseAll(_gate);
        }
    }

    private void WorkerLoop()
    {
        Job? last = null;
        while (true)
        {
            Job job;
            lock (_gate)
            {
                while (!_disposed && (_job is null || ReferenceEquals(_job, last))) Monitor.Wait(_gate);
                if (_disposed) return;
                job = _job!;
            }
            last = job;
            Run(job);
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
