namespace Engine;

/// <summary>
/// Owns every tensor created on this thread while it is the innermost open scope, and releases their storage
/// when disposed, except tensors that were kept. A training step opens one, so intermediates never need
/// disposing by hand:
/// <code>using (Scope.Begin()) { var loss = ...; loss.Backward(); optimizer.Step(); }</code>
/// </summary>
public sealed class Scope : IDisposable
{
    [ThreadStatic] private static Scope? t_current;

    // The lists of disposed scopes, reused by the next ones on this thread: modules open a scope per forward call
    // in inference, and a fresh list each time would be most of a call's garbage.
    [ThreadStatic] private static Stack<List<Tensor>>? t_spareLists;
    private const int MaxSpareLists = 64;

    private readonly Scope? _parent;
    private List<Tensor>? _owned;

    private Scope(Scope? parent)
    {
        _parent = parent;
        _owned = t_spareLists is { Count: > 0 } spare ? spare.Pop() : new List<Tensor>(16);
    }

    public static Scope Begin() => t_current = new Scope(t_current);

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
        foreach (var t in owned)
            if (!t.IsKept) t.ReleaseStorage();
        owned.Clear();
        var spare = t_spareLists ??= new Stack<List<Tensor>>();
        if (spare.Count < MaxSpareLists) spare.Push(owned);
    }
}
