using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Engine.Serialization;
using NUnit.Framework;

namespace Engine.Tests.Serialization;

/// <summary>
/// The restricted unpickler against files torch.save wrote (scripts/onnx-torch-fixtures.sh, skipped when absent)
/// and against hand-made pickles that must be refused by name.
/// </summary>
public class TorchPickleTests
{
    private static readonly string Fixtures = Path.Combine(Path.GetTempPath(), "engine-torch-fixtures");

    private static string Fixture(string name)
    {
        string path = Path.Combine(Fixtures, name);
        if (!File.Exists(path)) Assert.Ignore($"{path} is missing; run scripts/onnx-torch-fixtures.sh (needs Debian's python3-torch)");
        return path;
    }

    [Test]
    public void LoadsEveryTensorAsPyTorchSavedIt()
    {
        var loaded = TorchPickle.Load(Fixture("state.pt"));
        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("state.json")));
        var expectedNames = json.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.That(loaded.Keys, Is.EquivalentTo(expectedNames));
        foreach (var p in json.RootElement.EnumerateObject())
        {
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var values = p.Value.GetProperty("values").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
            Assert.That(loaded[p.Name].Shape, Is.EqualTo(shape), p.Name);
            Assert.That(loaded[p.Name].Values, Is.EqualTo(values), p.Name);
        }
    }

    [Test]
    public void NestedDictionariesFlattenToDottedNames()
    {
        var loaded = TorchPickle.Load(Fixture("nested.pt"));
        Assert.That(loaded.Keys, Has.All.StartWith("model."));
        Assert.That(loaded.Keys, Does.Contain("model.0.weight").And.Contain("model.1.num_batches_tracked"));
    }

    [Test]
    public void ObjectsThatWouldRunCodeAreRefusedByName()
    {
        var e = Assert.Throws<InvalidDataException>(() => TorchPickle.Load(Fixture("evil.pt")))!;
        Assert.That(e.Message, Does.Contain("system'").And.Contain("not allowed"));
        Assert.That(File.Exists(Path.Combine(Fixtures, "pwned")), Is.False);
    }

    [Test]
    public void TruncatedFilesGiveAClearError()
    {
        var bytes = File.ReadAllBytes(Fixture("state.pt"));
        for (int cut = 0; cut < bytes.Length; cut += 61)
        {
            using var stream = new MemoryStream(bytes[..cut]);
            Assert.Throws<InvalidDataException>(() => TorchPickle.Load(stream), $"cut at {cut}");
        }
    }

    private static MemoryStream Archive(byte[] pickle)
    {
        var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var s = zip.CreateEntry("archive/data.pkl").Open();
            s.Write(pickle);
        }
        stream.Position = 0;
        return stream;
    }

    private static byte[] Pickle(string text) => Encoding.Latin1.GetBytes(text);

    private static IEnumerable<TestCaseData> HandMadePickles()
    {
        yield return new TestCaseData("\u0080\u0002cbuiltins\neval\nq\u0000X\u0004\u0000\u0000\u00001+1q\u0001\u0085R.", "global 'builtins.eval' is not allowed").SetName("EvalIsRefused");
        yield return new TestCaseData("\u0080\u0002ctorch\nload\n.", "global 'torch.load' is not allowed").SetName("TorchLoadIsRefused");
        yield return new TestCaseData("\u0080\u0002}q\u0000(X\u0001\u0000\u0000\u0000ai\u0001\u0000\u0000\u0000u.", "opcode 0x69").SetName("InstOpcodeIsRefused");
        yield return new TestCaseData("\u0080\u0002ccollections\nOrderedDict\n)R}b.", "").SetName("EmptyOrderedDictLoads");
        yield return new TestCaseData("\u0080\u0002}q\u0000X\u0001\u0000\u0000\u0000a", "expected 1 more bytes").SetName("MissingStopIsAnError");
        yield return new TestCaseData("\u0080\u0002h\u0005.", "memo entry 5 read before it was written").SetName("UnwrittenMemoIsAnError");
    }

    [TestCaseSource(nameof(HandMadePickles))]
    public void HandMadePicklesAreRefusedOrLoaded(string pickle, string message)
    {
        using var stream = Archive(Pickle(pickle));
        if (message.Length == 0)
        {
            Assert.That(TorchPickle.Load(stream), Is.Empty);
            return;
        }
        var e = Assert.Throws<InvalidDataException>(() => TorchPickle.Load(stream))!;
        Assert.That(e.Message, Does.Contain(message));
    }
}
