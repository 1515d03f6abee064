using Engine.Onnx.Proto;
using Google.Protobuf;
using DataType = Engine.Onnx.Proto.TensorProto.Types.DataType;

namespace Engine.Tests.Onnx;

/// <summary>
/// Typical CNN graphs written with the ONNX protobuf classes, with random weights: a LeNet-style one (flattened
/// by PyTorch's Shape/Gather/Unsqueeze/Concat/Reshape export of x.view(x.size(0), -1)) and a ResNet-style one
/// (Conv without bias + BatchNormalization, residual Add, a strided block with a 1x1 projection, a Concat of two
/// branches, GlobalAveragePool, Flatten, Dropout, Gemm).
/// </summary>
internal sealed class OnnxTestGraphs
{
    private readonly List<NodeProto> _nodes = [];
    private readonly List<TensorProto> _initializers = [];
    private readonly Random _rng;

    private OnnxTestGraphs(int seed) => _rng = new Random(seed);

    /// <summary>The LeNet-style graph: input (N, 1, 28, 28), output (N, 10).</summary>
    public static byte[] LeNet(int seed = 1)
    {
        var g = new OnnxTestGraphs(seed);
        g.Conv("conv1", "x", "c1", 6, 1, 5, pads: 2);
        g.Node("Relu", "relu1", ["c1"], ["r1"]);
        g.Node("MaxPool", "pool1", ["r1"], ["p1"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
        g.Conv("conv2", "p1", "c2", 16, 6, 5);
        g.Node("Relu", "relu2", ["c2"], ["r2"]);
        g.Node("MaxPool", "pool2", ["r2"], ["p2"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
        g.Longs("zero", [0]);
        g.Longs("axes", [0], 1);
        g.Longs("minus_one", [-1], 1);
        g.Node("Shape", "shape", ["p2"], ["s"]);
        g.Node("Gather", "batch", ["s", "zero"], ["n"], Int("axis", 0));
        g.Node("Unsqueeze", "n1", ["n", "axes"], ["n_1"]);
        g.Node("Concat", "target", ["n_1", "minus_one"], ["t"], Int("axis", 0));
        g.Node("Reshape", "flatten", ["p2", "t"], ["f"]);
        g.Gemm("fc1", "f", "h1", 120, 400);
        g.Node("Relu", "relu3", ["h1"], ["a1"]);
        g.Gemm("fc2", "a1", "h2", 84, 120);
        g.Node("Relu", "relu4", ["h2"], ["a2"]);
        g.Gemm("fc3", "a2", "y", 10, 84);
        return g.Model();
    }

    /// <summary>The ResNet-style graph: input (N, 3, 16, 16), output (N, 10).</summary>
    public static byte[] ResNet(int seed = 2)
    {
        var g = new OnnxTestGraphs(seed);
        g.ConvBn("stem", "x", "stem", 8, 3, 3, pads: 1);
        g.Node("Relu", "stem.relu", ["stem"], ["stem.r"]);
        g.Node("MaxPool", "stem.pool", ["stem.r"], ["s0"], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1));
        // Block 1: x + bn(conv(relu(bn(conv(x))))).
        g.ConvBn("b1.conv1", "s0", "b1.c1", 8, 8, 3, pads: 1);
        g.Node("Relu", "b1.relu1", ["b1.c1"], ["b1.r1"]);
        g.ConvBn("b1.conv2", "b1.r1", "b1.c2", 8, 8, 3, pads: 1);
        g.Node("Add", "b1.add", ["b1.c2", "s0"], ["b1.sum"]);
        g.Node("Relu", "b1.relu2", ["b1.sum"], ["s1"]);
        // Block 2: stride 2, 16 channels, a 1x1 projection on the skip path.
        g.ConvBn("b2.conv1", "s1", "b2.c1", 16, 8, 3, pads: 1, stride: 2);
        g.Node("Relu", "b2.relu1", ["b2.c1"], ["b2.r1"]);
        g.ConvBn("b2.conv2", "b2.r1", "b2.c2", 16, 16, 3, pads: 1);
        g.ConvBn("b2.down", "s1", "b2.skip", 16, 8, 1, stride: 2);
        g.Node("Add", "b2.add", ["b2.c2", "b2.skip"], ["b2.sum"]);
        g.Node("Relu", "b2.relu2", ["b2.sum"], ["s2"]);
        // Two branches joined along the channels: a 1x1 convolution and a 3x3 one padded SAME_UPPER.
        g.Conv("branch1", "s2", "br1", 8, 16, 1);
        g.Conv("branch3", "s2", "br3", 8, 16, 3, autoPad: "SAME_UPPER");
        g.Node("Concat", "join", ["br1", "br3"], ["s3"], Int("axis", 1));
        g.Node("GlobalAveragePool", "gap", ["s3"], ["gap"]);
        g.Node("Flatten", "flat", ["gap"], ["flat"], Int("axis", 1));
        g.Node("Dropout", "drop", ["flat"], ["drop"]);
        g.Gemm("fc", "drop", "y", 10, 16);
        return g.Model();
    }

    /// <summary>
    /// Shapes that depend on data: x (6) reshaped to the float input s (2) cast to int64, then Shape of the result is
    /// the output (a Shape op whose answer differs between calls with the same input shapes).
    /// </summary>
    public static byte[] DataShapedReshape()
    {
        var g = new OnnxTestGraphs(3);
        g.Node("Cast", "cast", ["s"], ["si"], Int("to", (long)DataType.Int64));
        g.Node("Reshape", "reshape", ["x", "si"], ["r"]);
        g.Node("Shape", "shape", ["r"], ["y"]);
        return g.Model("x", "s");
    }

    private void Node(string op, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        _nodes.Add(n);
    }

    private void Conv(string name, string input, string output, int outChannels, int inChannels, int kernel,
        int pads = 0, int stride = 1, string? autoPad = null, bool bias = true)
    {
        Floats($"{name}.weight", Random(outChannels * inChannels * kernel * kernel, 1.0 / Math.Sqrt(inChannels * kernel * kernel)),
            outChannels, inChannels, kernel, kernel);
        if (bias) Floats($"{name}.bias", Random(outChannels, 0.1), outChannels);
        var attributes = new List<AttributeProto> { Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride) };
        attributes.Add(autoPad is null ? Ints("pads", pads, pads, pads, pads) : String("auto_pad", autoPad));
        string[] inputs = bias ? [input, $"{name}.weight", $"{name}.bias"] : [input, $"{name}.weight"];
        Node("Conv", name, inputs, [output], [.. attributes]);
    }

    /// <summary>Conv without bias followed by BatchNormalization with random running statistics.</summary>
    private void ConvBn(string name, string input, string output, int outChannels, int inChannels, int kernel, int pads = 0, int stride = 1)
    {
        Conv(name, input, $"{name}.conv", outChannels, inChannels, kernel, pads, stride, bias: false);
        string bn = $"{name}.bn";
        Floats($"{bn}.weight", Random(outChannels, 0.5).Select(v => v + 1f).ToArray(), outChannels);
        Floats($"{bn}.bias", Random(outChannels, 0.2), outChannels);
        Floats($"{bn}.running_mean", Random(outChannels, 0.2), outChannels);
        Floats($"{bn}.running_var", Random(outChannels, 0.4).Select(v => v + 1f).ToArray(), outChannels);
        Node("BatchNormalization", bn, [$"{name}.conv", $"{bn}.weight", $"{bn}.bias", $"{bn}.running_mean", $"{bn}.running_var"], [output],
            new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = 1e-5f });
    }

    private void Gemm(string name, string input, string output, int outFeatures, int inFeatures)
    {
        Floats($"{name}.weight", Random(outFeatures * inFeatures, 1.0 / Math.Sqrt(inFeatures)), outFeatures, inFeatures);
        Floats($"{name}.bias", Random(outFeatures, 0.1), outFeatures);
        Node("Gemm", name, [input, $"{name}.weight", $"{name}.bias"], [output], Int("transB", 1));
    }

    private float[] Random(int count, double scale) =>
        Enumerable.Range(0, count).Select(_ => (float)((_rng.NextDouble() * 2 - 1) * scale)).ToArray();

    private void Floats(string name, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        _initializers.Add(t);
    }

    private void Longs(string name, long[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        _initializers.Add(t);
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    private byte[] Model(params string[] inputs)
    {
        var graph = new GraphProto { Name = "test" };
        graph.Node.AddRange(_nodes);
        graph.Initializer.AddRange(_initializers);
        foreach (var input in inputs.Length > 0 ? inputs : ["x"]) graph.Input.Add(new ValueInfoProto { Name = input });
        graph.Output.Add(new ValueInfoProto { Name = "y" });
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model.ToByteArray();
    }
}
