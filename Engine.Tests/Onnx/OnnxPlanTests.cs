using System.Runtime.CompilerServices;
using Engine.Cpu;
using Engine.Onnx;
using NUnit.Framework;

namespace Engine.Tests.Onnx;

/// <summary>
/// The compiled plan of a loaded ONNX graph gives bitwise the interpreter's results: on CNN graphs built here, with
/// new input shapes after the shape arithmetic was remembered for others, and on every listed conformance case.
/// </summary>
public class OnnxPlanTests
{
    private const string DataRoot = "/usr/share/libonnx-testdata/data";

    public static IEnumerable<TestCaseData> Graphs()
    {
        yield return new TestCaseData("lenet", new Shape(2, 1, 28, 28), new Shape(3, 1, 28, 28));
        yield return new TestCaseData("resnet", new Shape(2, 3, 16, 16), new Shape(1, 3, 32, 32));
    }

    public static OnnxModel Load(string name) => OnnxModel.Load(name == "lenet" ? OnnxTestGraphs.LeNet() : OnnxTestGraphs.ResNet(), name);

    [TestCaseSource(nameof(Graphs))]
    public void CompiledGraphAgreesWithTheInterpreterBitwise(string name, Shape first, Shape second)
    {
        using var backend = new CpuBackend(2);
        var model = Load(name);
        Assert.That(model.IsCompiled, Is.True, $"{name} runs as a compiled plan");
        model.Eval();
        // first, second, then first again: the shape arithmetic remembered for one input shape must not leak into another.
        foreach (var shape in new[] { first, second, first })
        {
            using var scope = Scope.Begin();
            var x = Tensor.FromArray(backend, new Generator((ulong)shape.Size).Uniform(shape.Size, -1f, 1f), shape);
            var compiled = model.Evaluate([OnnxValue.Of(x)], backend).Single().Device!;
            var interpreted = model.Interpret([OnnxValue.Of(x)], backend).Single().Device!;
            Assert.That(compiled.Shape, Is.EqualTo(interpreted.Shape));
            Assert.That(compiled.ToArray(), Is.EqualTo(interpreted.ToArray()), $"{name} on {shape}");
            Assert.That(model.Forward(x).ToArray(), Is.EqualTo(interpreted.ToArray()), $"{name} on {shape} through Forward");
        }
    }

    /// <summary>
    /// Shape arithmetic is remembered per input shape only while shapes follow from input shapes: after a Reshape to a
    /// shape read from the data (a Cast of a backend input, run by the interpreter's code) a Shape op is computed anew.
    /// </summary>
    [Test]
    public void ShapesThatDependOnDataAreNotRemembered()
    {
        using var backend = new CpuBackend(1);
        var model = OnnxModel.Load(OnnxTestGraphs.DataShapedReshape(), "data-shaped");
        Assert.That(model.IsCompiled, Is.True);
        using var scope = Scope.Begin();
        var x = Tensor.FromArray(backend, [1f, 2f, 3f, 4f, 5f, 6f], new Shape(6));
        foreach (var target in new[] { new[] { 2f, 3f }, [3f, 2f], [6f, 1f] })
        {
            var s = Tensor.FromArray(backend, target, new Shape(2));
            var shape = model.Evaluate([OnnxValue.Of(x), OnnxValue.Of(s)], backend).Single().Host!;
            Assert.That(shape.Data, Is.EqualTo(target.Select(v => (double)v)), $"Shape after a reshape to ({string.Join(',', target)})");
        }
    }

    /// <summary>The input shape of the torch exports of scripts/onnx-torch-fixtures.sh (batch 2; their batch axis is dynamic).</summary>
    public static Shape TorchInputShape(string name, int batch = 2) =>
        name == "lenet_view" ? new Shape(batch, 1, 28, 28) : new Shape(batch, 3, 64, 64);

    /// <summary>The path of a torch export, or the test is skipped naming the script that writes it.</summary>
    public static string TorchExport(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), "engine-torch-fixtures", name + ".onnx");
        if (!File.Exists(path)) Assert.Ignore($"{path} is missing; run scripts/onnx-torch-fixtures.sh (needs Debian's python3-torch)");
        return path;
    }

    /// <summary>Graphs as PyTorch exports them compile, agree bitwise with the interpreter and with torch within ONNX's tolerances.</summary>
    [TestCase("lenet_view")]
    [TestCase("resnet18")]
    [TestCase("squeezenet1_1")]
    public void TorchExportsCompileAndAgreeWithTorchAndTheInterpreter(string name)
    {
        var path = TorchExport(name);
        using var backend = new CpuBackend(2);
        var model = OnnxModel.Load(path);
        model.Eval();
        Assert.That(model.IsCompiled, Is.True, $"{name} runs as a compiled plan");
        var shape = TorchInputShape(name);
        var input = ReadFloats(Path.ChangeExtension(path, ".input.bin"));
        var expected = ReadFloats(Path.ChangeExtension(path, ".output.bin"));
        using var scope = Scope.Begin();
        using var noGrad = Autograd.NoGrad();
        var x = Tensor.FromArray(backend, input, shape);
        var compiled = model.Evaluate([OnnxValue.Of(x)], backend)[0].Device!.ToArray();
        var interpreted = model.Interpret([OnnxValue.Of(x)], backend)[0].Device!.ToArray();
        Assert.That(compiled, Is.EqualTo(interpreted), "plan and interpreter bitwise");
        Assert.That(compiled.Length, Is.EqualTo(expected.Length));
        for (int i = 0; i < expected.Length; i++)
            Assert.That(compiled[i], Is.EqualTo(expected[i]).Within(1e-4f + 1e-3f * MathF.Abs(expected[i])), $"{name} output {i} against torch");
    }

    private static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / sizeof(float)];
        for (int i = 0; i < values.Length; i++) values[i] = BitConverter.ToSingle(bytes, i * sizeof(float));
        return values;
    }

    /// <summary>Gradients through the plan equal those through the interpreter (two loads of the same file).</summary>
    [Test]
    public void GradientsThroughThePlanEqualTheInterpretersBitwise()
    {
        using var backend = new CpuBackend(1);
        var compiled = Load("resnet");
        var interpreted = Load("resnet");
        using var scope = Scope.Begin();
        var x = Tensor.FromArray(backend, new Generator(7).Uniform(2 * 3 * 16 * 16, -1f, 1f), new Shape(2, 3, 16, 16));
        foreach (var model in new[] { compiled, interpreted })
        {
            // Eval: Dropout off (its mask is random); the gradients still flow through every operator.
            model.Eval();
            var y = model == compiled ? model.Evaluate([OnnxValue.Of(x)], backend) : model.Interpret([OnnxValue.Of(x)], backend);
            Ops.Sum(Ops.Square(y[0].Device!)).Backward();
        }
        var expected = interpreted.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Grad!.ToArray());
        foreach (var (name, p) in compiled.NamedParameters())
            Assert.That(p.Grad!.ToArray(), Is.EqualTo(expected[name]), $"gradient of '{name}'");
    }

    [Test]
    public void EveryListedConformanceCaseAgreesWithTheInterpreterBitwise()
    {
        if (!Directory.Exists(Path.Combine(DataRoot, "node")))
            Assert.Ignore($"libonnx-testdata is not installed ({DataRoot} is missing); run scripts/onnx-testdata.sh");
        var backend = new CpuBackend(2);
        var cases = File.ReadAllLines(CasesFile())
            .Where(l => l.StartsWith("run ", StringComparison.Ordinal)).Select(l => l[4..].Trim()).ToList();
        var mismatches = new List<string>();
        int compiled = 0;
        foreach (var name in cases)
        {
            string dir = Path.Combine(DataRoot, name);
            var model = OnnxModel.Load(Path.Combine(dir, "model.onnx"));
            model.Eval();
            if (!model.IsCompiled) continue;
            compiled++;
            foreach (var set in Directory.GetDirectories(dir, "test_data_set_*"))
            {
                var inputs = Enumerable.Range(0, int.MaxValue).Select(k => Path.Combine(set, $"input_{k}.pb")).TakeWhile(File.Exists)
                    .Select(OnnxTensors.ReadFile).ToList();
                using var scope = Scope.Begin();
                using var noGrad = Autograd.NoGrad();
                var values = inputs.Select(h => h.IsFloat ? OnnxValue.Of(h.ToTensor(backend)) : OnnxValue.Of(h)).ToList();
                string plan = Outcome(() => model.Evaluate(values, backend)), interpreter = Outcome(() => model.Interpret(values, backend));
                if (plan != interpreter) mismatches.Add($"{name}/{Path.GetFileName(set)}: plan {plan}, interpreter {interpreter}");
            }
        }
        TestContext.Out.WriteLine($"{compiled} of {cases.Count} cases compiled");
        Assert.That(compiled, Is.GreaterThan(cases.Count / 2), "most cases compile");
        Assert.That(mismatches, Is.Empty);
    }

    private static string CasesFile([CallerFilePath] string source = "") => Path.Combine(Path.GetDirectoryName(source)!, "cases.txt");

    /// <summary>The outputs' kinds, shapes and values (bit patterns), or the exception's type and message.</summary>
    private static string Outcome(Func<OnnxValue[]> run)
    {
        try
        {
            return string.Join(" | ", run().Select(v => v.Device is { } t
                ? $"device {t.Shape}: {string.Join(',', t.ToArray().Select(BitConverter.SingleToInt32Bits))}"
                : $"host {v.Host}: {string.Join(',', v.Host!.Data.Select(BitConverter.DoubleToInt64Bits))}"));
        }
        catch (Exception e) { return $"{e.GetType().Name}: {e.Message}"; }
    }
}
