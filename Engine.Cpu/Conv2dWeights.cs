namespace Engine.Cpu;

/// <summary>
/// Convolution weights packed once as a GEMM's A operand, kept on their <see cref="CpuBuffer"/> while it is unchanged.
/// Per group g, a logical matrix L (Depth x M) in the driver's micro-panels: for each KC block starting at row k0,
/// ceil(M / mr) panels of kc x mr floats, block (g, k0) at g * Depth * MPadded + k0 * MPadded. Two layouts:
/// the forward's L = W_g^T (CRS x Kg; <see cref="Buffer.Packed"/>), and the data gradient's flipped, transposed
/// weights L[k*RS + t', c] = W_g[k, c, RS-1-t'] (Kg*RS x Cg; <see cref="Buffer.Flipped"/>, see
/// <see cref="FlippedWeightsSource"/>). The bits are exactly those the driver would pack per call, so a cached GEMM
/// equals an uncached one.
/// Policy: the first call that sees a version only notes it; a second call at the same version packs and keeps the
/// copy, and later ones read it. Training (weights written every step) thus never pays for a copy it cannot reuse.
/// Staleness: every writable access to the buffer bumps its version, and a copy is only read at the version it was made.
/// </summary>
internal sealed unsafe class PackedWeights
{
    /// <summary>Which packed copy of a weight buffer: the forward's, or the data gradient's flipped one.</summary>
    internal enum Buffer
    {
        Packed,
        Flipped,
    }

    private PackedWeights(long version, int mr, int groups, int m, int depth, int rs, AlignedScratch? data)
    {
        Version = version;
        Mr = mr;
        Groups = groups;
        M = m;
        Depth = depth;
        Rs = rs;
        Data = data;
    }

    public long Version { get; private set; }
    public int Mr { get; private set; }
    public int Groups { get; private set; }

    /// <summary>Columns of L per group: Kg (forward) or Cg (flipped).</summary>
    public int M { get; private set; }

    /// <summary>Rows of L per group: CRS (forward) or Kg*RS (flipped).</summary>
    public int Depth { get; private set; }

    /// <summary>Taps per kernel for the flipped layout; 0 for the forward's.</summary>
    public int Rs { get; private set; }

    /// <summary>The packed panels, or null while the version has been seen only once.</summary>
    private AlignedScratch? Data { get; }

    /// <summary>Whether the panels are there (false while the version has been seen only once).</summary>
    public bool IsPacked => Data is not null;

    public int MPadded => GemmDriver.CeilDiv(M, Mr) * Mr;

    /// <summary>Group g's operand for <see cref="GemmDriver.Run{TA,TB}"/>.</summary>
    public PrepackedSource Group(int g) => new(Data!.Pointer + (nint)g * Depth * MPadded, MPadded);

    private bool Fits(long version, int mr, int groups, int m, int depth, int rs) =>
        Version == version && Mr == mr && Groups == groups && M == m && Depth == depth && Rs == rs;

    /// <summary>
    /// The forward's packed weights of w (G groups of Kg x CRS, row-major) if this is at least the second forward to see
    /// w unchanged; otherwise null (the caller packs per call as usual).
    /// </summary>
    public static PackedWeights? For(CpuBuffer w, int groups, int kg, int crs, WorkerPool pool) =>
        For(w, Buffer.Packed, groups, kg, crs, 0, pool);

    /// <summary>
    /// The data gradient's flipped weights of w (G groups of Kg x Cg x RS) if this is at least the second data gradient
    /// to see w unchanged; otherwise null.
    /// </summary>
    public static PackedWeights? Flipped(CpuBuffer w, int groups, int kg, int cg, int rs, WorkerPool pool) =>
        For(w, Buffer.Flipped, groups, cg, kg * rs, rs, pool);

    private static PackedWeights? For(CpuBuffer w, Buffer which, int groups, int m, int depth, int rs, WorkerPool pool)
    {
        long version = w.Version;
        int mr = GemmKernels.Use512 ? GemmKernels.Mr512 : GemmKernels.Mr256;
        var seen = which == Buffer.Packed ? w.Packed : w.Flipped;
        if (seen is not null && seen.Fits(version, mr, groups, m, depth, rs))
        {
            if (seen.Data is not null) return seen;
            var packed = Pack(w, version, mr, groups, m, depth, rs, pool);
            Keep(w, which, packed);
            return packed;
        }
        if (seen is { Data: null })
        {
            // a training step writes the weights every time: note the new version in the same marker, allocating nothing
            (seen.Version, seen.Mr, seen.Groups, seen.M, seen.Depth, seen.Rs) = (version, mr, groups, m, depth, rs);
            return null;
        }
        Keep(w, which, new PackedWeights(version, mr, groups, m, depth, rs, null));
        return null;
    }

    private static void Keep(CpuBuffer w, Buffer which, PackedWeights packed)
    {
        if (which == Buffer.Packed) w.Packed = packed;
        else w.Flipped = packed;
    }

    private static PackedWeights Pack(CpuBuffer w, long version, int mr, int groups, int m, int depth, int rs, WorkerPool pool)
    {
        int mPadded = GemmDriver.CeilDiv(m, mr) * mr, kBlocks = GemmDriver.CeilDiv(depth, GemmDriver.KcBlock);
        var data = new AlignedScratch((long)groups * depth * mPadded);
        fixed (float* pw = w.ReadArray)
        {
            // block (g, k0): rows [k0, k0 + kc) of L, all M columns, as the driver packs them per call
            pool.For(groups * kBlocks, ((nint)pw, (nint)data.Pointer, kBlocks, mr, m, depth, rs, mPadded), static (s, block) =>
            {
                var (weightsAt, packedAt, kBlocks, mr, m, depth, rs, mPadded) = s;
                int g = block / kBlocks, k0 = block % kBlocks * GemmDriver.KcBlock, kc = Math.Min(GemmDriver.KcBlock, depth - k0);
                float* weights = (float*)weightsAt + (nint)g * m * depth, target = (float*)packedAt + (nint)g * depth * mPadded + (nint)k0 * mPadded;
                if (rs == 0) new DenseSource(weights, depth, kMajor: false).Pack(target, k0, kc, 0, m, mr);
                else new FlippedWeightsSource(weights, m, rs).Pack(target, k0, kc, 0, m, mr);
            });
        }
        return new PackedWeights(version, mr, groups, m, depth, rs, data);
    }
}
