using System.Collections.Concurrent;

namespace Engine;

/// <summary>
/// One op's backward as a value: what the forward saved (input tensors, outputs, geometry) and the step from dOutput
/// to the inputs' gradients (each handed to <see cref="Autograd.Accumulate"/>). Ops write it as a small readonly
/// struct beside the forward and record it with <c>Autograd.Record</c>; it lives in a pooled
/// <see cref="Node{TBackward}"/>, so recording an op allocates nothing in steady state.
/// </summary>
internal interface IBackward
{
    void Backward(Tensor dOutput);
}

/// <summary>
/// One recorded operation: the tensor it produced, the inputs that need gradients (up to four inline, more in an
/// array), and its backward. Sequence numbers grow with creation, so sorting by them in reverse is a topological order
/// of the graph. A node belongs to the graph until a backward pass runs it; then it goes back to its pool and its
/// output points at <see cref="ConsumedNode"/> instead, which still names the op for the "already used" error.
/// </summary>
internal abstract class Node
{
    private Tensor? _input0, _input1, _input2, _input3;
    private Tensor[]? _moreInputs;

    public long Sequence { get; private set; }
    public Tensor Output { get; private set; } = null!;
    public string Op { get; private set; } = "";

    /// <summary>True for the stand-in of a node a backward pass already ran.</summary>
    public virtual bool IsConsumed => false;

    protected void Set(long sequence, Tensor output, string op, Tensor? input0, Tensor? input1, Tensor? input2, Tensor? input3, Tensor[]? moreInputs)
    {
        Sequence = sequence;
        Output = output;
        Op = op;
        _input0 = input0;
        _input1 = input1;
        _input2 = input2;
        _input3 = input3;
        _moreInputs = moreInputs;
    }

    protected void Clear() => Set(0, null!, "", null, null, null, null, null);

    /// <summary>Pushes the inputs that needed a gradient when the op was recorded.</summary>
    public void PushInputs(Stack<Tensor> stack)
    {
        if (_input0 is not null) stack.Push(_input0);
        if (_input1 is not null) stack.Push(_input1);
        if (_input2 is not null) stack.Push(_input2);
        if (_input3 is not null) stack.Push(_input3);
        if (_moreInputs is null) return;
        foreach (var t in _moreInputs) stack.Push(t);
    }

    /// <summary>Turns dOutput into the inputs' gradients.</summary>
    public abstract void Run(Tensor dOutput);

    /// <summary>Drops what the node saved and returns it to its pool (only once no tensor points at it).</summary>
    public abstract void Release();
}

/// <summary>A node holding one op's backward state; instances are reused per thread and per state type.</summary>
internal sealed class Node<TBackward> : Node where TBackward : struct, IBackward
{
    private const int MaxSpare = 1024;
    [ThreadStatic] private static Stack<Node<TBackward>>? t_spare;

    private TBackward _step;

    public static Node<TBackward> Rent(long sequence, Tensor output, string op, in TBackward step,
        Tensor? input0, Tensor? input1, Tensor? input2, Tensor? input3, Tensor[]? moreInputs)
    {
        var node = t_spare is { Count: > 0 } spare ? spare.Pop() : new Node<TBackward>();
        node.Set(sequence, output, op, input0, input1, input2, input3, moreInputs);
        node._step = step;
        return node;
    }

    public override void Run(Tensor dOutput) => _step.Backward(dOutput);

    public override void Release()
    {
        _step = default;
        Clear();
        var spare = t_spare ??= new Stack<Node<TBackward>>();
        if (spare.Count < MaxSpare) spare.Push(this);
    }
}

/// <summary>
/// What a computed tensor's <see cref="Tensor.GradFn"/> points at once a backward pass ran its node: still a
/// computed tensor (not a leaf), but running it again fails naming the op. One shared instance per op name.
/// </summary>
internal sealed class ConsumedNode : Node
{
    private static readonly ConcurrentDictionary<string, ConsumedNode> s_byOp = new(StringComparer.Ordinal);

    private ConsumedNode(string op) => Set(0, null!, op, null, null, null, null, null);

    public static ConsumedNode For(string op) => s_byOp.TryGetValue(op, out var node) ? node : s_byOp.GetOrAdd(op, static o => new ConsumedNode(o));

    public override bool IsConsumed => true;

    public override void Run(Tensor dOutput) =>
        throw new InvalidOperationException($"backward: the graph through '{Op}' was already used by an earlier backward; run the forward pass again");

    public override void Release() { }
}

/// <summary>A backward written as a closure (the older form, still accepted): allocates its delegate per op.</summary>
internal readonly struct ClosureBackward(Action<Tensor> backward) : IBackward
{
    public void Backward(Tensor dOutput) => backward(dOutput);
}
