using Engine.Cpu;
using Engine.Inference;
using Engine.Nn;
using Engine.Onnx;
using Engine.Tests.Onnx;
using NUnit.Framework;

namespace Engine.Tests.Inference;

/// <summary>Temporary: bytes per predictor call through the old interpreter path (not committed).</summary>
public sealed class TmpBeforeAfter
{
    private sealed class OldPath(OnnxModel m) : Module
    {
        protected override Tensor ForwardCore(Tensor x)
        {
            foreach (var (_, p) in m.NamedState())
                if (!p.IsPlaced || !ReferenceEquals(p.Value.Backend, x.Backend)) { m.To(x.Backend); break; }
            var inputs = new[] { x };
            var outputs = m.Interpret(inputs.Select(OnnxValue.Of).ToArray(), x.Backend);
            return outputs.Select((o, i) => o.Device ?? o.Host!.ToTensor(x.Backend)).ToArray()[0];
        }
    }

    [Explicit]
    [TestCase("lenet", 1, 1)]
    [TestCase("lenet", 1, 2)]
    [TestCase("resnet", 2, 1)]
    [TestCase("resnet", 2, 2)]
    public void Measure(string graph, int batch, int threads)
    {
        using var backend = new CpuBackend(threads);
        var shape = graph == "lenet" ? new Shape(batch, 1, 28, 28) : new Shape(batch, 3, 16, 16);
        var model = OnnxPlanTests.Load(graph);
        model.To(backend);
        model.Eval();
        var before = new Predictor(new OldPath(model), backend, shape);
        var after = new Predictor(model, backend, shape);
        var input = new Generator(5).Uniform(shape.Size, 0f, 1f);
        var output = new float[before.OutputShape.Size];
        var b = PredictorAllocationTests.PerCall(backend, () => before.Predict(input, output));
        var a = PredictorAllocationTests.PerCall(backend, () => after.Predict(input, output));
        TestContext.Out.WriteLine($"{graph} batch {batch} threads {threads}: before {b}; after {a}");
    }
}
