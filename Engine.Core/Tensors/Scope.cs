namespace Engine;

/// <summary>
/// Owns every tensor created on this thread while it is the innermost open scope, and releases their storage
/// when disposed, except tensors that were kept. A training step opens one, so intermediates never need
/// disposing by hand:
/// <code>using (Scope.Begin()) { var loss = ...; loss.Backward(); optimizer.Step(); }</code>
/// <see cref="BeginRecycling"/> opens one whose tensor handles are reused, for steps that allocate nothing.
/// </summary>
public sealed class Scope : IDisposable
{
    [ThreadStatic] private static Scope? t_current;

    // The lists of disposed scopes, reused by the next ones on this thread: modules open a scope per forward call
    // in inference, and a fresh list each time would be most of a call's garbage.
    [ThreadStatic] private static Stack<List<Tensor>>? t_spareLists;
    private const int MaxSpareLists = 64;

    // Scope objects of pooled scopes, reused on this thread: the engine's own (internal) ones never reach user code,
    // and the contract of BeginRecycling forbids touching one after it is disposed.
    [ThreadStatic] private static Stack<Scope>? t_spareScopes;

    private Scope? _parent;
    private List<Tensor>? _owned;
    private bool _internal;

    // Counts the openings of this (pooled) object, so a RecyclingScope handle from an earlier opening is known as stale.
    private int _generation;

    // Set when a tensor with a graph backward has not run yet is promoted out: its graph may reach this scope's tensors.
    private bool _graphEscaped;

    /// <summary>
    /// Whether the tensor handles this scope releases go back to the thread's free list for reuse (see
    /// <see cref="BeginRecycling"/>); nested internal scopes inherit it.
    /// </summary>
    internal bool Recycles { get; private set; }

    private Scope(Scope? parent) => Open(parent, recycles: false, isInternal: false);

    private void Open(Scope? parent, bool recycles, bool isInternal)
    {
        _parent = parent;
        _internal = isInternal;
        _graphEscaped = false;
        _generation++;
        Recycles = recycles;
        _owned = t_spareLists is { Count: > 0 } spare ? spare.Pop() : new List<Tensor>(16);
    }

    public static Scope Begin() => t_current = new Scope(t_current);

    /// <summary>
    /// An engine-internal scope (a module's forward in inference, a predictor call): its object is reused, and it
    /// recycles tensor handles when its parent does.
    /// </summary>
    internal static Scope BeginInternal() => BeginPooled(t_current?.Recycles ?? false);

    /// <summary>
    /// A scope like <see cref="Begin"/> (what it owns is released, never recycled) whose object is pooled, for the
    /// engine's scopes around user code that run once per training step (a per-batch callback).
    /// </summary>
    internal static Scope BeginReleasing() => BeginPooled(recycles: false);

    /// <summary>
    /// A scope whose released tensor handles (and the scope object itself) are reused by later tensors and scopes of
    /// this thread, so a steady-state training step or predictor call allocates no handles:
    /// <code>using (Scope.BeginRecycling()) { optimizer.ZeroGrad(); var loss = ...; loss.Backward(); optimizer.Step(); }</code>
    /// The contract: nothing made inside is used after the scope ends, except tensors kept with <see cref="Tensor.Keep"/>
    /// (never recycled). The scope object behind the returned handle is reused by later scopes of this thread, so the
    /// handle remembers which opening it belongs to: disposing it again is harmless even after the object was reused.
    /// A tensor used after its scope ended throws until its handle is reused, and then reads whatever reused it; with
    /// <see cref="Begin"/> it always throws.
    /// Handles with a graph that backward has not run yet are not recycled, nor is anything of a scope that keeps or
    /// promotes such a tensor (a later backward could reach the rest of its graph). Module observers and inspections
    /// keep tensors, so recycling is off while one is active.
    /// </summary>
    public static RecyclingScope BeginRecycling()
    {
        var scope = BeginPooled(!Nn.Module.IsObserved && Inspection.Current is null);
        return new RecyclingScope(scope, scope._generation);
    }

    /// <summary>Whether this object is still open in the opening a <see cref="RecyclingScope"/> handle was made for.</summary>
    internal bool IsOpen(int generation) => _generation == generation && _owned is not null;

    /// <summary>
    /// The scope of one backward pass: what it makes is dead when the pass returns (gradients passed between nodes)
    /// except leaf and retained gradients, which are kept, so its handles are recycled whatever the enclosing scope.
    /// </summary>
    internal static Scope BeginBackward() => BeginPooled(!Nn.Module.IsObserved && Inspection.Current is null);

    private static Scope BeginPooled(bool recycles)
    {
        var scope = t_spareScopes is { Count: > 0 } spare ? spare.Pop() : new Scope(null);
        scope.Open(t_current, recycles, isInternal: true);
        return t_current = scope;
    }

    /// <summary>The innermost open scope of this thread, if any.</summary>
    internal static Scope? Current => t_current;

    internal static void Register(Tensor t) => t_current?._owned?.Add(t);

    /// <summary>
    /// Hands <paramref name="t"/> to the enclosing scope (or to no scope: the GC), so it outlives this one.
    /// Does nothing if this scope does not own it.
    /// </summary>
    public void Promote(Tensor t)
    {
        int at = _owned?.LastIndexOf(t) ?? -1;
        if (at < 0) return;
        _owned!.RemoveAt(at);
        _parent?._owned?.Add(t);
        if (t.HasLiveGraph) _graphEscaped = true;
    }

    /// <summary>Whether a kept tensor still has a graph that a later backward could run through the others.</summary>
    private static bool KeepsLiveGraph(List<Tensor> owned)
    {
        foreach (var t in owned)
            if (t.IsKept && t.HasLiveGraph) return true;
        return false;
    }

    /// <summary>Number of tensors this scope owns (kept ones included).</summary>
    public int Count => _owned?.Count ?? 0;

    public void Dispose()
    {
        if (_owned is not { } owned) return;
        if (!ReferenceEquals(t_current, this))
            throw new InvalidOperationException("scopes must be disposed in reverse order of opening, on the thread that opened them");
        _owned = null;
        t_current = _parent;
        bool recycle = Recycles && !_graphEscaped && !KeepsLiveGraph(owned);
        foreach (var t in owned)
        {
            if (t.IsKept) continue;
            if (recycle) t.Recycle();
            else t.ReleaseStorage();
        }
        owned.Clear();
        var spare = t_spareLists ??= new Stack<List<Tensor>>();
        if (spare.Count < MaxSpareLists) spare.Push(owned);
        if (!_internal) return;
        _parent = null;
        var scopes = t_spareScopes ??= new Stack<Scope>();
        if (scopes.Count < MaxSpareLists) scopes.Push(this);
    }
}

/// <summary>
/// A handle to a scope opened by <see cref="Scope.BeginRecycling"/>. The scope object is pooled per thread, so the
/// handle carries the opening it was made for: a second <see cref="Dispose"/> does nothing even when the object
/// already serves a newer scope, and <see cref="Promote"/> on a stale handle throws instead of acting on that scope.
/// </summary>
public readonly struct RecyclingScope : IDisposable
{
    private readonly Scope? _scope;
    private readonly int _generation;

    internal RecyclingScope(Scope scope, int generation)
    {
        _scope = scope;
        _generation = generation;
    }

    /// <summary>Whether the scope this handle opened has not been disposed yet.</summary>
    public bool IsOpen => _scope is not null && _scope.IsOpen(_generation);

    /// <summary>Number of tensors the scope owns (kept ones included); 0 once it is disposed.</summary>
    public int Count => IsOpen ? _scope!.Count : 0;

    /// <summary>See <see cref="Scope.Promote"/>; throws if this handle's scope has already been disposed.</summary>
    public void Promote(Tensor t)
    {
        if (!IsOpen) throw new ObjectDisposedException(nameof(RecyclingScope), "Promote: expected an open recycling scope, got one that was already disposed");
        _scope!.Promote(t);
    }

    /// <summary>Closes the scope if this handle's opening is still open; otherwise does nothing.</summary>
    public void Dispose()
    {
        if (IsOpen) _scope!.Dispose();
    }
}
