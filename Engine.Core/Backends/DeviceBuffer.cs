namespace Engine;

/// <summary>
/// A block of float32 storage owned by one backend. Reference counted: tensors that share it (reshape views)
/// each hold a reference; when the last is released the backend takes the block back into its pool.
/// </summary>
public abstract class DeviceBuffer
{
    private int _references = 1;

    protected DeviceBuffer(IBackend backend, int length)
    {
        Backend = backend;
        Length = length;
    }

    public IBackend Backend { get; }

    /// <summary>Number of float elements.</summary>
    public int Length { get; }

    /// <summary>For a backend that reuses released buffer objects: the reused buffer starts with one reference again.
    /// Only for a buffer the backend took back (nothing refers to it any more).</summary>
    protected void Revive() => Volatile.Write(ref _references, 1);

    internal void AddReference() => Interlocked.Increment(ref _references);

    internal void ReleaseReference()
    {
        int left = Interlocked.Decrement(ref _references);
        if (left == 0) Backend.Release(this);
        else if (left < 0) throw new InvalidOperationException("a device buffer was released more times than it was referenced");
    }
}
