namespace Engine;

public sealed partial class Tensor
{
    private bool _requiresGrad;

    /// <summary>
    /// Whether this leaf collects a gradient in <see cref="Grad"/> when a result computed from it is back-propagated.
    /// Set it on an input to get the gradient with respect to the input.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad || GradFn is not null;
        set
        {
            if (GradFn is not null && !value)
                throw new InvalidOperationException("cannot clear RequiresGrad on a computed tensor; use Detach()");
            _requiresGrad = value;
        }
    }

    private Tensor? _grad;

    /// <summary>True after <see cref="ZeroGradDeferred"/> until the gradient is next written or read.</summary>
    private bool _gradIsZero;

    /// <summary>
    /// The accumulated gradient: for leaves that require grad, and computed tensors that retain it. After an
    /// optimizer's ZeroGrad it reads as zeros (the buffer is filled on that first read, unless a backward pass has
    /// overwritten it first).
    /// </summary>
    public Tensor? Grad
    {
        get
        {
            if (_gradIsZero)
            {
                _gradIsZero = false;
                _grad!.Backend.Fill(_grad.Buffer, 0f, _grad.Length);
            }
            return _grad;
        }
        set
        {
            _grad = value;
            _gradIsZero = false;
        }
    }

    /// <summary>
    /// Sets the gradient to zero without writing its buffer: the next backward pass copies its gradient in instead of
    /// adding it to zeros (one pass over the buffer instead of a fill and a three-pass add); any other read fills it.
    /// </summary>
    internal void ZeroGradDeferred()
    {
        if (_grad is not null) _gradIsZero = true;
    }

    /// <summary>The gradient for a backward pass to add into, and whether it is a deferred zero (to overwrite).</summary>
    internal Tensor? GradToAccumulate(out bool overwrite)
    {
        overwrite = _gradIsZero;
        _gradIsZero = false;
        return _grad;
    }

    internal Node? GradFn { get; set; }
    internal Tensor? PendingGrad { get; set; }
    internal bool RetainsGrad { get; private set; }
    internal bool TracksGrad => _requiresGrad || GradFn is not null;

    /// <summary>True while this tensor's node has not been run by a backward pass.</summary>
    internal bool HasLiveGraph => GradFn is { IsConsumed: false };

    /// <summary>Whether this tensor was computed by a recorded operation (false for leaves).</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>Keeps the gradient of this computed tensor in <see cref="Grad"/> after backward.</summary>
    public Tensor RetainGrad()
    {
        RetainsGrad = true;
        return this;
    }

    /// <summary>Back-propagates from this one-element tensor (dThis = 1).</summary>
    public void Backward()
    {
        if (Length != 1)
            throw new InvalidOperationException($"backward() without a gradient needs a one-element tensor, got shape {Shape}");
        Autograd.Backward(this, null);
    }

    /// <summary>Back-propagates with an explicit dThis of this tensor's shape.</summary>
    public void Backward(Tensor gradient)
    {
        if (gradient.Shape != Shape)
            throw new ArgumentException($"backward: expected a gradient of shape {Shape}, got {gradient.Shape}");
        Autograd.Backward(this, gradient);
    }

    /// <summary>A tensor sharing this one's storage, cut from the graph.</summary>
    public Tensor Detach()
    {
        Buffer.AddReference();
        return Create(Backend, Shape, Buffer);
    }
}
