using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Engine.Serialization;

/// <summary>A named tensor's contents on the host: its shape and float32 values (row-major).</summary>
public readonly record struct HostTensor(Shape Shape, float[] Values);

/// <summary>The contents of a safetensors file: tensors in file order, and the "__metadata__" string map.</summary>
public sealed record SafeTensorsContent(
    IReadOnlyList<KeyValuePair<string, HostTensor>> Tensors,
    IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>The tensors by name.</summary>
    public Dictionary<string, HostTensor> ToDictionary() => Tensors.ToDictionary(t => t.Key, t => t.Value);
}

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length H, a UTF-8 JSON header of H bytes
/// (padded with spaces to a multiple of 8), then the raw little-endian data of every tensor, back to back.
/// The header maps each name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data
/// start) and may hold "__metadata__", a map of strings.
/// <para>Writes are atomic (a temporary file in the same directory, renamed into place). Reads validate the
/// whole layout before allocating tensors, so memory is bounded by the file's size, and any fault is an
/// <see cref="InvalidDataException"/> naming the file and the problem.</para>
/// Saved tensors are F32; F32, F16, BF16 and F64 tensors load (converted to float32).
/// </summary>
public static class SafeTensors
{
    /// <summary>The header's reserved key for the string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Bytes of the little-endian header length that starts the file.</summary>
    public const int PrefixBytes = 8;

    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const int HeaderAlignment = 8;

    // ---- writing ----

    /// <summary>Writes <paramref name="tensors"/> (in the given order) and <paramref name="metadata"/> to
    /// <paramref name="path"/> atomically.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, HostTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        CheckNames(list);
        var full = System.IO.Path.GetFullPath(path);
        var directory = System.IO.Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"safetensors file '{path}': directory '{directory}' does not exist");
        var temporary = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Write(file, list, metadata);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>The file's bytes for <paramref name="tensors"/> and <paramref name="metadata"/>.</summary>
    public static byte[] Serialize(IEnumerable<KeyValuePair<string, HostTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        CheckNames(list);
        using var stream = new MemoryStream();
        Write(stream, list, metadata);
        return stream.ToArray();
    }

    /// <summary>Writes the length prefix, the padded header, then every tensor's float32 values in order.</summary>
    private static void Write(Stream stream, List<KeyValuePair<string, HostTensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var header = WriteHeader(tensors, metadata);
        Span<byte> prefix = stackalloc byte[PrefixBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        foreach (var (_, tensor) in tensors) WriteLittleEndian(tensor.Values, stream);
    }

    private static void CheckNames(List<KeyValuePair<string, HostTensor>> tensors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("safetensors: expected non-empty tensor names, got an empty one");
            if (name == MetadataKey) throw new ArgumentException($"safetensors: '{MetadataKey}' is reserved and cannot name a tensor");
            if (!seen.Add(name)) throw new ArgumentException($"safetensors: tensor name '{name}' appears twice");
            if (tensor.Values is null || tensor.Values.Length != tensor.Shape.Size)
                throw new ArgumentException($"safetensors: tensor '{name}' has shape {tensor.Shape} ({tensor.Shape.Size} values), got {tensor.Values?.Length ?? 0} values");
        }
    }

    /// <summary>The JSON header, padded with spaces so the data starts 8-byte aligned.</summary>
    private static byte[] WriteHeader(List<KeyValuePair<string, HostTensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in tensors)
            {
                long end = offset + (long)tensor.Values.Length * sizeof(float);
                json.WriteStartObject(name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                for (int axis = 0; axis < tensor.Shape.Rank; axis++) json.WriteNumberValue(tensor.Shape[axis]);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + HeaderAlignment - 1) / HeaderAlignment * HeaderAlignment;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void WriteLittleEndian(float[] values, Stream stream)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
            return;
        }
        Span<byte> element = stackalloc byte[sizeof(float)];
        foreach (float value in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(element, value);
            stream.Write(element);
        }
    }

    // ---- reading ----

    /// <summary>Reads and validates a safetensors file.</summary>
    public static SafeTensorsContent Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file '{path}' does not exist", path);
        try
        {
            using var file = File.OpenRead(path);
            return Read(file, path);
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new InvalidDataException($"safetensors file '{path}': could not be read ({e.Message})", e);
        }
    }

    /// <summary>Validates and decodes a whole file held in memory; <paramref name="name"/> names it in errors.</summary>
    public static SafeTensorsContent Parse(ReadOnlySpan<byte> bytes, string name)
    {
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        return Read(stream, name);
    }

    /// <summary>Reads a safetensors file from a seekable stream of known length.</summary>
    public static SafeTensorsContent Read(Stream stream, string name)
    {
        long fileBytes = stream.Length - stream.Position;
        if (fileBytes < PrefixBytes)
            throw Invalid(name, $"truncated: expected at least {PrefixBytes} bytes for the header length, found {fileBytes}");
        Span<byte> prefix = stackalloc byte[PrefixBytes];
        stream.ReadExactly(prefix);
        ulong headerBytes = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerBytes > (ulong)(fileBytes - PrefixBytes))
            throw Invalid(name, $"the header length is {headerBytes} bytes but only {fileBytes - PrefixBytes} bytes follow it");
        if (headerBytes > MaxHeaderBytes)
            throw Invalid(name, $"the header length is {headerBytes} bytes; at most {MaxHeaderBytes} are accepted");
        var header = new byte[headerBytes];
        stream.ReadExactly(header);
        long dataBytes = fileBytes - PrefixBytes - (long)headerBytes;
        var entries = SafeTensorsHeader.Parse(header, dataBytes, name, out var metadata);

        var tensors = new List<KeyValuePair<string, HostTensor>>(entries.Count);
        long dataStart = stream.Position;
        foreach (var entry in entries)
        {
            stream.Position = dataStart + entry.Begin;
            tensors.Add(new(entry.Name, new HostTensor(entry.Shape, entry.DType.Read(stream, entry.End - entry.Begin))));
        }
        return new SafeTensorsContent(tensors, metadata);
    }

    internal static InvalidDataException Invalid(string name, string problem) => new($"safetensors file '{name}': {problem}");
}
