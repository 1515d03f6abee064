using Engine.Cpu;
using Engine.Onnx;
using Engine.Onnx.Proto;
using Google.Protobuf;
using NUnit.Framework;
using DataType = Engine.Onnx.Proto.TensorProto.Types.DataType;

namespace Engine.Tests.Onnx;

/// <summary>Models built here with the ONNX protobuf classes: import agrees with the same Engine ops, trains, and fails clearly.</summary>
public class OnnxImportTests
{
    private static readonly CpuBackend Backend = new(1);

    private static TensorProto Floats(string name, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        return t;
    }

    private static TensorProto Longs(string name, long[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        return t;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static byte[] Model(int opset, NodeProto[] nodes, TensorProto[] initializers, string input = "x", string output = "y")
    {
        var g = new GraphProto { Name = "test" };
        g.Node.AddRange(nodes);
        g.Initializer.AddRange(initializers);
        g.Input.Add(new ValueInfoProto { Name = input });
        g.Output.Add(new ValueInfoProto { Name = output });
        var m = new ModelProto { IrVersion = 8, Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return m.ToByteArray();
    }

    private static float[] Random(Random rng, int count) => Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    /// <summary>
    /// Conv (asymmetric pads) -> Relu -> Shape/Gather/Unsqueeze/Concat/Reshape (PyTorch's flatten export) -> Gemm
    /// (transB), as the same Engine ops.
    /// </summary>
    private static (byte[] Model, float[] W, float[] B, float[] Fc, float[] FcBias) SmallNet(Random rng)
    {
        var w = Random(rng, 4 * 2 * 3 * 3);
        var b = Random(rng, 4);
        var fc = Random(rng, 3 * 4 * 5 * 5);
        var fcBias = Random(rng, 3);
        var nodes = new[]
        {
            Node("Conv", "conv", ["x", "w", "b"], ["c"], Ints("pads", 1, 0, 0, 1), Ints("kernel_shape", 3, 3)),
            Node("Relu", "relu", ["c"], ["r"]),
            Node("Shape", "shape", ["r"], ["s"]),
            Node("Gather", "batch", ["s", "zero"], ["n"], Int("axis", 0)),
            Node("Unsqueeze", "n1", ["n", "axes"], ["n_1"]),
            Node("Concat", "target", ["n_1", "minus_one"], ["t"], Int("axis", 0)),
            Node("Reshape", "flatten", ["r", "t"], ["f"]),
            Node("Gemm", "fc", ["f", "fc.weight", "fc.bias"], ["y"], Int("transB", 1)),
        };
        var inits = new[]
        {
            Floats("w", w, 4, 2, 3, 3), Floats("b", b, 4), Floats("fc.weight", fc, 3, 100), Floats("fc.bias", fcBias, 3),
            Longs("zero", [0]), Longs("axes", [0], 1), Longs("minus_one", [-1], 1),
        };
        return (Model(13, nodes, inits), w, b, fc, fcBias);
    }

    [Test]
    public void ImportedGraphAgreesWithTheSameEngineOps()
    {
        var rng = new Random(1);
        var (bytes, w, b, fc, fcBias) = SmallNet(rng);
        var model = OnnxModel.Load(bytes);
        var xs = Random(rng, 2 * 2 * 6 * 6);
        using var scope = Scope.Begin();
        var x = Tensor.FromArray(Backend, xs, new Shape(2, 2, 6, 6));
        var actual = model.Forward(x).ToArray();
        var conv = Ops.Conv2d(x, Tensor.FromArray(Backend, w, new Shape(4, 2, 3, 3)), Tensor.FromArray(Backend, b, new Shape(4)), 1, new Padding2d(1, 0, 0, 1), 1);
        var flat = Ops.Reshape(Ops.Relu(conv), new Shape(2, 100));
        var expected = Ops.Linear(flat, Tensor.FromArray(Backend, fc, new Shape(3, 100)), Tensor.FromArray(Backend, fcBias, new Shape(3))).ToArray();
        Assert.That(actual, Is.EqualTo(expected).Within(1e-6f));
        Assert.That(model.NamedParameters().Select(p => p.Name), Is.EquivalentTo(new[] { "w", "b", "fc.weight", "fc.bias" }));
    }

    [Test]
    public void ImportedWeightsReceiveGradientsForFineTuning()
    {
        var (bytes, _, _, _, _) = SmallNet(new Random(2));
        var model = OnnxModel.Load(bytes);
        using var scope = Scope.Begin();
        var x = Tensor.FromArray(Backend, Random(new Random(3), 2 * 2 * 6 * 6), new Shape(2, 2, 6, 6));
        var loss = Ops.Sum(Ops.Square(model.Forward(x)));
        loss.Backward();
        foreach (var (name, p) in model.NamedParameters())
            Assert.That(p.Grad!.ToArray().Any(v => v != 0f), Is.True, $"parameter '{name}' got no gradient");
    }

    [Test]
    public void UnsupportedOperatorsAreNamedAllAtOnce()
    {
        var bytes = Model(13, [Node("Relu", "ok", ["x"], ["a"]), Node("Foo", "first", ["a"], ["b"]), Node("Bar", "second", ["b"], ["y"])], []);
        var e = Assert.Throws<NotSupportedException>(() => OnnxModel.Load(bytes))!;
        Assert.That(e.Message, Does.Contain("'first' (Foo)").And.Contain("'second' (Bar)").And.Not.Contain("'ok'"));
    }

    [Test]
    public void OpsetsOutsideTheSupportedRangeAreRejected()
    {
        var bytes = Model(18, [Node("Relu", "r", ["x"], ["y"])], []);
        var e = Assert.Throws<NotSupportedException>(() => OnnxModel.Load(bytes))!;
        Assert.That(e.Message, Does.Contain("opset 18"));
    }

    [Test]
    public void CorruptFilesGiveAClearError()
    {
        var (bytes, _, _, _, _) = SmallNet(new Random(4));
        for (int cut = 1; cut < bytes.Length; cut += 97)
        {
            var truncated = bytes[..cut];
            try
            {
                OnnxModel.Load(truncated);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
                Assert.That(e.Message, Does.StartWith("ONNX:"));
            }
        }
        Assert.Throws<InvalidDataException>(() => OnnxModel.Load([0xff, 0xff, 0xff, 0xff, 0x0f]));
    }

    [Test]
    public void InitializerWithWrongPayloadSizeIsRejected()
    {
        var bytes = Model(13, [Node("Add", "add", ["x", "w"], ["y"])], [Floats("w", [1f, 2f, 3f], 2, 2)]);
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Load(bytes))!;
        Assert.That(e.Message, Does.Contain("'w'").And.Contain("needs 4 values, got 3"));
    }
}
