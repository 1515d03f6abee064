using System.Runtime.CompilerServices;

namespace Engine.Cpu;

/// <summary>
/// Test-only record of the 512-bit paths that ran. Every entry point that is 512-bit only (a kernel or copy made of
/// <c>Vector512</c> or <c>Avx512F</c> operations, which an AVX2-only CPU runs as slow software fallbacks or cannot run
/// at all) calls <see cref="Enter"/> (or <see cref="Tick"/> for the helpers inlined into hot loops); with
/// <see cref="Enabled"/> set, each call is counted under its member's name,
/// so a test that sets <see cref="GemmKernels.ForceVector256"/> can show that nothing 512-bit ran. Off (the default),
/// an entry costs one load of a static flag and a branch.
/// </summary>
internal static class Wide512Meter
{
    /// <summary>Whether entries are counted (set by tests around the operations they check).</summary>
    internal static bool Enabled;

    /// <summary>
    /// The named entries, in a class of their own: the meter itself has no static initializer, so code compiled before
    /// its first use reads <see cref="Enabled"/> without a class-initialization check.
    /// </summary>
    private static class Sites
    {
        internal static readonly Dictionary<string, long> Entries = [];
    }

    /// <summary>
    /// Entries of the small 512-bit helpers inlined into hot loops, counted through <see cref="Tick"/> (no call on the
    /// path, so the loops around them keep their vector registers).
    /// </summary>
    internal static long PanelCopies, Transposes, RowAdds;

    /// <summary>Records one entry into the 512-bit-only member <paramref name="site"/> (when <see cref="Enabled"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Enter([CallerMemberName] string site = "")
    {
        if (Enabled) Count(site);
    }

    /// <summary>Records one entry of an inlined helper in <paramref name="counter"/> (when <see cref="Enabled"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Tick(ref long counter)
    {
        if (Enabled) Interlocked.Increment(ref counter);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Count(string site)
    {
        var entries = Sites.Entries;
        lock (entries) entries[site] = entries.GetValueOrDefault(site) + 1;
    }

    /// <summary>Forgets every entry counted so far.</summary>
    internal static void Reset()
    {
        lock (Sites.Entries) Sites.Entries.Clear();
        Interlocked.Exchange(ref PanelCopies, 0);
        Interlocked.Exchange(ref Transposes, 0);
        Interlocked.Exchange(ref RowAdds, 0);
    }

    /// <summary>The entries counted since <see cref="Reset"/>, by member name.</summary>
    internal static IReadOnlyDictionary<string, long> Entries()
    {
        var entries = new Dictionary<string, long>();
        lock (Sites.Entries)
            foreach (var (site, count) in Sites.Entries) entries[site] = count;
        (string Site, long Count)[] inlined =
            [("PanelCopy", Interlocked.Read(ref PanelCopies)), ("PanelTranspose.Block16", Interlocked.Read(ref Transposes)), ("RowAdds", Interlocked.Read(ref RowAdds))];
        foreach (var (site, count) in inlined)
            if (count > 0) entries[site] = count;
        return entries;
    }
}
