namespace Engine;

/// <summary>
/// A dense row-major float32 tensor on one backend. Tensors made inside a <see cref="Scope"/> are released when
/// it ends unless kept (<see cref="Keep"/>); parameters, optimizer state and leaf gradients are kept.
/// Integer data (class labels, pooling indices) is stored as exact float values.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private DeviceBuffer? _buffer;

    // Released handles of recycling scopes (Scope.BeginRecycling), reused by tensors made inside such scopes.
    [ThreadStatic] private static Stack<Tensor>? t_spareHandles;
    private const int MaxSpareHandles = 4096;

    /// <summary>True while this handle sits in a recycling scope's free list (released, not yet reused).</summary>
    private bool _recycled;

    private Tensor(IBackend backend, Shape shape, DeviceBuffer buffer)
    {
        Backend = backend;
        Shape = shape;
        _buffer = buffer;
    }

    /// <summary>A tensor over <paramref name="buffer"/> (whose reference it takes), owned by the current scope; inside a
    /// recycling scope the handle comes from the thread's free list when one is there.</summary>
    internal static Tensor Create(IBackend backend, Shape shape, DeviceBuffer buffer)
    {
        Tensor t;
        if (Scope.Current is { Recycles: true } && t_spareHandles is { Count: > 0 } spare)
        {
            t = spare.Pop();
            t._recycled = false;
            t.Backend = backend;
            t.Shape = shape;
            t._buffer = buffer;
        }
        else t = new Tensor(backend, shape, buffer);
        Scope.Register(t);
        return t;
    }

    /// <summary>
    /// Releases the storage and puts this handle on the thread's free list. Only recycling scopes call it, for
    /// handles nothing outside the scope refers to; until reused, any use throws. Handles still in a graph that
    /// backward has not run are left to the GC, since that graph may be run later.
    /// </summary>
    internal void Recycle()
    {
        if (_recycled) return;
        ReleaseStorage();
        if (HasLiveGraph || _requiresGrad || Grad is not null) return;
        GradFn = null;
        var spare = t_spareHandles ??= new Stack<Tensor>();
        if (spare.Count >= MaxSpareHandles) return;
        _recycled = true;
        RetainsGrad = false;
        spare.Push(this);
    }

    public Shape Shape { get; private set; }
    public IBackend Backend { get; private set; }
    public int Length => Shape.Size;
    public int Rank => Shape.Rank;

    /// <summary>True once the tensor is kept out of scope release.</summary>
    public bool IsKept { get; private set; }

    internal bool IsReleased => _buffer is null;

    internal DeviceBuffer Buffer => _buffer ?? throw Released();

    private ObjectDisposedException Released() => new(nameof(Tensor), _recycled
        ? $"a tensor of shape {Shape} was used after the recycling scope that made it ended (a predictor call, or a Scope.BeginRecycling step); its handle is reused by later tensors, so nothing made inside such a scope may be used beyond it unless kept"
        : $"a tensor of shape {Shape} was used after it was released (its scope ended or it was disposed); call Keep() on tensors that must outlive their scope");

    // ---- creation ----

    /// <summary>A tensor with unspecified contents.</summary>
    public static Tensor Empty(IBackend backend, Shape shape) => Create(backend, shape, backend.Allocate(shape.Size));

    public static Tensor Zeros(IBackend backend, Shape shape) => Full(backend, shape, 0f);

    public static Tensor Ones(IBackend backend, Shape shape) => Full(backend, shape, 1f);

    public static Tensor Full(IBackend backend, Shape shape, float value)
    {
        var t = Empty(backend, shape);
        backend.Fill(t.Buffer, value, t.Length);
        return t;
    }

    public static Tensor FromArray(IBackend backend, ReadOnlySpan<float> values, Shape shape)
    {
        if (values.Length != shape.Size)
            throw new ArgumentException($"expected {shape.Size} values for shape {shape}, got {values.Length}");
        var t = Empty(backend, shape);
        backend.Upload(values, t.Buffer);
        return t;
    }

    public static Tensor Scalar(IBackend backend, float value) => FromArray(backend, [value], new Shape());

    // ---- reading ----

    public float[] ToArray()
    {
        var values = new float[Length];
        Backend.Download(Buffer, values);
        return values;
    }

    public void CopyTo(Span<float> destination)
    {
        if (destination.Length != Length)
            throw new ArgumentException($"expected a destination of {Length} floats for shape {Shape}, got {destination.Length}");
        Backend.Download(Buffer, destination);
    }

    /// <summary>The value of a one-element tensor.</summary>
    public float Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item() needs a tensor with one element, got shape {Shape}");
        Span<float> one = stackalloc float[1];
        Backend.Download(Buffer, one);
        return one[0];
    }

    /// <summary>Overwrites the contents from host values (no autograd).</summary>
    public void CopyFrom(ReadOnlySpan<float> values)
    {
        if (values.Length != Length)
            throw new ArgumentException($"expected {Length} values for shape {Shape}, got {values.Length}");
        Backend.Upload(values, Buffer);
    }

    /// <summary>Overwrites the contents with another tensor's (no autograd).</summary>
    public void CopyFrom(Tensor source)
    {
        if (source.Shape != Shape) throw new ArgumentException($"expected a source of shape {Shape}, got {source.Shape}");
        CheckSameBackend(source, "CopyFrom");
        Backend.Copy(source.Buffer, 0, Buffer, 0, Length);
    }

    // ---- lifetime ----

    /// <summary>Exempts this tensor from release at the end of its scope; it lives until disposed or collected.</summary>
    public Tensor Keep()
    {
        IsKept = true;
        return this;
    }

    /// <summary>Returns the storage to the backend now. Further use throws.</summary>
    public void Dispose() => ReleaseStorage();

    internal void ReleaseStorage()
    {
        var b = _buffer;
        _buffer = null;
        b?.ReleaseReference();
        PendingGrad = null;
    }

    internal void CheckSameBackend(Tensor other, string op)
    {
        if (!ReferenceEquals(other.Backend, Backend))
            throw new ArgumentException($"{op}: tensors are on different backends ({Backend.Name} and {other.Backend.Name}); move one with To(backend)");
    }

    /// <summary>A copy of this tensor's values on another backend (a new leaf, no autograd link).</summary>
    public Tensor To(IBackend backend)
    {
        if (ReferenceEquals(backend, Backend)) return this;
        return FromArray(backend, ToArray(), Shape);
    }

    public override string ToString() => $"Tensor{Shape} on {Backend.Name}";
}
