using System.Text.Json;
using Engine.Cpu;
using Engine.Models;
using Engine.Nn;
using Engine.Serialization;
using NUnit.Framework;

namespace Engine.Tests.Models;

/// <summary>ModelZoo.Create(..., weights:), fine-tuning starts and classifier-head replacement.</summary>
[TestFixture]
public sealed class PretrainedWeightsTests
{
    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("engine-weights-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    private string SaveWeights(string name, Module model)
    {
        var path = PathOf(name);
        SafeTensors.Save(path, model.NamedState().Select(s => new KeyValuePair<string, HostTensor>(s.Name, new HostTensor(s.Parameter.Shape, s.Parameter.ToArray()))));
        return path;
    }

    [Test]
    public void SafetensorsWeightsLoadExactly()
    {
        var source = ModelZoo.Create("resnet20", generator: new Generator(3));
        var path = SaveWeights("resnet20.safetensors", source);
        var loaded = ModelZoo.Create("resnet20", generator: new Generator(4), weights: path);
        var expected = source.StateDict();
        foreach (var (name, values) in loaded.StateDict()) Assert.That(values, Is.EqualTo(expected[name]), name);
    }

    [Test]
    public void TorchSavedWeightsLoadExactly()
    {
        var fixtures = Path.Combine(Path.GetTempPath(), "engine-torch-fixtures");
        var pth = Path.Combine(fixtures, "lenet5.pth");
        if (!File.Exists(pth)) Assert.Ignore($"{pth} is missing; run scripts/onnx-torch-fixtures.sh (needs Debian's python3-torch)");
        var model = ModelZoo.Create("lenet5", weights: pth);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "lenet5.json")));
        var state = model.StateDict();
        Assert.That(state.Keys, Is.EquivalentTo(json.RootElement.EnumerateObject().Select(p => p.Name)), "torch's names map one to one");
        foreach (var p in json.RootElement.EnumerateObject())
            Assert.That(state[p.Name], Is.EqualTo(p.Value.GetProperty("values").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray()), p.Name);
    }

    [Test]
    public void EveryMismatchIsListedAtOnce()
    {
        var other = new LeNet5(numClasses: 7, inChannels: 3);
        var state = other.NamedState()
            .Select(s => new KeyValuePair<string, HostTensor>(s.Name == "features.3.bias" ? "features.3.b" : s.Name, new HostTensor(s.Parameter.Shape, s.Parameter.ToArray())))
            .Where(t => t.Key != "classifier.2.bias");
        var path = PathOf("mismatch.safetensors");
        SafeTensors.Save(path, state);
        var target = ModelZoo.Create("lenet5");
        var before = target.StateDict();
        var e = Assert.Throws<InvalidDataException>(() => ModelZoo.Create("lenet5", weights: path))!;
        Assert.That(e.Message, Does.Contain(path)
            .And.Contain("missing [features.3.bias, classifier.2.bias]")
            .And.Contain("unexpected [features.3.b]")
            .And.Contain("'features.0.weight' has shape (6,3,5,5), the model expects (6,1,5,5)")
            .And.Contain("'classifier.4.weight' has shape (7,84), the model expects (10,84)")
            .And.Contain("'classifier.4.bias' has shape (7), the model expects (10)"));
        Assert.Throws<InvalidDataException>(() => StateLoading.LoadInto(target, StateDictFile.Load(path), "x"));
        foreach (var (name, values) in target.StateDict()) Assert.That(values, Is.EqualTo(before[name]), $"{name} unchanged after a failed load");
    }

    [Test]
    public void AMissingOrCorruptWeightsFileIsAClearError()
    {
        Assert.Throws<FileNotFoundException>(() => ModelZoo.Create("lenet5", weights: PathOf("absent.pth")));
        var path = PathOf("garbage.pt");
        File.WriteAllBytes(path, [(byte)'P', (byte)'K', 3, 4, 1, 2, 3]);
        var e = Assert.Throws<InvalidDataException>(() => ModelZoo.Create("lenet5", weights: path))!;
        Assert.That(e.Message, Does.Contain(path));
    }

    /// <summary>One model of every zoo class with a classifier (the other names differ from these in depth, width or batch norm only).</summary>
    private static readonly string[] Classifiers =
        ["lenet5", "lenet5_classic", "alexnet", "vgg11", "googlenet", "resnet18", "resnet50", "resnet20", "mobilenet_v2", "efficientnet_b0", "convnext_tiny"];

    private static int Hash(float[] values)
    {
        var hash = new HashCode();
        hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return hash.ToHashCode();
    }

    /// <summary>Only the head changes: it gets the new class count and fresh values; every other tensor is kept.</summary>
    [TestCaseSource(nameof(Classifiers))]
    public void ReplaceClassifierChangesOnlyTheHead(string name)
    {
        var entry = ModelZoo.Find(name);
        var model = ModelZoo.Create(name, 10, entry.DefaultChannels, new Generator(1));
        var before = model.NamedState().ToDictionary(s => s.Name, s => (s.Parameter.Shape, Values: Hash(s.Parameter.ToArray())));
        var head = ClassifierHead.Find(model);
        Assert.That(head.OutFeatures, Is.EqualTo(10), "the head found produces the logits");
        long parameters = model.ParameterCount();

        model.ReplaceClassifier(7, new Generator(9));
        var after = model.NamedState().ToDictionary(s => s.Name, s => (s.Parameter.Shape, Values: Hash(s.Parameter.ToArray())));
        Assert.That(after.Keys, Is.EqualTo(before.Keys), "same names in the same order");
        string weight = $"{head.Path}.weight", bias = $"{head.Path}.bias";
        Assert.That(after[weight].Shape, Is.EqualTo(new Shape(7, head.InFeatures)));
        Assert.That(after[bias].Shape, Is.EqualTo(new Shape(7)));
        Assert.That(model.ParameterCount(), Is.EqualTo(parameters - 3L * (head.InFeatures + 1)));
        foreach (var (key, (shape, values)) in after.Where(a => a.Key != weight && a.Key != bias))
            Assert.That(values, Is.EqualTo(before[key].Values), key);
    }

    [TestCase("lenet5", 28)]
    [TestCase("resnet20", 32)]
    [TestCase("mobilenet_v2", 32)]
    [TestCase("convnext_tiny", 32)]
    public void AReplacedHeadOnABackendPredictsTheNewClasses(string name, int size)
    {
        using var backend = new CpuBackend(2);
        var entry = ModelZoo.Find(name);
        var model = ModelZoo.Create(name, generator: new Generator(1)).To(backend).ReplaceClassifier(3);
        model.Eval();
        using var scope = Scope.Begin();
        using var noGrad = Autograd.NoGrad();
        var y = model.Forward(Tensor.Zeros(backend, new Shape(2, entry.DefaultChannels, size, size)));
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 3)));
        Assert.That(model.Parameters().All(t => ReferenceEquals(t.Backend, backend)), Is.True, "the new head is on the model's backend");
    }

    [Test]
    public void UNetHasNoClassifierHead()
    {
        var e = Assert.Throws<ArgumentException>(() => new UNet(2, 1, depth: 2, baseWidth: 8).ReplaceClassifier(3))!;
        Assert.That(e.Message, Does.Contain("no Linear classifier head"));
    }

    [Test]
    public void FineTuningKeepsTheBodyAndReplacesAnyHead()
    {
        var pretrained = ModelZoo.Create("resnet20", 100, generator: new Generator(5));
        var path = SaveWeights("resnet20-100.safetensors", pretrained);
        var tuned = ModelZoo.CreateForFineTuning("resnet20", path, 4, generator: new Generator(6));
        var expected = pretrained.StateDict();
        var state = tuned.StateDict();
        Assert.That(tuned.NamedState().Single(s => s.Name == "fc.weight").Parameter.Shape, Is.EqualTo(new Shape(4, 64)));
        foreach (var (name, values) in state.Where(s => !s.Key.StartsWith("fc.", StringComparison.Ordinal)))
            Assert.That(values, Is.EqualTo(expected[name]), name);
        Assert.Throws<InvalidDataException>(() => ModelZoo.CreateForFineTuning("resnet32", path, 4), "a body that does not match is still an error");
    }
}
