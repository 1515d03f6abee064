namespace Engine.Cpu;

/// <summary>
/// Convolution weights packed once for the forward GEMM, kept on their <see cref="CpuBuffer"/> while it is unchanged.
/// Per group g, the A operand L = W_g^T (CRS x Kg) in the driver's micro-panels: for each KC block starting at row k0,
/// ceil(Kg / mr) panels of kc x mr floats, block (g, k0) at g * CRS * KgPadded + k0 * KgPadded. The bits are exactly
/// those the driver would pack per call, so a cached forward equals an uncached one.
/// Policy: the first forward that sees a version only notes it; a second forward at the same version packs and keeps the
/// copy, and later ones read it. Training (weights written every step) thus never pays for a copy it cannot reuse.
/// Staleness: every writable access to the buffer bumps its version, and a copy is only read at the version it was made.
/// </summary>
internal sealed unsafe class PackedWeights
{
    private PackedWeights(long version, int mr, int groups, int kg, int crs, AlignedScratch? data)
    {
        Version = version;
        Mr = mr;
        Groups = groups;
        Kg = kg;
        Crs = crs;
        Data = data;
    }

    public long Version { get; private set; }
    public int Mr { get; private set; }
    public int Groups { get; private set; }
    public int Kg { get; private set; }
    public int Crs { get; private set; }

    /// <summary>The packed panels, or null while the version has been seen only once.</summary>
    private AlignedScratch? Data { get; }

    /// <summary>Whether the panels are there (false while the version has been seen only once).</summary>
    public bool IsPacked => Data is not null;

    public int KgPadded => GemmDriver.CeilDiv(Kg, Mr) * Mr;

    /// <summary>Group g's operand for <see cref="GemmDriver.Run{TA,TB}"/>.</summary>
    public PrepackedSource Group(int g) => new(Data!.Pointer + (nint)g * Crs * KgPadded, KgPadded);

    private bool Fits(long version, int mr, int groups, int kg, int crs) =>
        Version == version && Mr == mr && Groups == groups && Kg == kg && Crs == crs;

    /// <summary>
    /// The packed weights of w (G groups of Kg x CRS, row-major) if this is at least the second forward to see w
    /// unchanged; otherwise null (the caller packs per call as usual).
    /// </summary>
    public static PackedWeights? For(CpuBuffer w, int groups, int kg, int crs, WorkerPool pool)
    {
        long version = w.Version;
        int mr = GemmKernels.Use512 ? GemmKernels.Mr512 : GemmKernels.Mr256;
        var seen = w.Packed;
        if (seen is not null && seen.Fits(version, mr, groups, kg, crs))
        {
            if (seen.Data is not null) return seen;
            var packed = Pack(w, version, mr, groups, kg, crs, pool);
            w.Packed = packed;
            return packed;
        }
        if (seen is { Data: null })
        {
            // a training step writes the weights every time: note the new version in the same marker, allocating nothing
            (seen.Version, seen.Mr, seen.Groups, seen.Kg, seen.Crs) = (version, mr, groups, kg, crs);
            return null;
        }
        w.Packed = new PackedWeights(version, mr, groups, kg, crs, null);
        return null;
    }

    private static PackedWeights Pack(CpuBuffer w, long version, int mr, int groups, int kg, int crs, WorkerPool pool)
    {
        int kgPadded = GemmDriver.CeilDiv(kg, mr) * mr, kBlocks = GemmDriver.CeilDiv(crs, GemmDriver.KcBlock);
        var data = new AlignedScratch((long)groups * crs * kgPadded);
        float* packed = data.Pointer;
        fixed (float* pw = w.ReadArray)
        {
            float* weights = pw;
            // block (g, k0): rows [k0, k0 + kc) of L = W_g^T, all Kg columns, as the driver packs them per call
            pool.For(groups * kBlocks, block =>
            {
                int g = block / kBlocks, k0 = block % kBlocks * GemmDriver.KcBlock, kc = Math.Min(GemmDriver.KcBlock, crs - k0);
                var source = new DenseSource(weights + (nint)g * kg * crs, crs, kMajor: false);
                source.Pack(packed + (nint)g * crs * kgPadded + (nint)k0 * kgPadded, k0, kc, 0, kg, mr);
            });
        }
        return new PackedWeights(version, mr, groups, kg, crs, data);
    }
}
