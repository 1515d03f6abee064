using Engine.Nn;
using Engine.Onnx.Proto;
using Google.Protobuf;

namespace Engine.Onnx;

/// <summary>
/// An ONNX model (opsets 7 to 17) run as a graph of Engine ops, so it works on any backend and can be
/// fine-tuned: float initializers are trainable parameters (BatchNormalization statistics are buffers), named as
/// in the file. Shape arithmetic (Shape, Gather, Slice, Cast, ConstantOfShape, Equal, Where, If on a known
/// condition, ...) runs on the host: subgraphs of constants are folded once at load, and the ones that read a
/// tensor's (static) shape are evaluated from it without touching the backend.
/// <para>At load the graph is compiled into an <see cref="OnnxPlan"/> (value slots, nodes with their attributes
/// parsed once), so a steady-state call on the common CNN operators allocates nothing and many threads can run
/// one model at once (see Engine.Inference.Predictor).</para>
/// </summary>
public sealed class OnnxModel : Module
{
    public const int MinOpset = 1, MaxOpset = 17;

    private readonly GraphProto _graph;
    private readonly Dictionary<string, Parameter> _weights = [];
    private readonly Dictionary<string, HostTensor> _constants = [];
    private readonly HashSet<NodeProto> _folded = [];
    private readonly Parameter[] _state;
    private readonly OnnxPlan? _plan;

    private OnnxModel(ModelProto model, string source)
    {
        _graph = model.Graph ?? throw new InvalidDataException($"ONNX: '{source}' has no graph");
        Opset = ReadOpset(model, source);
        CheckOperators(_graph);
        var initializerNames = new HashSet<string>();
        var statistics = BatchNormStatistics(_graph);
        foreach (var init in _graph.Initializer)
        {
            initializerNames.Add(init.Name);
            var value = OnnxTensors.Decode(init);
            if (value.IsFloat && value.Rank <= Shape.MaxRank)
            {
                var shape = new Shape(value.Dims);
                _weights[init.Name] = statistics.Contains(init.Name)
                    ? AddBuffer(init.Name, shape, value.AsFloats())
                    : AddParameter(init.Name, shape, value.AsFloats());
            }
            else _constants[init.Name] = value;
        }
        InputNames = _graph.Input.Select(i => i.Name).Where(n => !initializerNames.Contains(n)).ToArray();
        OutputNames = _graph.Output.Select(o => o.Name).ToArray();
        Fold();
        _state = [.. _weights.Values];
        _plan = OnnxPlan.Compile(_graph.Node.Where(n => !_folded.Contains(n)).ToList(), Opset, _constants, _weights, InputNames, OutputNames);
    }

    /// <summary>Whether calls walk a compiled plan (see <see cref="OnnxPlan"/>) rather than interpret the graph.</summary>
    internal bool IsCompiled => _plan is not null;

    public override string TypeName => "OnnxModel";

    /// <summary>The default-domain opset the model was exported with.</summary>
    public int Opset { get; }

    /// <summary>The graph inputs fed by the caller (initializers excluded), in order.</summary>
    public IReadOnlyList<string> InputNames { get; }

    public IReadOnlyList<string> OutputNames { get; }

    public static OnnxModel Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new IOException($"ONNX: cannot read '{path}': {e.Message}", e); }
        return Load(bytes, path);
    }

    public static OnnxModel Load(byte[] bytes, string source = "model")
    {
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"ONNX: '{source}' is not a valid ONNX model ({bytes.Length} bytes): {e.Message}", e);
        }
        return new OnnxModel(model, source);
    }

    /// <summary>Runs a single-input, single-output model; the parameters are placed on x's backend if needed.</summary>
    protected override Tensor ForwardCore(Tensor x)
    {
        if (_plan is null || InputNames.Count != 1 || OutputNames.Count == 0) return Run(x)[0];
        Place(x.Backend);
        return _plan.RunSingle(x, x.Backend, Training);
    }

    /// <summary>Runs the graph on tensors given in the order of <see cref="InputNames"/>; returns the graph outputs.</summary>
    public Tensor[] Run(params Tensor[] inputs)
    {
        if (inputs.Length == 0) throw new ArgumentException("ONNX: expected at least one input tensor");
        var outputs = Evaluate(inputs.Select(OnnxValue.Of).ToArray(), inputs[0].Backend);
        return outputs.Select((o, i) => o.Device ?? o.Host!.ToTensor(inputs[0].Backend)).ToArray();
    }

    /// <summary>Runs the graph with host or backend inputs, returning each output as computed.</summary>
    internal OnnxValue[] Evaluate(IReadOnlyList<OnnxValue> inputs, IBackend backend)
    {
        if (inputs.Count != InputNames.Count)
            throw new ArgumentException($"ONNX: expected {InputNames.Count} inputs ({string.Join(", ", InputNames)}), got {inputs.Count}");
        Place(backend);
        return _plan is not null ? _plan.Evaluate(inputs, backend, Training) : Interpret(inputs, backend);
    }

    /// <summary>Runs the graph node by node from its protobuf form (graphs that are not compiled; and the
    /// reference the compiled plan is tested against).</summary>
    internal OnnxValue[] Interpret(IReadOnlyList<OnnxValue> inputs, IBackend backend)
    {
        Place(backend);
        var values = new Dictionary<string, OnnxValue>();
        foreach (var (name, c) in _constants) values[name] = OnnxValue.Of(c);
        foreach (var (name, p) in _weights) values[name] = OnnxValue.Of(p.Value);
        for (int i = 0; i < inputs.Count; i++) values[InputNames[i]] = inputs[i];
        RunGraph(_graph, values, backend);
        return OutputNames.Select(n => values.TryGetValue(n, out var v) ? v
            : throw new InvalidDataException($"ONNX: graph output '{n}' is never produced")).ToArray();
    }

    /// <summary>Puts the parameters on <paramref name="backend"/> unless they are all there.</summary>
    private void Place(IBackend backend)
    {
        foreach (var p in _state)
            if (!p.IsPlaced || !ReferenceEquals(p.Value.Backend, backend)) { To(backend); break; }
    }

    internal void RunGraph(GraphProto graph, Dictionary<string, OnnxValue> values, IBackend? backend)
    {
        foreach (var node in graph.Node)
        {
            if (_folded.Contains(node)) continue;
            RunNode(node, values, backend);
        }
    }

    private void RunNode(NodeProto node, Dictionary<string, OnnxValue> values, IBackend? backend)
    {
        var inputs = new OnnxValue?[node.Input.Count];
        for (int i = 0; i < inputs.Length; i++)
        {
            string name = node.Input[i];
            if (name.Length == 0) continue;
            inputs[i] = values.TryGetValue(name, out var v) ? v
                : throw new InvalidDataException($"ONNX: node '{node.Name}' ({node.OpType}) reads '{name}', which no earlier node produces");
        }
        var n = new OnnxNode(node, Opset, inputs, backend) { Training = Training, Model = this, Values = values };
        var outputs = OnnxOps.Run(n);
        for (int i = 0; i < node.Output.Count && i < outputs.Length; i++)
            if (node.Output[i].Length > 0) values[node.Output[i]] = outputs[i];
    }

    /// <summary>Evaluates, once, every top-level node whose inputs are all constants and whose result is shape arithmetic.</summary>
    private void Fold()
    {
        var known = new Dictionary<string, OnnxValue>();
        foreach (var (name, c) in _constants) known[name] = OnnxValue.Of(c);
        foreach (var node in _graph.Node)
        {
            if (!OnnxOps.Foldable.Contains(node.OpType)) continue;
            if (!node.Input.All(i => i.Length == 0 || known.ContainsKey(i))) continue;
            RunNode(node, known, null);
            _folded.Add(node);
        }
        foreach (var (name, v) in known)
            if (!_constants.ContainsKey(name)) _constants[name] = v.Host!;
    }

    private static int ReadOpset(ModelProto model, string source)
    {
        var entry = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        int opset = entry is null ? 1 : (int)Math.Min(entry.Version, int.MaxValue);
        if (opset < MinOpset || opset > MaxOpset)
            throw new NotSupportedException($"ONNX: '{source}' uses opset {opset}; expected opset {MinOpset} to {MaxOpset}");
        return opset;
    }

    /// <summary>Names every node whose operator is not supported, all at once.</summary>
    private static void CheckOperators(GraphProto graph)
    {
        var bad = new List<string>();
        Collect(graph, bad);
        if (bad.Count > 0)
            throw new NotSupportedException($"ONNX: {bad.Count} node(s) use unsupported operators: {string.Join(", ", bad)}");

        static void Collect(GraphProto g, List<string> bad)
        {
            foreach (var node in g.Node)
            {
                bool known = node.Domain is "" or "ai.onnx" && OnnxOps.Supported.Contains(node.OpType);
                if (!known) bad.Add($"'{node.Name}' ({(node.Domain.Length > 0 ? node.Domain + "." : "")}{node.OpType})");
                foreach (var a in node.Attribute)
                {
                    if (a.G is not null) Collect(a.G, bad);
                    foreach (var sub in a.Graphs) Collect(sub, bad);
                }
            }
        }
    }

    /// <summary>Initializers read as BatchNormalization mean or variance: state, not trained.</summary>
    private static HashSet<string> BatchNormStatistics(GraphProto graph)
    {
        const int meanInput = 3, varianceInput = 4;
        var names = new HashSet<string>();
        foreach (var node in graph.Node)
            if (node.OpType == "BatchNormalization" && node.Input.Count > varianceInput)
            {
                names.Add(node.Input[meanInput]);
                names.Add(node.Input[varianceInput]);
            }
        return names;
    }
}
