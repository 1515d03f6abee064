namespace Engine.Nn;

/// <summary>
/// A layer or model: named parameters and buffers, named submodules, train/eval mode, and a forward pass.
/// Names compose with dots like PyTorch's state_dict ("features.0.weight").
/// Implement <see cref="ForwardCore"/>; call <see cref="Forward"/>.
/// </summary>
public abstract class Module
{
    private readonly List<Parameter> _parameters = [];
    private readonly List<(string Name, Module Module)> _children = [];

    [ThreadStatic] private static Action<Module, Tensor, long>? t_observer;

    /// <summary>Full dotted name inside the model ("" for the root).</summary>
    public string Path { get; private set; } = "";
    public bool Training { get; private set; } = true;
    public virtual string TypeName => GetType().Name;

    private string? _description;

    /// <summary>"Conv2d 'features.0'": how errors name this layer (made once; forward passes pass it to every op).</summary>
    public string Describe() => _description ??= Path.Length == 0 ? TypeName : $"{TypeName} '{Path}'";

    /// <summary>True while an observer of <see cref="Observe(Action{Module, Tensor, long}, Action)"/> runs on this thread.</summary>
    internal static bool IsObserved => t_observer is not null;

    public Tensor Forward(Tensor x)
    {
        if (t_observer is null) return Autograd.IsEnabled ? ForwardCore(x) : ForwardReleasingIntermediates(x);
        long before = Inspection.Current?.Macs ?? 0;
        var y = ForwardCore(x);
        t_observer(this, y, (Inspection.Current?.Macs ?? 0) - before);
        return y;
    }

    protected abstract Tensor ForwardCore(Tensor x);

    /// <summary>
    /// Without gradients nothing refers back to a module's intermediates, so they are released as soon as it returns
    /// (inference memory stays near one layer's working set instead of the whole network's).
    /// </summary>
    private Tensor ForwardReleasingIntermediates(Tensor x)
    {
        using var scope = Scope.BeginInternal();
        var y = ForwardCore(x);
        scope.Promote(y);
        return y;
    }

    /// <summary>Runs <paramref name="action"/> while <paramref name="observer"/> sees every module's output.</summary>
    public static void Observe(Action<Module, Tensor> observer, Action action) => Observe((m, y, _) => observer(m, y), action);

    /// <summary>
    /// Runs <paramref name="action"/> while <paramref name="observer"/> sees every module's output and the
    /// multiply-adds counted during its forward pass (while an <see cref="Inspection"/> is open).
    /// </summary>
    public static void Observe(Action<Module, Tensor, long> observer, Action action)
    {
        var previous = t_observer;
        t_observer = observer;
        try { action(); }
        finally { t_observer = previous; }
    }

    protected Parameter AddParameter(string name, Shape shape, float[] initial) => Add(name, shape, initial, true);

    protected Parameter AddBuffer(string name, Shape shape, float[] initial) => Add(name, shape, initial, false);

    /// <summary>
    /// Swaps <paramref name="old"/> (one of this module's) for a new parameter of the same name and kind with another
    /// shape, placed on the same backend. Optimizers made before hold the old tensor: make them after.
    /// </summary>
    protected Parameter ReplaceParameter(Parameter old, Shape shape, float[] initial)
    {
        int at = _parameters.IndexOf(old);
        if (at < 0) throw new ArgumentException($"{Describe()}: parameter '{old.Name}' does not belong to this module");
        var replacement = new Parameter(this, old.Name, shape, initial, old.Trainable);
        if (old.IsPlaced) replacement.PlaceOn(old.Value.Backend);
        _parameters[at] = replacement;
        return replacement;
    }

    private Parameter Add(string name, Shape shape, float[] initial, bool trainable)
    {
        var p = new Parameter(this, name, shape, initial, trainable);
        _parameters.Add(p);
        return p;
    }

    protected T AddModule<T>(string name, T module) where T : Module
    {
        if (_children.Exists(c => c.Name == name))
            throw new ArgumentException($"{Describe()}: a submodule named '{name}' already exists");
        _children.Add((name, module));
        module.SetPath(Path.Length == 0 ? name : $"{Path}.{name}");
        return module;
    }

    private void SetPath(string path)
    {
        Path = path;
        _description = null;
        foreach (var (name, child) in _children) child.SetPath($"{path}.{name}");
    }

    public IReadOnlyList<(string Name, Module Module)> Children => _children;

    /// <summary>This module and all below it, depth first, with their full names.</summary>
    public IEnumerable<Module> Modules()
    {
        var stack = new Stack<Module>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var m = stack.Pop();
            yield return m;
            for (int i = m._children.Count - 1; i >= 0; i--) stack.Push(m._children[i].Module);
        }
    }

    /// <summary>Parameters and buffers with their full dotted names, in registration order.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedState()
    {
        foreach (var m in Modules())
            foreach (var p in m._parameters)
                yield return (m.Path.Length == 0 ? p.Name : $"{m.Path}.{p.Name}", p);
    }

    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters() => NamedState().Where(s => s.Parameter.Trainable);

    /// <summary>The trainable parameters' tensors (placed), for an optimizer.</summary>
    public IReadOnlyList<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter.Value).ToList();

    public long ParameterCount() => NamedParameters().Sum(p => (long)p.Parameter.Shape.Size);

    /// <summary>Every parameter and buffer's values by full name, like PyTorch's state_dict.</summary>
    public Dictionary<string, float[]> StateDict() => NamedState().ToDictionary(s => s.Name, s => s.Parameter.ToArray());

    /// <summary>Loads values by name; every entry must match a parameter or buffer of the same size, and every one must be given.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, float[]> state)
    {
        var named = NamedState().ToDictionary(s => s.Name, s => s.Parameter);
        var missing = named.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !named.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new ArgumentException($"{Describe()}: state does not match the model; missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}]");
        foreach (var (name, values) in state)
        {
            var p = named[name];
            if (values.Length != p.Shape.Size)
                throw new ArgumentException($"{Describe()}: '{name}' has shape {p.Shape} ({p.Shape.Size} values), the state gives {values.Length}");
        }
        foreach (var (name, values) in state) named[name].Load(values);
    }

    /// <summary>Sets training mode here and below (dropout active, batch statistics used).</summary>
    public Module Train(bool on = true)
    {
        foreach (var m in Modules()) m.Training = on;
        return this;
    }

    public Module Eval() => Train(false);

    /// <summary>Puts (or moves) every parameter and buffer on <paramref name="backend"/>.</summary>
    public Module To(IBackend backend)
    {
        foreach (var (_, p) in NamedState()) p.PlaceOn(backend);
        return this;
    }

    /// <summary>Per-layer output shapes, parameters, multiply-adds and receptive fields for an input shape.</summary>
    public ModelSummary Summary(Shape input, IBackend backend) => ModelSummary.Of(this, input, backend);

    /// <summary>Drops every parameter's gradient (the next backward starts from nothing).</summary>
    internal void ZeroGradients()
    {
        foreach (var (_, p) in NamedParameters())
            if (p.IsPlaced && p.Value.Grad is { } g)
            {
                p.Value.Grad = null;
                g.Dispose();
            }
    }

    public override string ToString() => Describe();
}

/// <summary>Runs its children in order; they are named "0", "1", ... as in PyTorch.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = [];

    public Sequential(params Module[] layers)
    {
        foreach (var layer in layers) Append(layer);
    }

    public Sequential Append(Module layer)
    {
        _layers.Add(AddModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer));
        return this;
    }

    public int Count => _layers.Count;
    public Module this[int index] => _layers[index];

    protected override Tensor ForwardCore(Tensor x)
    {
        var input = x;
        foreach (var layer in _layers)
        {
            var y = layer.Forward(x);
            // Without gradients the previous intermediate is dead once the next layer has run (views keep their storage).
            if (!Autograd.IsEnabled && !ReferenceEquals(x, input) && !ReferenceEquals(y, x)) x.Dispose();
            x = y;
        }
        return x;
    }
}
