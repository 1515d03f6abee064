using System.Text;
using Engine.Onnx.Proto;

namespace Engine.Onnx;

/// <summary>A value flowing through the graph: a tensor on the backend, or a host value (shapes, indices, constants).</summary>
internal sealed class OnnxValue
{
    private OnnxValue(Tensor? device, HostTensor? host)
    {
        Device = device;
        Host = host;
    }

    public Tensor? Device { get; }
    public HostTensor? Host { get; }

    public static OnnxValue Of(Tensor t) => new(t, null);
    public static OnnxValue Of(HostTensor h) => new(null, h);

    public int[] Dims => Device?.Shape.ToArray() ?? Host!.Dims;
    public int Rank => Device?.Rank ?? Host!.Rank;
}

/// <summary>One node while it runs: its attributes, its inputs (resolved), and where its outputs go.</summary>
internal sealed class OnnxNode(NodeProto proto, int opset, OnnxValue?[] inputs, IBackend? backend)
{
    public NodeProto Proto { get; } = proto;
    public int Opset { get; } = opset;
    public string Op => Proto.OpType;
    public string Where => $"{Proto.OpType} '{Proto.Name}'";

    /// <summary>The model's training mode (Dropout is active only in training).</summary>
    public bool Training { get; init; }
    public OnnxModel Model { get; init; } = null!;
    /// <summary>The values in scope, which If branches read and extend.</summary>
    public Dictionary<string, OnnxValue> Values { get; init; } = null!;

    public int InputCount => inputs.Length;
    public bool HasInput(int i) => i < inputs.Length && inputs[i] is not null;

    public OnnxValue Input(int i) => HasInput(i) ? inputs[i]!
        : throw new InvalidDataException($"ONNX: {Where} expects input {i}, which is missing");

    /// <summary>True when every given input is known on the host (so the node can be folded).</summary>
    public bool AllHost => inputs.All(v => v is null || v.Host is not null);

    public IBackend? MaybeBackend => backend;

    public IBackend Backend => backend ?? throw new InvalidOperationException($"ONNX: {Where} needs a backend");

    /// <summary>Input i as a backend tensor (host values are uploaded).</summary>
    public Tensor Tensor(int i)
    {
        var v = Input(i);
        return v.Device ?? v.Host!.ToTensor(Backend);
    }

    /// <summary>Input i on the host (backend tensors are downloaded; no gradient flows through them).</summary>
    public HostTensor Host(int i)
    {
        var v = Input(i);
        return v.Host ?? HostTensor.FromTensor(v.Device!);
    }

    private AttributeProto? Find(string name)
    {
        foreach (var a in Proto.Attribute) if (a.Name == name) return a;
        return null;
    }

    public bool Has(string name) => Find(name) is not null;

    public long Int(string name, long fallback) => Find(name) is { } a ? a.I : fallback;

    public float Float(string name, float fallback) => Find(name) is { } a ? a.F : fallback;

    public string String(string name, string fallback) => Find(name) is { } a ? Encoding.UTF8.GetString(a.S.Span) : fallback;

    public long[]? Ints(string name) => Find(name) is { } a ? a.Ints.ToArray() : null;

    public float[]? Floats(string name) => Find(name) is { } a ? a.Floats.ToArray() : null;

    public TensorProto? TensorAttribute(string name) => Find(name)?.T;

    public GraphProto Graph(string name) => Find(name)?.G ?? throw new InvalidDataException($"ONNX: {Where} has no graph attribute '{name}'");

    public AttributeProto? Attribute(string name) => Find(name);

    public NotSupportedException Unsupported(string what) => new($"ONNX: {Where}: {what} is not supported");

    /// <summary>Normalizes a possibly negative axis against <paramref name="rank"/>.</summary>
    public int Axis(long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new InvalidDataException($"ONNX: {Where}: axis {axis} is outside rank {rank}");
        return (int)a;
    }
}
