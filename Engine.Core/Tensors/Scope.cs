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

    private readonly Scope? _parent;
    private readonly List<Tensor> _owned = new(256);
    private bool _disposed;

    private Scope(Scope? parent) => _parent = parent;

    public static Scope Begin() => t_current = new Scope(t_current);

    internal static void Register(Tensor t) => t_current?._owned.Add(t);

    /// <summary>
    /// Hands <paramref name="t"/> to the enclosing scope (or to no scope: the GC), so it outlives this one.
    /// Does nothing if this scope does not own it.
    /// </summary>
    public void Promote(Tensor t)
    {
        int at = _owned.LastIndexOf(t);
        if (at < 0) return;
        _owned.RemoveAt(at);
        _parent?._owned.Add(t);
    }

    /// <summary>Number of tensors this scope owns (kept ones included).</summary>
    public int Count => _owned.Count;

    public void Dispose()
    {
        if (_disposed) return;
        if (!ReferenceEquals(t_current, this))
            throw new InvalidOperationException("scopes must be disposed in reverse order of opening, on the thread that opened them");
        _disposed = true;
        t_current = _parent;
        foreach (var t in _owned)
            if (!t.IsKept) t.ReleaseStorage();
        _owned.Clear();
    }
}
