using System.Buffers.Binary;
using System.Text;
using Engine.Serialization;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using NUnit.Framework;

namespace Engine.Tests.Serialization;

[TestFixture]
public sealed class SafeTensorsTests
{
    private const string Name = "bad.safetensors";

    // ---- round trips ----

    /// <summary>Up to 5 tensors of rank 0..4 (sizes 0..5), values drawn as raw bit patterns (NaN payloads, -0, subnormals).</summary>
    private static Gen<List<KeyValuePair<string, HostTensor>>> TensorSets =>
        from count in Gen.Choose(0, 5)
        from shapes in Gen.ListOf(Gen.Choose(0, 4).SelectMany(rank => Gen.ArrayOf(Gen.Choose(0, 5), rank)), count)
        from seed in Gen.Choose(0, int.MaxValue - 1)
        select shapes.Select((dims, i) => new KeyValuePair<string, HostTensor>($"layer{i}.weight", RandomBits(new Shape(dims), seed + i))).ToList();

    private static HostTensor RandomBits(Shape shape, int seed)
    {
        var random = new Random(seed);
        var values = new float[shape.Size];
        for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(random.Next(int.MinValue, int.MaxValue));
        return new HostTensor(shape, values);
    }

    private static void Check<T>(Gen<T> gen, Action<T> body, int runs = 60)
    {
        var config = Config.QuickThrowOnFailure.WithMaxTest(runs).WithQuietOnSuccess(true)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(20261122UL), FSharpOption<int>.None)));
        Prop.ForAll(gen.ToArbitrary(), body).Check(config);
    }

    private static void AssertSameBits(IReadOnlyList<KeyValuePair<string, HostTensor>> expected, IReadOnlyList<KeyValuePair<string, HostTensor>> actual)
    {
        Assert.That(actual.Select(t => t.Key), Is.EqualTo(expected.Select(t => t.Key)), "names in file order");
        for (int i = 0; i < expected.Count; i++)
        {
            var (name, tensor) = expected[i];
            Assert.That(actual[i].Value.Shape, Is.EqualTo(tensor.Shape), $"shape of '{name}'");
            var wantBits = tensor.Values.Select(BitConverter.SingleToInt32Bits);
            var gotBits = actual[i].Value.Values.Select(BitConverter.SingleToInt32Bits);
            Assert.That(gotBits, Is.EqualTo(wantBits), $"bits of '{name}'");
        }
    }

    [Test]
    public void RoundTripIsBitExactForAnyShapesAndValues() => Check(TensorSets, tensors =>
    {
        var metadata = new Dictionary<string, string> { ["model"] = "lenet5", ["note"] = "ünïcödé \"quoted\"\n" };
        var bytes = SafeTensors.Serialize(tensors, metadata);
        var back = SafeTensors.Parse(bytes, "round-trip");
        AssertSameBits(tensors, back.Tensors);
        Assert.That(back.Metadata, Is.EqualTo(metadata));
    });

    [Test]
    public void LayoutFollowsTheFormat() => Check(TensorSets, tensors =>
    {
        var bytes = SafeTensors.Serialize(tensors);
        ulong header = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        long values = tensors.Sum(t => (long)t.Value.Values.Length);
        Assert.That(header % 8, Is.Zero, "the data starts 8-byte aligned");
        Assert.That(bytes.Length, Is.EqualTo(SafeTensors.PrefixBytes + (long)header + values * sizeof(float)), "prefix + header + 4 bytes per value");
        Assert.That(bytes[SafeTensors.PrefixBytes], Is.EqualTo((byte)'{'), "the header is a JSON object");
        var data = bytes.AsSpan(SafeTensors.PrefixBytes + (int)header);
        var first = tensors.FirstOrDefault(t => t.Value.Values.Length > 0);
        if (first.Key is not null)
        {
            int offset = tensors.TakeWhile(t => t.Key != first.Key).Sum(t => t.Value.Values.Length) * sizeof(float);
            Assert.That(BinaryPrimitives.ReadInt32LittleEndian(data[offset..]), Is.EqualTo(BitConverter.SingleToInt32Bits(first.Value.Values[0])), "raw little-endian float32");
        }
    });

    [Test]
    public void SaveWritesAtomicallyAndLeavesNoTemporaryFile()
    {
        var directory = Directory.CreateTempSubdirectory("engine-st-");
        try
        {
            var path = Path.Combine(directory.FullName, "model.safetensors");
            var first = new List<KeyValuePair<string, HostTensor>> { new("a", RandomBits(new Shape(2, 3), 1)) };
            var second = new List<KeyValuePair<string, HostTensor>> { new("b", RandomBits(new Shape(4), 2)) };
            SafeTensors.Save(path, first);
            SafeTensors.Save(path, second);
            AssertSameBits(second, SafeTensors.Load(path).Tensors);
            // A save that fails (a duplicate name) leaves the previous file as it was.
            Assert.Throws<ArgumentException>(() => SafeTensors.Save(path, [.. second, .. second]));
            AssertSameBits(second, SafeTensors.Load(path).Tensors);
            Assert.That(directory.GetFiles().Select(f => f.Name), Is.EqualTo(new[] { "model.safetensors" }), "no temporary file remains");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Test]
    public void HalfBFloatAndDoubleLoadAsFloat32()
    {
        float[] expected = [1.5f, -2.25f, 0f, 1024f];
        var data = new List<byte>();
        foreach (var v in expected) data.AddRange(BitConverter.GetBytes((Half)v));
        foreach (var v in expected) data.AddRange(BitConverter.GetBytes((ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)));
        foreach (var v in expected) data.AddRange(BitConverter.GetBytes((double)v));
        var bytes = Craft("""{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]},"d":{"dtype":"F64","shape":[4],"data_offsets":[16,48]}}""", data.ToArray());
        var loaded = SafeTensors.Parse(bytes, "mixed").ToDictionary();
        Assert.That(loaded["h"].Values, Is.EqualTo(expected));
        Assert.That(loaded["b"].Values, Is.EqualTo(expected), "these values have exact bfloat16 forms");
        Assert.That(loaded["b"].Shape, Is.EqualTo(new Shape(2, 2)));
        Assert.That(loaded["d"].Values, Is.EqualTo(expected));
    }

    // ---- malformed files: always InvalidDataException naming the file and the problem ----

    private static byte[] Craft(string header, byte[] data, ulong? declaredHeaderBytes = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[SafeTensors.PrefixBytes + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderBytes ?? (ulong)json.Length);
        json.CopyTo(bytes, SafeTensors.PrefixBytes);
        data.CopyTo(bytes, SafeTensors.PrefixBytes + json.Length);
        return bytes;
    }

    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{shape}],\"data_offsets\":[{begin},{end}]}}";

    private static void AssertRejected(byte[] bytes, string problem)
    {
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Parse(bytes, Name))!;
        Assert.That(e.Message, Does.Contain($"'{Name}'"), "the message names the file");
        Assert.That(e.Message, Does.Contain(problem).IgnoreCase, "the message names the problem");
    }

    public static IEnumerable<TestCaseData> MalformedHeaders()
    {
        TestCaseData Case(string description, string header, int dataBytes, string problem) =>
            new TestCaseData(header, dataBytes, problem).SetName($"Rejects {description}");
        string a = Entry("a", "F32", "2", 0, 8);
        yield return Case("JSON that is not well-formed", "{\"a\":{\"dtype\":", 8, "JSON");
        yield return Case("garbage", "not json at all", 0, "JSON");
        yield return Case("a header that is an array", "[1,2]", 0, "JSON object");
        yield return Case("trailing garbage", "{" + a + "} x", 8, "JSON");
        yield return Case("a trailing comma", "{" + a + ",}", 8, "JSON");
        yield return Case("an unknown dtype", "{" + Entry("a", "Q7", "2", 0, 8) + "}", 8, "unknown dtype 'Q7'");
        yield return Case("an integer dtype", "{" + Entry("a", "I64", "1", 0, 8) + "}", 8, "dtype I64 is not supported");
        yield return Case("a missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing dtype");
        yield return Case("a missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing shape");
        yield return Case("missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing data_offsets");
        yield return Case("an unexpected field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unexpected field 'x'");
        yield return Case("a repeated field", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "appears twice");
        yield return Case("a repeated tensor", "{" + a + "," + a + "}", 8, "tensor 'a' appears twice");
        yield return Case("a shape product that disagrees with the byte range", "{" + Entry("a", "F32", "3", 0, 8) + "}", 8, "needs 12 bytes");
        yield return Case("a shape too large to allocate", "{" + Entry("a", "F32", "2147483647,2147483647", 0, 8) + "}", 8, "needs");
        yield return Case("a dimension above int range", "{" + Entry("a", "F32", "4294967296", 0, 8) + "}", 8, "dimension 0");
        yield return Case("a negative dimension", "{" + Entry("a", "F32", "-2", 0, 8) + "}", 8, "non-negative integers");
        yield return Case("a fractional dimension", "{" + Entry("a", "F32", "2.5", 0, 8) + "}", 8, "non-negative integers");
        yield return Case("a rank above the engine's limit", "{" + Entry("a", "F32", "1,1,1,1,1,1,2", 0, 8) + "}", 8, "rank 7");
        yield return Case("offsets past the data", "{" + Entry("a", "F32", "4", 0, 16) + "}", 8, "outside the 8 data bytes");
        yield return Case("reversed offsets", "{" + Entry("a", "F32", "0", 8, 0) + "}", 8, "reversed");
        yield return Case("three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, "[begin, end]");
        yield return Case("overlapping tensors", "{" + Entry("a", "F32", "2", 0, 8) + "," + Entry("b", "F32", "2", 4, 12) + "}", 12, "overlaps");
        yield return Case("a hole between tensors", "{" + Entry("a", "F32", "1", 0, 4) + "," + Entry("b", "F32", "1", 8, 12) + "}", 12, "hole of 4 bytes");
        yield return Case("data not starting at zero", "{" + Entry("a", "F32", "1", 4, 8) + "}", 8, "hole");
        yield return Case("bytes after the last tensor", "{" + a + "}", 12, "cover 8 data bytes but the file has 12");
        yield return Case("metadata that is not a string map", "{\"__metadata__\":{\"epochs\":5}," + a + "}", 8, "metadata 'epochs' must be a string");
        yield return Case("metadata that is not an object", "{\"__metadata__\":[]," + a + "}", 8, "__metadata__");
        yield return Case("a tensor entry that is not an object", "{\"a\":3}", 0, "tensor 'a' to be an object");
    }

    [TestCaseSource(nameof(MalformedHeaders))]
    public void MalformedHeader(string header, int dataBytes, string problem) => AssertRejected(Craft(header, new byte[dataBytes]), problem);

    [Test]
    public void RejectsAFileShorterThanTheLengthPrefix() => AssertRejected([1, 2, 3], "at least 8 bytes");

    [Test]
    public void RejectsAHeaderLengthBeyondTheFile() => AssertRejected(Craft("{}", [], declaredHeaderBytes: 3), "only 2 bytes follow");

    [Test]
    public void RejectsAHugeHeaderLengthWithoutAllocatingIt() => AssertRejected(Craft("{}", [], declaredHeaderBytes: ulong.MaxValue), "only 2 bytes follow");

    [Test]
    public void RejectsInvalidUtf8InTheHeader()
    {
        var bytes = Craft("{\"a?\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
        bytes[SafeTensors.PrefixBytes + 3] = 0xff;
        AssertRejected(bytes, "header");
    }

    [Test]
    public void EveryTruncationIsRejected()
    {
        var bytes = SafeTensors.Serialize([new("w", RandomBits(new Shape(3, 2), 7)), new("b", RandomBits(new Shape(3), 8))], new Dictionary<string, string> { ["k"] = "v" });
        for (int length = 0; length < bytes.Length; length++)
            Assert.Throws<InvalidDataException>(() => SafeTensors.Parse(bytes.AsSpan(0, length), Name), $"truncated to {length} of {bytes.Length} bytes");
    }

    [Test]
    public void CorruptHeaderBytesLoadOrFailCleanly() => Check(Gen.Choose(0, int.MaxValue - 1), seed =>
    {
        // Any single-byte change in the header either still describes a valid file or is an InvalidDataException.
        var bytes = SafeTensors.Serialize([new("w", RandomBits(new Shape(3, 2), 7)), new("b", RandomBits(new Shape(3), 8))]);
        var random = new Random(seed);
        int headerBytes = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        for (int flips = random.Next(1, 4); flips > 0; flips--)
            bytes[SafeTensors.PrefixBytes + random.Next(headerBytes)] = (byte)random.Next(256);
        try
        {
            var content = SafeTensors.Parse(bytes, Name);
            Assert.That(content.Tensors.Sum(t => t.Value.Values.Length * 4), Is.LessThanOrEqualTo(bytes.Length), "what loads fits in the file");
        }
        catch (InvalidDataException e)
        {
            Assert.That(e.Message, Does.StartWith($"safetensors file '{Name}': "));
        }
    }, runs: 300);

    [Test]
    public void MissingFileIsReportedByName()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.safetensors");
        var e = Assert.Throws<FileNotFoundException>(() => SafeTensors.Load(path))!;
        Assert.That(e.Message, Does.Contain(path));
    }
}
