namespace Engine.Nn;

/// <summary>
/// A named tensor a module owns: a trainable parameter, or a buffer (running statistics) that is state but not
/// trained. Its initial values live on the host until the module is placed on a backend with
/// <see cref="Module.To"/>.
/// </summary>
public sealed class Parameter
{
    private Tensor? _value;
    private float[]? _host;

    internal Parameter(Module owner, string name, Shape shape, float[] initial, bool trainable)
    {
        if (initial.Length != shape.Size)
            throw new ArgumentException($"parameter '{name}': expected {shape.Size} initial values for shape {shape}, got {initial.Length}");
        Owner = owner;
        Name = name;
        Shape = shape;
        Trainable = trainable;
        _host = initial;
    }

    public Module Owner { get; }
    /// <summary>The name inside its module ("weight").</summary>
    public string Name { get; }
    public Shape Shape { get; }
    /// <summary>False for buffers such as running statistics.</summary>
    public bool Trainable { get; }
    public bool IsPlaced => _value is not null;

    /// <summary>The tensor on the module's backend.</summary>
    public Tensor Value => _value ?? throw new InvalidOperationException(
        $"{Owner.Describe()}: parameter '{Name}' is not on a backend yet; call model.To(backend) first");

    public Tensor? Grad => _value?.Grad;

    internal void PlaceOn(IBackend backend)
    {
        if (_value is not null && ReferenceEquals(_value.Backend, backend)) return;
        var values = ToArray();
        var old = _value;
        _value = Tensor.FromArray(backend, values, Shape).Keep();
        _value.RequiresGrad = Trainable;
        _host = null;
        old?.Grad?.Dispose();
        old?.Dispose();
    }

    /// <summary>The current values, wherever they live.</summary>
    public float[] ToArray() => _value?.ToArray() ?? (float[])_host!.Clone();

    /// <summary>Replaces the values (shape must match), on the backend if placed.</summary>
    public void Load(ReadOnlySpan<float> values)
    {
        if (values.Length != Shape.Size)
            throw new ArgumentException($"{Owner.Describe()}: parameter '{Name}' expects {Shape.Size} values for shape {Shape}, got {values.Length}");
        if (_value is not null) _value.CopyFrom(values);
        else _host = values.ToArray();
    }
}
