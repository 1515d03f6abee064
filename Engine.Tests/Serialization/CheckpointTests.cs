using Engine.Models;
using Engine.Nn;
using Engine.Serialization;
using NUnit.Framework;

namespace Engine.Tests.Serialization;

[TestFixture]
public sealed class CheckpointTests
{
    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("engine-ckpt-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    [Test]
    public void SavedStateLoadsIntoAFreshModelExactly()
    {
        var saved = new LeNet5(generator: new Generator(1));
        var path = PathOf("lenet5.safetensors");
        Checkpoint.Save(path, saved, new CheckpointInfo("lenet5", 10, 1), new Dictionary<string, string> { ["data"] = "mnist-10k" });

        var checkpoint = Checkpoint.Load(path);
        Assert.That(checkpoint.Info, Is.EqualTo(new CheckpointInfo("lenet5", 10, 1)));
        Assert.That(checkpoint.Content.Metadata["data"], Is.EqualTo("mnist-10k"));
        var fresh = new LeNet5(generator: new Generator(2));
        Assert.That(fresh.StateDict()["features.0.weight"], Is.Not.EqualTo(saved.StateDict()["features.0.weight"]), "different seeds start apart");
        checkpoint.LoadInto(fresh);
        var expected = saved.StateDict();
        foreach (var (name, values) in fresh.StateDict())
            Assert.That(values, Is.EqualTo(expected[name]), name);
        Assert.That(checkpoint.Content.Tensors.Select(t => t.Key), Is.EqualTo(saved.NamedState().Select(s => s.Name)), "file order is the model's order");
    }

    [Test]
    public void AShapeMismatchNamesTheTensorAndBothShapes()
    {
        var path = PathOf("rgb.safetensors");
        Checkpoint.Save(path, new LeNet5(inChannels: 3), new CheckpointInfo("lenet5", 10, 3));
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path).LoadInto(new LeNet5(inChannels: 1)))!;
        Assert.That(e.Message, Does.Contain("'features.0.weight' has shape (6,3,5,5)").And.Contain("expects (6,1,5,5)").And.Contain(path));
    }

    [Test]
    public void MissingAndUnexpectedNamesAreListed()
    {
        var path = PathOf("other.safetensors");
        Checkpoint.Save(path, new Sequential(new Linear(4, 2)), new CheckpointInfo("tiny", 2, 1));
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path).LoadInto(new LeNet5()))!;
        Assert.That(e.Message, Does.Contain("missing [features.0.weight").And.Contain("unexpected [0.weight, 0.bias]"));
    }

    [TestCase("model", "")]
    [TestCase("num_classes", "ten")]
    [TestCase("in_channels", "0")]
    [TestCase("in_channels", null)]
    public void BadMetadataIsInvalidData(string key, string? value)
    {
        var metadata = new CheckpointInfo("lenet5", 10, 1).ToMetadata();
        if (value is null) metadata.Remove(key);
        else metadata[key] = value;
        var path = PathOf("meta.safetensors");
        SafeTensors.Save(path, [new("w", new HostTensor(new Shape(1), [1f]))], metadata);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path))!;
        Assert.That(e.Message, Does.Contain(key).And.Contain(path));
    }
}
