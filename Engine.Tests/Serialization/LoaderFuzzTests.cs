using System.IO.Compression;
using Engine.Data;
using Engine.Nn;
using Engine.Onnx;
using Engine.Optim;
using Engine.Serialization;
using Engine.Tests.Support;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;

namespace Engine.Tests.Serialization;

/// <summary>
/// Mutated and truncated files (byte flips, insertions, deletions, overwritten length fields, cuts) fed to every
/// loader: each load either succeeds with a consistent result or fails with the documented exception type
/// (<see cref="InvalidDataException"/>; for ONNX also <see cref="NotSupportedException"/> for valid files using
/// what the importer lacks), never another exception, a hang, or an allocation far beyond the file's size.
/// </summary>
[TestFixture]
public sealed class LoaderFuzzTests
{
    private const int Runs = 400;
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(20);

    /// <summary>One edit of a file's bytes; positions are fractions of the length so they fit any file.</summary>
    public sealed record Edit(int Kind, double Position, int Amount, byte[] Bytes)
    {
        public override string ToString() => $"{Kinds[Kind]} at {Position:F3} ({Amount}, [{string.Join(',', Bytes)}])";
    }

    private static readonly string[] Kinds = ["flip", "insert", "delete", "truncate", "overwrite", "prefix"];

    private static Gen<Edit> EditGen =>
        from kind in Gen.Choose(0, Kinds.Length - 1)
        from position in Gen.Choose(0, 1_000_000).Select(w => w / 1_000_000.0)
        from amount in Gen.Choose(1, 64)
        from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), 8)
        select new Edit(kind, position, amount, bytes);

    private static Gen<Edit[]> EditsGen => Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(EditGen, n));

    /// <summary>Applies the edits in order. "prefix" overwrites the first 8 bytes (length fields, magic numbers).</summary>
    public static byte[] Mutate(byte[] original, Edit[] edits)
    {
        var bytes = new List<byte>(original);
        foreach (var e in edits)
        {
            int at = (int)(e.Position * bytes.Count);
            switch (Kinds[e.Kind])
            {
                case "flip" when bytes.Count > 0:
                    at = Math.Min(at, bytes.Count - 1);
                    bytes[at] ^= (byte)(e.Bytes[0] | 1);
                    break;
                case "insert":
                    bytes.InsertRange(at, e.Bytes.Take(1 + e.Amount % e.Bytes.Length));
                    break;
                case "delete":
                    bytes.RemoveRange(at, Math.Min(e.Amount, bytes.Count - at));
                    break;
                case "truncate":
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case "overwrite":
                    for (int i = 0; i < e.Bytes.Length && at + i < bytes.Count; i++) bytes[at + i] = e.Bytes[i];
                    break;
                case "prefix":
                    for (int i = 0; i < e.Bytes.Length && i < bytes.Count; i++) bytes[i] = e.Bytes[i];
                    break;
            }
        }
        return bytes.ToArray();
    }

    /// <summary>Runs <paramref name="load"/> on its own thread; returns what it threw (null on success).</summary>
    private static Exception? LoadGuarded(Action load, long allocationLimit, string what)
    {
        Exception? thrown = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { load(); }
            catch (Exception e) { thrown = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, maxStackSize: 16 << 20);
        thread.Start();
        if (!thread.Join(HangLimit)) Assert.Fail($"{what}: the loader did not finish within {HangLimit.TotalSeconds} s");
        Assert.That(allocated, Is.LessThanOrEqualTo(allocationLimit), $"{what}: bytes allocated by the load");
        return thrown;
    }

    private static void Fuzz(string format, byte[] original, Action<byte[]> load, long allocationLimit, params Type[] documented)
    {
        Assert.That(LoadGuarded(() => load(original), allocationLimit, $"{format} unmodified"), Is.Null, "the unmodified file loads");
        Properties.Check(EditsGen, edits =>
        {
            var bytes = Mutate(original, edits);
            var thrown = LoadGuarded(() => load(bytes), allocationLimit, $"{format} after {string.Join("; ", edits.Select(e => e.ToString()))}");
            if (thrown is not null && !documented.Contains(thrown.GetType()))
                Assert.Fail($"{format} after {string.Join("; ", edits.Select(e => e.ToString()))}: {thrown.GetType().Name} (expected {string.Join(" or ", documented.Select(t => t.Name))}): {thrown}");
        }, Runs);
    }

    // ---- safetensors training checkpoints ----

    private static Module TinyModel() => new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2), new Flatten(1), new Linear(8, 3));

    /// <summary>A training checkpoint (weights, Adam state, scheduler, progress, generator) of a tiny model, as bytes.</summary>
    private static byte[] TrainingCheckpointBytes()
    {
        using var backend = new Engine.Cpu.CpuBackend(1);
        var model = TinyModel().To(backend);
        var adam = new Adam(model.Parameters());
        var scheduler = new StepLR(adam, 1);
        using (Scope.Begin())
        {
            var y = model.Forward(Tensor.Ones(backend, new Shape(2, 1, 4, 4)));
            Ops.Sum(y).Backward();
            adam.Step();
        }
        var path = Path.GetTempFileName();
        try
        {
            TrainingCheckpoint.Save(path, model, adam, scheduler, new TrainingProgress(1, 2), new CheckpointInfo("tiny", 3, 1));
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    }

    /// <summary>Parses, checks the tensors' consistency and restores into a fresh model, optimizer and scheduler.</summary>
    private static void LoadCheckpoint(byte[] bytes)
    {
        var content = SafeTensors.Parse(bytes, "fuzzed.safetensors");
        foreach (var (name, tensor) in content.Tensors)
            if (tensor.Values.Length != tensor.Shape.Size) Assert.Fail($"'{name}' loaded {tensor.Values.Length} values for shape {tensor.Shape}");
        var checkpoint = new LoadedCheckpoint("fuzzed.safetensors", CheckpointInfo.FromMetadata(content.Metadata, "fuzzed.safetensors"), content);
        if (!content.Metadata.ContainsKey("training.epoch")) return;
        using var backend = new Engine.Cpu.CpuBackend(1);
        var model = TinyModel().To(backend);
        var adam = new Adam(model.Parameters());
        new LoadedTrainingCheckpoint(checkpoint).Restore(model, adam, new StepLR(adam, 1), new Generator(0));
    }

    [Test]
    public void MutatedTrainingCheckpointsLoadOrFailClearly()
    {
        var original = TrainingCheckpointBytes();
        Fuzz("safetensors", original, LoadCheckpoint, 16L << 20, typeof(InvalidDataException));
    }

    // ---- IDX, raw and gzip ----

    private static byte[] IdxBytes()
    {
        var bytes = new List<byte> { 0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5 };
        bytes.AddRange(Enumerable.Range(0, 3 * 4 * 5).Select(i => (byte)(i * 7)));
        return bytes.ToArray();
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var stream = new MemoryStream();
        using (var gzip = new GZipStream(stream, CompressionLevel.Optimal)) gzip.Write(bytes);
        return stream.ToArray();
    }

    private static void LoadIdx(byte[] bytes)
    {
        var path = Path.Combine(Path.GetTempPath(), $"engine-fuzz-{Environment.CurrentManagedThreadId}-{Guid.NewGuid():N}.idx");
        File.WriteAllBytes(path, bytes);
        try
        {
            var idx = Idx.Read(path);
            long size = idx.Dimensions.Aggregate(1L, (a, d) => a * d);
            if (idx.Data.Length != size) Assert.Fail($"IDX loaded {idx.Data.Length} bytes for dimensions ({string.Join('x', idx.Dimensions)})");
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void MutatedIdxFilesLoadOrFailClearly() =>
        Fuzz("IDX", IdxBytes(), LoadIdx, 4L << 20, typeof(InvalidDataException));

    [Test]
    public void MutatedGzipIdxFilesLoadOrFailClearly() =>
        Fuzz("IDX.gz", Gzip(IdxBytes()), LoadIdx, 4L << 20, typeof(InvalidDataException));

    // ---- ONNX ----

    private const string OnnxTestData = "/usr/share/libonnx-testdata/data";

    [TestCase("node/test_conv_with_strides_padding")]
    [TestCase("node/test_reshape_negative_dim")]
    [TestCase("pytorch-converted/test_BatchNorm2d_eval")]
    public void MutatedOnnxModelsLoadOrFailClearly(string testCase)
    {
        var path = Path.Combine(OnnxTestData, testCase, "model.onnx");
        if (!File.Exists(path)) Assert.Ignore($"{path} is missing; install Debian's libonnx-testdata (scripts/onnx-testdata.sh)");
        Fuzz("ONNX", File.ReadAllBytes(path), bytes => OnnxModel.Load(bytes, "fuzzed.onnx"), 64L << 20, typeof(InvalidDataException), typeof(NotSupportedException));
    }

    // ---- PyTorch zip ----

    [Test]
    public void MutatedTorchFilesLoadOrFailClearly()
    {
        var path = Path.Combine(Path.GetTempPath(), "engine-torch-fixtures", "state.pt");
        if (!File.Exists(path)) Assert.Ignore($"{path} is missing; run scripts/onnx-torch-fixtures.sh (needs Debian's python3-torch)");
        Fuzz("torch", File.ReadAllBytes(path), bytes => TorchPickle.Load(new MemoryStream(bytes), "fuzzed.pt"), 64L << 20, typeof(InvalidDataException));
    }
}
