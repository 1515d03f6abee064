using System.Runtime.CompilerServices;

namespace Engine.Cpu;

/// <summary>
/// Test-only record of the 512-bit paths that ran. Every entry point that is 512-bit only (a kernel or copy made of
/// <c>Vector512</c> or <c>Avx512F</c> operations, which an AVX2-only CPU runs as slow software fallbacks or cannot run
/// at all) calls <see cref="Enter"/>; with <see cref="Enabled"/> set, each call is counted under its member's name,
/// so a test that sets <see cref="GemmKernels.ForceVector256"/> can show that nothing 512-bit ran. Off (the default),
/// an entry costs one load of a static flag and a branch.
/// </summary>
internal static class Wide512Meter
{
    /// <summary>Whether entries are counted (set by tests around the operations they check).</summary>
    internal static bool Enabled;

    private static readonly Dictionary<string, long> s_entries = [];

    /// <summary>Records one entry into the 512-bit-only member <paramref name="site"/> (when <see cref="Enabled"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Enter([CallerMemberName] string site = "")
    {
        if (Enabled) Count(site);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Count(string site)
    {
        lock (s_entries) s_entries[site] = s_entries.GetValueOrDefault(site) + 1;
    }

    /// <summary>Forgets every entry counted so far.</summary>
    internal static void Reset()
    {
        lock (s_entries) s_entries.Clear();
    }

    /// <summary>The entries counted since <see cref="Reset"/>, by member name.</summary>
    internal static IReadOnlyDictionary<string, long> Entries()
    {
        lock (s_entries) return new Dictionary<string, long>(s_entries);
    }
}
