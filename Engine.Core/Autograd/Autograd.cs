namespace Engine;

/// <summary>
/// One recorded operation: the tensor it produced, the tensors it read that need gradients, and the closure that
/// turns dOutput into their gradients (via <see cref="Autograd.Accumulate"/>). Sequence numbers grow with
/// creation, so sorting by them in reverse is a topological order of the graph.
/// </summary>
internal sealed class Node(long sequence, Tensor output, Tensor[] inputs, Action<Tensor> backward, string op)
{
    public readonly long Sequence = sequence;
    public readonly Tensor Output = output;
    public readonly Tensor[] Inputs = inputs;
    public Action<Tensor>? Backward = backward;
    public readonly string Op = op;
}

/// <summary>Reverse-mode automatic differentiation over the graph recorded while the forward pass runs.</summary>
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

    /// <summary>Records that <paramref name="output"/> came from <paramref name="inputs"/>; backward gets dOutput.</summary>
    internal static void Record(string op, Tensor output, Tensor?[] inputs, Action<Tensor> backward)
    {
        Inspection.Propagate(output, inputs);
        output.GradFn = new Node(Interlocked.Increment(ref s_sequence), output, Tracked(inputs), backward, op);
    }

    /// <summary>The inputs that need gradients: <paramref name="inputs"/> itself when all do (no copy), else a new array of them.</summary>
    private static Tensor[] Tracked(Tensor?[] inputs)
    {
        int count = 0;
        foreach (var t in inputs)
            if (t is not null && t.TracksGrad) count++;
        if (count == inputs.Length) return inputs!;
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
            if (t.Grad is null)
            {
                var g = Tensor.Empty(t.Backend, t.Shape).Keep();
                t.Backend.Copy(grad.Buffer, 0, g.Buffer, 0, g.Length);
                t.Grad = g;
            }
            else
            {
                t.Backend.Binary(BinaryOp.Add, t.Grad.Buffer, t.Shape, grad.Buffer, t.Shape, t.Grad.Buffer, t.Shape);
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
    /// Back-propagates <paramref name="seed"/> (dRoot) from <paramref name="root"/> through every recorded node that
    /// leads to it, iteratively (no recursion, so graphs of any depth work), in reverse creation order.
    /// </summary>
    internal static void Backward(Tensor root, Tensor seed)
    {
        if (!root.TracksGrad)
            throw new InvalidOperationException("backward: the tensor does not require grad and has no recorded history (was it computed under NoGrad, or from inputs that need no gradient?)");
        // taken off the thread while in use, so a backward run from inside a backward gets its own
        var nodes = t_nodes ?? [];
        var seen = t_seen ?? new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var stack = t_stack ?? new Stack<Tensor>();
        t_nodes = null;
        t_seen = null;
        t_stack = null;
        try
        {
            BackwardThrough(root, seed, nodes, seen, stack);
        }
        finally
        {
            nodes.Clear();
            seen.Clear();
            stack.Clear();
            t_nodes = nodes;
            t_seen = seen;
            t_stack = stack;
        }
    }

    private static void BackwardThrough(Tensor root, Tensor seed, List<Node> nodes, HashSet<Node> seen, Stack<Tensor> stack)
    {
        stack.Push(root);
        while (stack.Count > 0)
        {
            var node = stack.Pop().GradFn;
            if (node is null || !seen.Add(node)) continue;
            if (node.Backward is null)
                throw new InvalidOperationException($"backward: the graph through '{node.Op}' was already used by an earlier backward; run the forward pass again");
            nodes.Add(node);
            foreach (var input in node.Inputs) stack.Push(input);
        }
        nodes.Sort(static (a, b) => b.Sequence.CompareTo(a.Sequence));

        using var _ = NoGrad();
        Accumulate(root, seed);
        foreach (var node in nodes)
        {
            var output = node.Output;
            var dOutput = output.PendingGrad;
            output.PendingGrad = null;
            var backward = node.Backward!;
            node.Backward = null;
            if (dOutput is null) continue;
            if (output.RetainsGrad) output.Grad = dOutput.Keep();
            backward(dOutput);
        }
    }
}
