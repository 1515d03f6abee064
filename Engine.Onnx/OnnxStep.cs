using Engine.Onnx.Proto;

namespace Engine.Onnx;

/// <summary>One node of a compiled plan: its input and output slots (-1 for an omitted optional one).</summary>
internal abstract class OnnxStep(NodeProto node, int[] inputs, int[] outputs)
{
    public NodeProto Node { get; } = node;
    public int[] Inputs { get; } = inputs;
    public int[] Outputs { get; } = outputs;
    /// <summary>How errors name the node, as <see cref="OnnxNode.Where"/> does.</summary>
    public string Where { get; } = $"{node.OpType} '{node.Name}'";

    public void Run(OnnxFrame frame)
    {
        for (int i = 0; i < Inputs.Length; i++)
        {
            int slot = Inputs[i];
            if (slot >= 0 && frame.Device[slot] is null && frame.Host[slot] is null)
                throw new InvalidDataException($"ONNX: node '{Node.Name}' ({Node.OpType}) reads '{Node.Input[i]}', which no earlier node produces");
        }
        Execute(frame);
    }

    protected abstract void Execute(OnnxFrame frame);

    /// <summary>Whether input i is named (an omitted optional input is not).</summary>
    public bool Has(int i) => i < Inputs.Length && Inputs[i] >= 0;
}

/// <summary>A node run by the interpreter's operator code (<see cref="OnnxOps.Run"/>): what every other step falls back to.</summary>
internal sealed class GenericStep(NodeProto node, int opset, int[] inputs, int[] outputs) : OnnxStep(node, inputs, outputs)
{
    public int Opset { get; } = opset;

    /// <summary>The node's attributes, read once when a prepared step is made.</summary>
    public OnnxNode Attributes { get; } = new(node, opset, [], null);

    protected override void Execute(OnnxFrame frame)
    {
        frame.ShapesMayDependOnData = true;
        Interpret(frame);
    }

    /// <summary>Runs the node as the interpreter does and stores its outputs; returns them.</summary>
    public OnnxValue[] Interpret(OnnxFrame frame)
    {
        var values = new OnnxValue?[Inputs.Length];
        for (int i = 0; i < values.Length; i++)
        {
            int slot = Inputs[i];
            if (slot >= 0) values[i] = frame.Device[slot] is { } t ? OnnxValue.Of(t) : OnnxValue.Of(frame.Host[slot]!);
        }
        // Model and Values serve only If, which keeps a graph interpreted.
        var n = new OnnxNode(Node, Opset, values, frame.Backend) { Training = frame.Training, Model = null!, Values = null! };
        var outputs = OnnxOps.Run(n);
        for (int i = 0; i < Outputs.Length && i < outputs.Length; i++)
        {
            if (Outputs[i] < 0) continue;
            if (outputs[i].Device is { } d) frame.SetDevice(Outputs[i], d);
            else frame.SetHost(Outputs[i], outputs[i].Host!);
        }
        return outputs;
    }
}

/// <summary>
/// A node of shape arithmetic whose inputs depend only on constants and the input shapes: its host results are kept
/// per set of input shapes (<see cref="ShapeMemo"/>) and replayed by later calls.
/// </summary>
internal sealed class ShapeStep(GenericStep generic, int index) : OnnxStep(generic.Node, generic.Inputs, generic.Outputs)
{
    private readonly GenericStep _generic = generic;
    private readonly int _index = index;

    protected override void Execute(OnnxFrame frame)
    {
        if (frame.Memo is { } known && !frame.ShapesMayDependOnData && Volatile.Read(ref known.Outputs[_index]) is { } outputs)
        {
            for (int i = 0; i < Outputs.Length && i < outputs.Length; i++)
                if (Outputs[i] >= 0) frame.SetHost(Outputs[i], outputs[i]);
            return;
        }
        ComputeAndRemember(frame);
    }

    // Apart from Execute: a lambda capturing the frame there would allocate its closure on every call.
    private void ComputeAndRemember(OnnxFrame frame)
    {
        // Shape and Size read only their input's dimensions; the others must read host values only.
        bool shapesOnly = Node.OpType is "Shape" or "Size" || Inputs.All(s => s < 0 || frame.Host[s] is not null);
        var computed = _generic.Interpret(frame);
        if (frame.Memo is { } memo && !frame.ShapesMayDependOnData && shapesOnly && computed.All(o => o.Host is not null))
            Volatile.Write(ref memo.Outputs[_index], computed.Select(o => o.Host!).ToArray());
    }
}

/// <summary>A step with its attributes parsed once; cases it does not cover at run time go to the interpreter's code.</summary>
internal abstract class PreparedStep(GenericStep generic) : OnnxStep(generic.Node, generic.Inputs, generic.Outputs)
{
    protected GenericStep Generic { get; } = generic;

    protected void Fallback(OnnxFrame frame)
    {
        frame.ShapesMayDependOnData = true;
        Generic.Interpret(frame);
    }

    protected void SetOutput(OnnxFrame frame, Tensor y)
    {
        if (Outputs.Length > 0 && Outputs[0] >= 0) frame.SetDevice(Outputs[0], y);
    }

    /// <summary>True when inputs 0 .. count-1 are all named.</summary>
    protected static bool Named(GenericStep g, int count)
    {
        if (g.Inputs.Length < count) return false;
        for (int i = 0; i < count; i++)
            if (g.Inputs[i] < 0) return false;
        return true;
    }
}
