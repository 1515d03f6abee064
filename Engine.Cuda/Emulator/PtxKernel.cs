namespace Engine.Cuda.Emulator;

/// <summary>A <c>.param</c> of an entry: its byte offset in the packed param space and its size.</summary>
internal readonly record struct PtxParam(string Name, string Type, int Offset, int Size);

/// <summary>
/// One decoded <c>.entry</c>: instructions with resolved registers and labels, the register-file template
/// (special registers first, then declared registers, then constants), params and shared-memory layout.
/// </summary>
internal sealed class PtxKernel
{
    /// <summary>Slots of the special registers at the start of every thread's register file.</summary>
    internal const int TidX = 0, TidY = 1, TidZ = 2, NtidX = 3, NtidY = 4, NtidZ = 5,
        CtaidX = 6, CtaidY = 7, CtaidZ = 8, NctaidX = 9, NctaidY = 10, NctaidZ = 11, LaneId = 12, WarpId = 13, SpecialCount = 14;

    internal static readonly string[] SpecialNames =
    [
        "%tid.x", "%tid.y", "%tid.z", "%ntid.x", "%ntid.y", "%ntid.z",
        "%ctaid.x", "%ctaid.y", "%ctaid.z", "%nctaid.x", "%nctaid.y", "%nctaid.z", "%laneid", "%warpid",
    ];

    public required string Name { get; init; }
    public required Instruction[] Code { get; init; }
    /// <summary>Source text of each instruction, for error messages.</summary>
    public required string[] Source { get; init; }
    /// <summary>Register-file template: constants filled in, every other slot zero.</summary>
    public required ulong[] Template { get; init; }
    public required PtxParam[] Params { get; init; }
    public int ParamBytes => Params.Length == 0 ? 0 : Params[^1].Offset + Params[^1].Size;
    /// <summary>Bytes of static <c>.shared</c> declarations; dynamic shared memory starts here.</summary>
    public required int StaticSharedBytes { get; init; }
    /// <summary>Largest block size allowed by <c>.maxntid</c> (0 when not declared).</summary>
    public int MaxThreads { get; init; }

    public int RegisterCount => Template.Length;

    public override string ToString() => $"{Name} ({Code.Length} instructions, {RegisterCount} register slots)";
}

/// <summary>A PTX module: its entries by name.</summary>
internal sealed class PtxModule(string name, IReadOnlyDictionary<string, PtxKernel> kernels)
{
    public string Name { get; } = name;
    public IReadOnlyDictionary<string, PtxKernel> Kernels { get; } = kernels;

    public PtxKernel this[string entry] => Kernels.TryGetValue(entry, out var k)
        ? k
        : throw new PtxException($"module '{Name}' has no entry '{entry}' (entries: {string.Join(", ", Kernels.Keys)})");
}

/// <summary>An error found while parsing or running PTX: unsupported syntax, a bad access, a divergent barrier.</summary>
public sealed class PtxException(string message) : Exception(message);
