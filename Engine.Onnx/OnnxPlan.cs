using Engine.Nn;
using Engine.Onnx.Proto;

namespace Engine.Onnx;

/// <summary>
/// A loaded graph compiled once for repeated calls: every value name becomes a slot index, every node left after
/// constant folding becomes a prepared step (its attributes parsed once), and a call walks the steps over a
/// per-call frame of slots that is rented from a pool and cleared afterwards. The common CNN operators run as
/// steps that allocate nothing; the others go through <see cref="OnnxOps.Run"/> as the interpreter does.
/// <para>Host values that depend only on the shapes of the graph inputs (Shape, Size and the shape arithmetic fed
/// by them, such as PyTorch's flatten-by-view export) are computed on the first call with given input shapes and
/// reused by later calls with the same shapes, unless a node that ran through the interpreter's code earlier in the
/// call may have made shapes depend on data (<see cref="OnnxFrame.ShapesMayDependOnData"/>).</para>
/// <para>Graphs with an If node (which runs a subgraph in the enclosing scope) or with a node reading a name that
/// no earlier node, initializer or input gives are not compiled: they keep the interpreter.</para>
/// </summary>
internal sealed class OnnxPlan
{
    private const int MaxShapeMemos = 8, MaxSpareFrames = 64;

    private readonly OnnxStep[] _steps;
    private readonly (int Slot, HostTensor Value)[] _constants;
    private readonly (int Slot, Parameter Weight)[] _weights;
    private readonly int[] _inputSlots, _outputSlots;
    private readonly string[] _outputNames;
    private readonly int _slotCount, _scratchLength;
    private readonly bool _readsShapes;
    private readonly Stack<OnnxFrame> _spareFrames = new();
    private ShapeMemo[] _memos = [];

    private OnnxPlan(OnnxStep[] steps, (int, HostTensor)[] constants, (int, Parameter)[] weights, int[] inputSlots,
        int[] outputSlots, string[] outputNames, int slotCount, int scratchLength)
    {
        _steps = steps;
        _constants = constants;
        _weights = weights;
        _inputSlots = inputSlots;
        _outputSlots = outputSlots;
        _outputNames = outputNames;
        _slotCount = slotCount;
        _scratchLength = scratchLength;
        _readsShapes = steps.Any(s => s is ShapeStep);
    }

    /// <summary>The plan of <paramref name="nodes"/> (the graph's nodes not folded at load), or null when the graph
    /// must stay interpreted.</summary>
    public static OnnxPlan? Compile(IReadOnlyList<NodeProto> nodes, int opset, IReadOnlyDictionary<string, HostTensor> constants,
        IReadOnlyDictionary<string, Parameter> weights, IReadOnlyList<string> inputNames, IReadOnlyList<string> outputNames)
    {
        var slots = new Dictionary<string, int>();
        int SlotOf(string name) => slots.TryGetValue(name, out int s) ? s : slots[name] = slots.Count;

        // The interpreter fills its values in this order, later ones replacing earlier ones of the same name.
        var kinds = new Dictionary<string, int>();
        foreach (var name in constants.Keys) kinds[name] = 0;
        foreach (var name in weights.Keys) kinds[name] = 1;
        foreach (var name in inputNames) kinds[name] = 2;
        var constantSlots = kinds.Where(k => k.Value == 0).Select(k => (SlotOf(k.Key), constants[k.Key])).ToArray();
        var weightSlots = kinds.Where(k => k.Value == 1).Select(k => (SlotOf(k.Key), weights[k.Key])).ToArray();
        var inputSlots = inputNames.Select(SlotOf).ToArray();

        // Values known to depend only on constants and the input shapes (host shape arithmetic).
        var shapeOnly = kinds.Where(k => k.Value == 0).Select(k => k.Key).ToHashSet();
        var produced = new HashSet<string>(kinds.Keys);
        var steps = new List<OnnxStep>();
        int scratch = 0;
        foreach (var node in nodes)
        {
            if (node.OpType == "If") return null;
            foreach (var name in node.Input)
                if (name.Length > 0 && !produced.Contains(name)) return null;
            var inputs = node.Input.Select(name => name.Length == 0 ? -1 : SlotOf(name)).ToArray();
            var outputs = node.Output.Select(name => name.Length == 0 ? -1 : SlotOf(name)).ToArray();
            bool readsShapesOnly = node.OpType is "Shape" or "Size" ||
                OnnxOps.Foldable.Contains(node.OpType) && node.Input.All(name => name.Length == 0 || shapeOnly.Contains(name));
            var generic = new GenericStep(node, opset, inputs, outputs);
            OnnxStep step = readsShapesOnly ? new ShapeStep(generic, steps.Count) : OnnxSteps.Prepare(generic) ?? generic;
            if (readsShapesOnly) shapeOnly.UnionWith(node.Output.Where(o => o.Length > 0));
            else shapeOnly.ExceptWith(node.Output);
            if (node.OpType is "Concat" or "Sum") scratch = Math.Max(scratch, inputs.Length);
            produced.UnionWith(node.Output.Where(o => o.Length > 0));
            steps.Add(step);
        }
        var outputSlots = outputNames.Select(name => slots.TryGetValue(name, out int s) ? s : -1).ToArray();
        return new OnnxPlan([.. steps], constantSlots, weightSlots, inputSlots, outputSlots, [.. outputNames], slots.Count, scratch);
    }

    /// <summary>Runs the plan on one backend tensor; returns output 0 as a backend tensor (as Run(x)[0]).</summary>
    public Tensor RunSingle(Tensor x, IBackend backend, bool training)
    {
        var frame = Rent(backend, training);
        try
        {
            frame.SetDevice(_inputSlots[0], x);
            frame.Memo = FindMemo(frame);
            Execute(frame);
            Tensor? first = null;
            for (int i = 0; i < _outputSlots.Length; i++)
            {
                var (device, host) = Output(frame, i);
                var t = device ?? host!.ToTensor(backend);
                first ??= t;
            }
            return first!;
        }
        finally { Return(frame); }
    }

    /// <summary>Runs the plan on inputs in the order of the graph inputs; returns each output as computed.</summary>
    public OnnxValue[] Evaluate(IReadOnlyList<OnnxValue> inputs, IBackend backend, bool training)
    {
        var frame = Rent(backend, training);
        try
        {
            bool allDevice = true;
            for (int i = 0; i < inputs.Count; i++)
            {
                if (inputs[i].Device is { } t) frame.SetDevice(_inputSlots[i], t);
                else frame.SetHost(_inputSlots[i], inputs[i].Host!);
                allDevice &= inputs[i].Device is not null;
            }
            frame.Memo = allDevice ? FindMemo(frame) : null;
            Execute(frame);
            var outputs = new OnnxValue[_outputSlots.Length];
            for (int i = 0; i < outputs.Length; i++)
            {
                var (device, host) = Output(frame, i);
                outputs[i] = device is not null ? OnnxValue.Of(device) : OnnxValue.Of(host!);
            }
            return outputs;
        }
        finally { Return(frame); }
    }

    private void Execute(OnnxFrame frame)
    {
        foreach (var step in _steps) step.Run(frame);
    }

    private (Tensor? Device, HostTensor? Host) Output(OnnxFrame frame, int i)
    {
        int slot = _outputSlots[i];
        if (slot < 0 || frame.Device[slot] is null && frame.Host[slot] is null)
            throw new InvalidDataException($"ONNX: graph output '{_outputNames[i]}' is never produced");
        return (frame.Device[slot], frame.Host[slot]);
    }

    private OnnxFrame Rent(IBackend backend, bool training)
    {
        OnnxFrame? frame = null;
        lock (_spareFrames)
            if (_spareFrames.Count > 0) frame = _spareFrames.Pop();
        frame ??= NewFrame();
        frame.Backend = backend;
        frame.Training = training;
        foreach (var (slot, weight) in _weights) frame.SetDevice(slot, weight.Value);
        return frame;
    }

    private OnnxFrame NewFrame()
    {
        var frame = new OnnxFrame(_slotCount, _scratchLength);
        foreach (var (slot, value) in _constants) frame.Host[slot] = value;
        return frame;
    }

    /// <summary>Drops every reference the call made (constants stay) and gives the frame back.</summary>
    private void Return(OnnxFrame frame)
    {
        Array.Clear(frame.Device);
        Array.Clear(frame.Host);
        foreach (var (slot, value) in _constants) frame.Host[slot] = value;
        Array.Clear(frame.Scratch);
        frame.Memo = null;
        frame.ShapesMayDependOnData = false;
        frame.Backend = null!;
        lock (_spareFrames)
            if (_spareFrames.Count < MaxSpareFrames) _spareFrames.Push(frame);
    }

    /// <summary>The shape-arithmetic results for the current input shapes (all inputs on the backend), made on first use.</summary>
    private ShapeMemo? FindMemo(OnnxFrame frame)
    {
        if (!_readsShapes) return null;
        var memos = Volatile.Read(ref _memos);
        foreach (var memo in memos)
            if (memo.Matches(frame, _inputSlots)) return memo;
        lock (_spareFrames)
        {
            foreach (var memo in _memos)
                if (memo.Matches(frame, _inputSlots)) return memo;
            if (_memos.Length >= MaxShapeMemos) return null;
            var created = new ShapeMemo(InputShapes(frame), _steps.Length);
            Volatile.Write(ref _memos, [.. _memos, created]);
            return created;
        }
    }

    // Apart from FindMemo: a lambda capturing the frame there would allocate its closure on every call.
    private Shape[] InputShapes(OnnxFrame frame) => _inputSlots.Select(s => frame.Device[s]!.Shape).ToArray();
}

/// <summary>Host values computed by the shape-only steps for one set of input shapes, by step index.</summary>
internal sealed class ShapeMemo(Shape[] inputShapes, int stepCount)
{
    public HostTensor[]?[] Outputs { get; } = new HostTensor[]?[stepCount];

    public bool Matches(OnnxFrame frame, int[] inputSlots)
    {
        for (int i = 0; i < inputSlots.Length; i++)
            if (frame.Device[inputSlots[i]]?.Shape != inputShapes[i]) return false;
        return true;
    }
}

/// <summary>The values of one call: slot i holds a backend tensor or a host value.</summary>
internal sealed class OnnxFrame(int slots, int scratch)
{
    public Tensor?[] Device { get; } = new Tensor?[slots];
    public HostTensor?[] Host { get; } = new HostTensor?[slots];
    /// <summary>Room for the operand list of a Concat or Sum.</summary>
    public Tensor[] Scratch { get; } = new Tensor[scratch];
    public IBackend Backend { get; set; } = null!;
    public bool Training { get; set; }
    public ShapeMemo? Memo { get; set; }

    /// <summary>
    /// Set once a node ran through the interpreter's code in this call: it may have read backend data on the host
    /// (a Reshape to a computed shape, say), so later shapes may depend on data and the memo is no longer used.
    /// Prepared steps on their own path give shapes that follow from the input shapes and host shape values only.
    /// </summary>
    public bool ShapesMayDependOnData { get; set; }

    public void SetDevice(int slot, Tensor t)
    {
        Device[slot] = t;
        Host[slot] = null;
    }

    public void SetHost(int slot, HostTensor h)
    {
        Host[slot] = h;
        Device[slot] = null;
    }

    public bool IsHost(int slot) => slot >= 0 && Host[slot] is not null;

    /// <summary>Slot as a backend tensor: host values are uploaded (as <see cref="OnnxNode.Tensor"/> does).</summary>
    public Tensor Tensor(int slot) => Device[slot] ?? Host[slot]!.ToTensor(Backend);
}
