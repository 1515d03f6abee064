namespace Engine;

/// <summary>
/// Reverse-mode automatic differentiation over the graph recorded while the forward pass runs. An op records its
/// backward as a small struct (<see cref="IBackward"/>) in a pooled node; the backward pass runs in its own scope,
/// whose temporaries (gradients passed between nodes) go back to the thread's free lists when it ends, so a
/// steady-state training step allocates no nodes, closures or gradient handles.
/// </summary>
public static class Autograd
{
    [ThreadStatic] private static int t_noGradDepth;
    private static long s_sequence;

    /// <summary>True while operations are being recorded (outside any <see cref="NoGrad"/> region).</summary>
    public static bool IsEnabled => t_noGradDepth == 0;

    /// <summary>Stops recording until disposed: <c>using (Autograd.NoGrad()) { ... }</c>.</summary>
    public static NoGradRegion NoGrad()
    {
        t_noGradDepth++;
        return new NoGradRegion();
    }

    public readonly struct NoGradRegion : IDisposable
    {
        public void Dispose() => t_noGradDepth--;
    }

    /// <summary>True when any input needs a gradient and recording is on.</summary>
    internal static bool Needs(Tensor a) => IsEnabled && a.TracksGrad;
    internal static bool Needs(Tensor a, Tensor b) => IsEnabled && (a.TracksGrad || b.TracksGrad);
    internal static bool Needs(Tensor a, Tensor b, Tensor? c) => IsEnabled && (a.TracksGrad || b.TracksGrad || (c?.TracksGrad ?? false));

    /// <summary>
    /// Records that <paramref name="output"/> came from the given inputs (null, or ones that need no gradient, are
    /// skipped); the backward pass runs <paramref name="step"/> with dOutput. Allocates nothing in steady state.
    /// </summary>
    internal static void Record<TBackward>(string op, Tensor output, in TBackward step, Tensor? input0, Tensor? input1 = null, Tensor? input2 = null, Tensor? input3 = null)
        where TBackward : struct, IBackward
    {
        Inspection.Propagate(output, input0, input1, input2, input3);
        output.GradFn = Node<TBackward>.Rent(Interlocked.Increment(ref s_sequence), output, op, step,
            TrackedOrNull(input0), TrackedOrNull(input1), TrackedOrNull(input2), TrackedOrNull(input3), null);
    }

    /// <summary>Records an op with any number of inputs (when more than four are tracked, all go in a new array).</summary>
    internal static void Record<TBackward>(string op, Tensor output, in TBackward step, Tensor?[] inputs)
        where TBackward : struct, IBackward
    {
        Inspection.Propagate(output, inputs);
        Tensor? input0 = null, input1 = null, input2 = null, input3 = null;
        int count = 0;
        foreach (var t in inputs)
        {
            if (TrackedOrNull(t) is not { } tracked) continue;
            if (count == 0) input0 = tracked;
            else if (count == 1) input1 = tracked;
            else if (count == 2) input2 = tracked;
            else if (count == 3) input3 = tracked;
            count++;
        }
        bool inline = count <= 4;
        output.GradFn = Node<TBackward>.Rent(Interlocked.Increment(ref s_sequence), output, op, step,
            inline ? input0 : null, inline ? input1 : null, inline ? input2 : null, inline ? input3 : null, inline ? null : Tracked(inputs));
    }

    /// <summary>Records an op whose backward is a closure (the older form; it allocates the closure per op).</summary>
    internal static void Record(string op, Tensor output, Tensor?[] inputs, Action<Tensor> backward) =>
        Record(op, output, new ClosureBackward(backward), inputs);

    private static Tensor? TrackedOrNull(Tensor? t) => t is not null && t.TracksGrad ? t : null;

    /// <summary>The inputs that need gradients, as a new array.</summary>
    private static Tensor[] Tracked(Tensor?[] inputs)
    {
        int count = 0;
        foreach (var t in inputs)
            if (t is not null && t.TracksGrad) count++;
        var tracked = new Tensor[count];
        count = 0;
        foreach (var t in inputs)
            if (t is not null && t.TracksGrad) tracked[count++] = t;
        return tracked;
    }

    // The graph walk's collections, reused by the next backward on this thread (cleared after each).
    [ThreadStatic] private static List<Node>? t_nodes;
    [ThreadStatic] private static HashSet<Node>? t_seen;
    [ThreadStatic] private static Stack<Tensor>? t_stack;

    /// <summary>
    /// Adds <paramref name="grad"/> into the gradient of <paramref name="t"/>: into <see cref="Tensor.Grad"/> for a
    /// leaf that requires grad (kept across steps, accumulating as in PyTorch), else into its pending gradient.
    /// </summary>
    internal static void Accumulate(Tensor t, Tensor grad)
    {
        if (!t.TracksGrad) return;
        if (grad.Shape != t.Shape)
            throw new InvalidOperationException($"internal: gradient of shape {grad.Shape} for a tensor of shape {t.Shape}");
        if (t.GradFn is null)
        {
            var current = t.GradToAccumulate(out bool overwrite);
            if (current is null)
            {
                var g = Tensor.Empty(t.Backend, t.Shape).Keep();
                t.Backend.Copy(grad.Buffer, 0, g.Buffer, 0, g.Length);
                t.Grad = g;
            }
            else if (overwrite)
            {
                // zeroed by ZeroGrad and not written since: 0 + grad is grad
                t.Backend.Copy(grad.Buffer, 0, current.Buffer, 0, current.Length);
            }
            else
            {
                t.Backend.Binary(BinaryOp.Add, current.Buffer, t.Shape, grad.Buffer, t.Shape, current.Buffer, t.Shape);
            }
            return;
        }
        if (t.PendingGrad is null)
        {
            t.PendingGrad = grad;
            return;
        }
        var sum = Tensor.Empty(t.Backend, t.Shape);
        t.Backend.Binary(BinaryOp.Add, t.PendingGrad.Buffer, t.Shape, grad.Buffer, t.Shape, sum.Buffer, t.Shape);
        t.PendingGrad = sum;
    }

    /// <summary>
    /// Back-propagates <paramref name="seed"/> (dRoot; ones when null) from <paramref name="root"/> through every
    /// recorded node that leads to it, iteratively (no recursion, so graphs of any depth work), in reverse creation
    /// order. Runs in an engine scope of its own: the gradients passed between nodes are dead once it returns (only
    /// leaf gradients and retained ones, which are kept, survive), so their handles are recycled.
    /// </summary>
    internal static void Backward(Tensor root, Tensor? seed)
    {
        if (!root.TracksGrad)
            throw new InvalidOperationException("backward: the tensor does not require grad and has no recorded history (was it computed under NoGrad, or from inputs that need no gradient?)");
        _ = root.Buffer; // a released root fails here, naming the release, instead of deep inside the graph
        // taken off the thread while in use, so a backward run from inside a backward gets its own
        var nodes = t_nodes ?? [];
        var seen = t_seen ?? new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var stack = t_stack ?? new Stack<Tensor>();
        t_nodes = null;
        t_seen = null;
        t_stack = null;
        try
        {
            using var scope = Scope.BeginBackward();
            CollectNodes(root, nodes, seen, stack);
            RunNodes(root, seed ?? Tensor.Ones(root.Backend, root.Shape), nodes);
        }
        finally
        {
            // after a failure, gradients still pending point at the scope's released tensors
            foreach (var node in nodes)
                if (!node.IsConsumed) node.Output.PendingGrad = null;
            nodes.Clear();
            seen.Clear();
            stack.Clear();
            t_nodes = nodes;
            t_seen = seen;
            t_stack = stack;
        }
    }

    /// <summary>The nodes that lead to <paramref name="root"/>, newest first.</summary>
    private static void CollectNodes(Tensor root, List<Node> nodes, HashSet<Node> seen, Stack<Tensor> stack)
    {
        stack.Push(root);
        while (stack.Count > 0)
        {
            var node = stack.Pop().GradFn;
            if (node is null || !seen.Add(node)) continue;
            if (node.IsConsumed)
                throw new InvalidOperationException($"backward: the graph through '{node.Op}' was already used by an earlier backward; run the forward pass again");
            nodes.Add(node);
            node.PushInputs(stack);
        }
        nodes.Sort(static (a, b) => b.Sequence.CompareTo(a.Sequence));
    }

    /// <summary>Runs each node once its dOutput is complete, then gives the node back to its pool.</summary>
    private static void RunNodes(Tensor root, Tensor seed, List<Node> nodes)
    {
        using var _ = NoGrad();
        Accumulate(root, seed);
        for (int i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            var output = node.Output;
            var dOutput = output.PendingGrad;
            output.PendingGrad = null;
            output.GradFn = ConsumedNode.For(node.Op);
            if (dOutput is not null)
            {
                if (output.RetainsGrad) output.Grad = dOutput.Keep();
                node.Run(dOutput);
            }
            node.Release();
            // the released node may be reused at once (even by a backward inside this one), so it leaves the list
            nodes[i] = output.GradFn;
        }
    }
}
