using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Engine.Serialization;

/// <summary>One tensor of a PyTorch state_dict: its shape and its values converted to float32.</summary>
public sealed record TorchTensor(int[] Shape, float[] Values);

/// <summary>
/// Reads the tensors of a PyTorch state_dict saved by <c>torch.save</c> (the zip format of PyTorch 1.6+:
/// NAME/data.pkl plus one raw little-endian entry NAME/data/KEY per storage) with a restricted unpickler: it
/// knows only the opcodes a tensor state_dict uses and the globals collections.OrderedDict,
/// torch._utils._rebuild_tensor_v2 and torch.{Float,Half,Long}Storage, and rejects anything else by name. It
/// never executes code: globals are matched against that list as strings, never resolved.
/// Nested dictionaries are flattened with dotted names; values that are not tensors (numbers, strings) are skipped.
/// </summary>
public static class TorchPickle
{
    private const int MaxStackDepth = 1 << 16, MaxMemo = 1 << 20;

    private static readonly Dictionary<string, (int Size, Func<ReadOnlyMemory<byte>, int, float> Read)> Storages = new()
    {
        ["torch.FloatStorage"] = (4, (b, i) => BinaryPrimitives.ReadSingleLittleEndian(b.Span.Slice(i * 4, 4))),
        ["torch.HalfStorage"] = (2, (b, i) => (float)BinaryPrimitives.ReadHalfLittleEndian(b.Span.Slice(i * 2, 2))),
        ["torch.LongStorage"] = (8, (b, i) => BinaryPrimitives.ReadInt64LittleEndian(b.Span.Slice(i * 8, 8))),
    };

    private const string OrderedDictGlobal = "collections.OrderedDict", RebuildTensorGlobal = "torch._utils._rebuild_tensor_v2";

    private sealed record Global(string Name);
    private sealed record Storage(string Type, string Key, long Count);
    private sealed record TensorView(Storage Storage, long Offset, long[] Size, long[] Stride);
    private sealed class Dict { public readonly List<(object? Key, object? Value)> Items = []; }
    private sealed class Mark { public static readonly Mark Instance = new(); }

    public static IReadOnlyDictionary<string, TorchTensor> Load(string path)
    {
        using var stream = File.OpenRead(path);
        return Load(stream, path);
    }

    public static IReadOnlyDictionary<string, TorchTensor> Load(Stream stream, string source = "state_dict")
    {
        ZipArchive zip;
        try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"torch: '{source}' is not a zip archive (the format torch.save writes since PyTorch 1.6; legacy files are not supported): {e.Message}", e);
        }
        using (zip)
        {
            var pickle = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
                ?? throw new InvalidDataException($"torch: '{source}' has no data.pkl entry");
            string prefix = pickle.FullName[..^"data.pkl".Length];
            var root = Unpickle(ReadEntry(pickle, source), source);
            var result = new Dictionary<string, TorchTensor>();
            Flatten(root, "", result, zip, prefix, source);
            return result;
        }
    }

    /// <summary>
    /// The entry's bytes, read in chunks: the size the archive declares is checked against what actually comes, so
    /// a corrupt size cannot make us allocate more than the data present.
    /// </summary>
    private static byte[] ReadEntry(ZipArchiveEntry entry, string source)
    {
        if (entry.Length > Array.MaxLength) throw new InvalidDataException($"torch: entry '{entry.FullName}' of '{source}' is too large ({entry.Length} bytes)");
        using var data = new MemoryStream();
        var chunk = new byte[1 << 16];
        using (var s = entry.Open())
        {
            while (data.Length < entry.Length)
            {
                int n = s.Read(chunk, 0, (int)Math.Min(chunk.Length, entry.Length - data.Length));
                if (n == 0) throw new InvalidDataException($"torch: entry '{entry.FullName}' of '{source}' is truncated ({data.Length} of {entry.Length} bytes)");
                data.Write(chunk, 0, n);
            }
        }
        return data.ToArray();
    }

    private static void Flatten(object? value, string name, Dictionary<string, TorchTensor> result, ZipArchive zip, string prefix, string source)
    {
        switch (value)
        {
            case Dict d:
                foreach (var (key, item) in d.Items)
                {
                    if (key is not string k) throw new InvalidDataException($"torch: '{source}' has a non-string key {key ?? "None"} in '{name}'");
                    Flatten(item, name.Length == 0 ? k : $"{name}.{k}", result, zip, prefix, source);
                }
                break;
            case TensorView t:
                result[name] = Materialize(t, zip, prefix, name, source);
                break;
        }
    }

    /// <summary>Element (i_0..i_k) of the tensor is storage[offset + sum i_j * stride_j].</summary>
    private static TorchTensor Materialize(TensorView t, ZipArchive zip, string prefix, string name, string source)
    {
        var (size, read) = Storages[t.Storage.Type];
        var entry = zip.GetEntry($"{prefix}data/{t.Storage.Key}")
            ?? throw new InvalidDataException($"torch: tensor '{name}' refers to storage '{t.Storage.Key}', which '{source}' does not contain");
        if (t.Storage.Count < 0 || t.Storage.Count > Array.MaxLength || entry.Length < t.Storage.Count * size)
            throw new InvalidDataException($"torch: storage '{t.Storage.Key}' of '{source}' should hold {t.Storage.Count} elements of {size} bytes, the entry has {entry.Length} bytes");
        long count = 1;
        foreach (var d in t.Size)
        {
            if (d < 0 || d > int.MaxValue)
                throw new InvalidDataException($"torch: tensor '{name}' has a size outside [0, {int.MaxValue}] ({string.Join(',', t.Size)})");
            // Saturates instead of overflowing; anything above the storage is refused just below.
            count = count > int.MaxValue ? count : count * d;
        }
        if (t.Size.Contains(0)) count = 0;
        if (t.Size.Length != t.Stride.Length)
            throw new InvalidDataException($"torch: tensor '{name}' has size ({string.Join(',', t.Size)}) and stride ({string.Join(',', t.Stride)})");
        // A tensor never has more elements than its storage (broadcast views are not state), which bounds memory by the file.
        if (count > t.Storage.Count)
            throw new InvalidDataException($"torch: tensor '{name}' of size ({string.Join(',', t.Size)}) has {count} elements, more than its storage '{t.Storage.Key}' holds ({t.Storage.Count})");
        var data = new ReadOnlyMemory<byte>(ReadEntry(entry, source));
        if (data.Length < t.Storage.Count * size)
            throw new InvalidDataException($"torch: storage '{t.Storage.Key}' of '{source}' should hold {t.Storage.Count} elements of {size} bytes, its data has {data.Length} bytes");
        var values = new float[count];
        var index = new long[t.Size.Length];
        for (long i = 0; i < count; i++)
        {
            long at = t.Offset;
            for (int a = 0; a < index.Length; a++) at += index[a] * t.Stride[a];
            if (at < 0 || at >= t.Storage.Count)
                throw new InvalidDataException($"torch: tensor '{name}' reads element {at} of storage '{t.Storage.Key}', which has {t.Storage.Count}");
            values[i] = read(data, (int)at);
            for (int a = index.Length - 1; a >= 0; a--)
            {
                if (++index[a] < t.Size[a]) break;
                index[a] = 0;
            }
        }
        return new TorchTensor(t.Size.Select(d => (int)d).ToArray(), values);
    }

    /// <summary>Runs the restricted pickle machine over <paramref name="bytes"/> and returns the unpickled root.</summary>
    private static object? Unpickle(byte[] bytes, string source)
    {
        var reader = new PickleReader(bytes, source);
        var stack = new List<object?>();
        var memo = new Dictionary<long, object?>();
        while (true)
        {
            int at = reader.Position;
            byte op = reader.Byte();
            switch (op)
            {
                case 0x80: reader.Byte(); break; // PROTO
                case 0x95: reader.Bytes(8); break; // FRAME
                case 0x2e: return stack.Count == 1 ? stack[0] : throw reader.Error($"STOP with {stack.Count} values on the stack");
                case 0x7d: stack.Add(new Dict()); break; // EMPTY_DICT
                case 0x5d: stack.Add(new List<object?>()); break; // EMPTY_LIST
                case 0x29: stack.Add(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case 0x28: stack.Add(Mark.Instance); break; // MARK
                case 0x4e: stack.Add(null); break; // NONE
                case 0x88: stack.Add(true); break; // NEWTRUE
                case 0x89: stack.Add(false); break; // NEWFALSE
                case 0x4b: stack.Add((long)reader.Byte()); break; // BININT1
                case 0x4d: stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(reader.Bytes(2))); break; // BININT2
                case 0x4a: stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(reader.Bytes(4))); break; // BININT
                case 0x8a: stack.Add(reader.Long1()); break; // LONG1
                case 0x47: stack.Add(BinaryPrimitives.ReadDoubleBigEndian(reader.Bytes(8))); break; // BINFLOAT
                case 0x58: stack.Add(reader.Text(BinaryPrimitives.ReadUInt32LittleEndian(reader.Bytes(4)))); break; // BINUNICODE
                case 0x8c: stack.Add(reader.Text(reader.Byte())); break; // SHORT_BINUNICODE
                case 0x71: Memo(memo, reader.Byte(), Top(stack, reader), reader); break; // BINPUT
                case 0x72: Memo(memo, BinaryPrimitives.ReadUInt32LittleEndian(reader.Bytes(4)), Top(stack, reader), reader); break; // LONG_BINPUT
                case 0x94: Memo(memo, memo.Count, Top(stack, reader), reader); break; // MEMOIZE
                case 0x68: stack.Add(Recall(memo, reader.Byte(), reader)); break; // BINGET
                case 0x6a: stack.Add(Recall(memo, BinaryPrimitives.ReadUInt32LittleEndian(reader.Bytes(4)), reader)); break; // LONG_BINGET
                case 0x63: stack.Add(Allow($"{reader.Line()}.{reader.Line()}", reader)); break; // GLOBAL
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop(stack, reader) as string;
                    var module = Pop(stack, reader) as string;
                    if (name is null || module is null) throw reader.Error("STACK_GLOBAL without two strings");
                    stack.Add(Allow($"{module}.{name}", reader));
                    break;
                }
                case 0x74: stack.Add(PopToMark(stack, reader).ToArray()); break; // TUPLE
                case 0x85: stack.Add(new[] { Pop(stack, reader) }); break; // TUPLE1
                case 0x86: { var b = Pop(stack, reader); var a = Pop(stack, reader); stack.Add(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(stack, reader); var b = Pop(stack, reader); var a = Pop(stack, reader); stack.Add(new[] { a, b, c }); break; } // TUPLE3
                case 0x51: stack.Add(PersistentStorage(Pop(stack, reader), reader)); break; // BINPERSID
                case 0x52: { var args = Pop(stack, reader); var f = Pop(stack, reader); stack.Add(Reduce(f, args, reader)); break; } // REDUCE
                case 0x62: // BUILD: only an OrderedDict's attribute state (state_dict._metadata), which is dropped
                {
                    var state = Pop(stack, reader);
                    if (Top(stack, reader) is not Dict || state is not (null or Dict))
                        throw reader.Error("BUILD on something other than an OrderedDict");
                    break;
                }
                case 0x73: { var v = Pop(stack, reader); var k = Pop(stack, reader); AsDict(Top(stack, reader), reader).Items.Add((k, v)); break; } // SETITEM
                case 0x75: // SETITEMS
                {
                    var items = PopToMark(stack, reader);
                    if (items.Count % 2 != 0) throw reader.Error("SETITEMS with an odd number of values");
                    var d = AsDict(Top(stack, reader), reader);
                    for (int i = 0; i < items.Count; i += 2) d.Items.Add((items[i], items[i + 1]));
                    break;
                }
                case 0x61: { var v = Pop(stack, reader); AsList(Top(stack, reader), reader).Add(v); break; } // APPEND
                case 0x65: { var items = PopToMark(stack, reader); AsList(Top(stack, reader), reader).AddRange(items); break; } // APPENDS
                default:
                    throw new InvalidDataException($"torch: '{source}' uses pickle opcode 0x{op:x2} at byte {at}, which a tensor state_dict does not need; refusing to load it");
            }
            if (stack.Count > MaxStackDepth) throw reader.Error($"the stack grew beyond {MaxStackDepth} values");
        }
    }

    private static Global Allow(string name, PickleReader reader) =>
        name is OrderedDictGlobal or RebuildTensorGlobal || Storages.ContainsKey(name) ? new Global(name)
            : throw reader.Error($"global '{name}' is not allowed (only {OrderedDictGlobal}, {RebuildTensorGlobal} and {string.Join(", ", Storages.Keys)}); refusing to load it");

    /// <summary>A storage reference ('storage', storage type, key, location, element count).</summary>
    private static Storage PersistentStorage(object? id, PickleReader reader)
    {
        if (id is not object?[] { Length: 5 } t || t[0] as string != "storage" || t[1] is not Global g || !Storages.ContainsKey(g.Name) ||
            t[2] is not string key || t[4] is not long count)
            throw reader.Error("a persistent id that is not ('storage', torch.*Storage, key, location, count)");
        return new Storage(g.Name, key, count);
    }

    private static object Reduce(object? callable, object? args, PickleReader reader)
    {
        if (callable is not Global g || args is not object?[] a) throw reader.Error("REDUCE without a global and an argument tuple");
        if (g.Name == OrderedDictGlobal && a.Length == 0) return new Dict();
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (g.Name == RebuildTensorGlobal && a.Length >= 6 && a[0] is Storage s && a[1] is long offset && a[2] is object?[] size && a[3] is object?[] stride)
            return new TensorView(s, offset, Longs(size, reader), Longs(stride, reader));
        throw reader.Error($"a call of {g.Name} with arguments it does not take in a state_dict");
    }

    private static long[] Longs(object?[] values, PickleReader reader) =>
        values.Select(v => v as long? ?? throw reader.Error("a tensor size or stride that is not an integer")).ToArray();

    private static Dict AsDict(object? o, PickleReader reader) => o as Dict ?? throw reader.Error("SETITEM(S) on something other than a dict");
    private static List<object?> AsList(object? o, PickleReader reader) => o as List<object?> ?? throw reader.Error("APPEND(S) on something other than a list");

    private static void Memo(Dictionary<long, object?> memo, long key, object? value, PickleReader reader)
    {
        if (memo.Count >= MaxMemo) throw reader.Error($"more than {MaxMemo} memo entries");
        memo[key] = value;
    }

    private static object? Recall(Dictionary<long, object?> memo, long key, PickleReader reader) =>
        memo.TryGetValue(key, out var v) ? v : throw reader.Error($"memo entry {key} read before it was written");

    private static object? Top(List<object?> stack, PickleReader reader) =>
        stack.Count > 0 && stack[^1] is not Mark ? stack[^1] : throw reader.Error("stack underflow");

    private static object? Pop(List<object?> stack, PickleReader reader)
    {
        var v = Top(stack, reader);
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private static List<object?> PopToMark(List<object?> stack, PickleReader reader)
    {
        int mark = stack.FindLastIndex(v => v is Mark);
        if (mark < 0) throw reader.Error("no MARK on the stack");
        var items = stack.GetRange(mark + 1, stack.Count - mark - 1);
        stack.RemoveRange(mark, stack.Count - mark);
        return items;
    }

    /// <summary>Bounds-checked reads over the pickle bytes.</summary>
    private sealed class PickleReader(byte[] bytes, string source)
    {
        public int Position { get; private set; }

        public InvalidDataException Error(string what) => new($"torch: '{source}' data.pkl at byte {Position}: {what}");

        public ReadOnlySpan<byte> Bytes(long count)
        {
            if (count < 0 || count > bytes.Length - Position) throw Error($"expected {count} more bytes, the pickle ends after {bytes.Length - Position}");
            var span = bytes.AsSpan(Position, (int)count);
            Position += (int)count;
            return span;
        }

        public byte Byte() => Bytes(1)[0];

        public string Text(long length) => Encoding.UTF8.GetString(Bytes(length));

        public string Line()
        {
            int end = Array.IndexOf(bytes, (byte)'\n', Position);
            if (end < 0) throw Error("a GLOBAL name without its newline");
            return Text(end - Position + 1).TrimEnd('\n');
        }

        /// <summary>LONG1: n bytes of little-endian two's complement.</summary>
        public long Long1()
        {
            int n = Byte();
            if (n > 8) throw Error($"an integer of {n} bytes");
            var b = Bytes(n);
            long v = 0;
            for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
            if (n is > 0 and < 8 && (b[n - 1] & 0x80) != 0) v -= 1L << (8 * n);
            return v;
        }
    }
}
